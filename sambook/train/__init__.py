"""Training (chapter 4 and 8): one loop for every model of the book, its configs, and the train/evaluate commands."""
