"""Evaluation: BraTS regions from label maps and the BraTS scoring rules (chapters `fusing_modalities` and
`aftersam_volumes`)."""
