"""What the models train on (chapters `registration` and `aftersam_volumes`): 2D slices of registered cases
(:mod:`.slices`), volumes and their slice groups (:mod:`.volumes`), SegTHOR's volumes (:mod:`.segthor`), and
augmentation that repeats under a seed."""
