"""Training (chapters `fusing_modalities`, `aftersam_volumes` and `training_runs`): one loop for every model of the
book (:mod:`.loop`), its configs (:mod:`.config`), the loss, AFTer-SAM's volume training and run folders
(:mod:`.runs`)."""
