"""Evaluation (chapters `fusing_modalities` and `aftersam_volumes`): per-slice metrics (:mod:`.metrics`), volume
inference and 3D scores (:mod:`.volumes`), BraTS regions from label maps (:mod:`.regions`) and the BraTS scoring
rules, legacy and lesion-wise (:mod:`.brats`)."""
