"""Evaluation (chapters `fusing_modalities` and `aftersam_volumes`): per-slice metrics (:mod:`.metrics`), volume
inference and 3D scores (:mod:`.volumes`), BraTS regions from label maps (:mod:`.regions`), the BraTS scoring
rules, legacy and lesion-wise (:mod:`.brats`), folders of NIfTI predictions scored (:mod:`.folders`), whole cases
segmented by any model and scored as BraTS regions (:mod:`.segment`), and four empty-mask conventions side by side
(:mod:`.conventions`)."""
