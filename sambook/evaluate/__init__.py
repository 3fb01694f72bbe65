"""Evaluation (chapters `fusing_modalities` and `aftersam_volumes`): per-slice metrics (:mod:`.metrics`), volume
inference and 3D scores (:mod:`.volumes`)."""
