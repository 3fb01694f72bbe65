"""The book's own foundation model (chapter `foundation_model`): the pretext task (:mod:`.pretext`), its
augmentation, the pretraining run and its provenance, the linear probe and the pretrained-vs-random study
(:mod:`.init_gap`). The pretrained model itself is :mod:`sambook.models.pretext_sam`."""
