"""Data: the offline phantom (chapter 1), loaders for real datasets, and the datasets the models train on."""
