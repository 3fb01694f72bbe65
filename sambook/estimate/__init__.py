"""Budgeting GPU runs without a GPU (chapter 8, "Training runs"): fake-tensor traces (:mod:`.trace`), the GPU
table (:mod:`.gpus`), the ``estimate`` command (:mod:`.cli`) and the CPU timing of the lean attention
(:mod:`.bench`)."""
