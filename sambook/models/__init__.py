"""Models (chapters 3-8): SAM's official modules built at any size, prompt-free decoding, the cross-modality
attention adapter (CMAA) and its baselines."""
