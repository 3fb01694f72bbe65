"""Data on disk (chapter `multimodal_mri`): the offline phantom, loaders for real datasets, label conventions and
the four modalities. Nothing here imports the later stages (registration, datasets, models)."""
