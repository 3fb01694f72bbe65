"""Budgeting GPU runs without a GPU (chapter `training_runs`): fake-tensor traces (:mod:`.trace`), the GPU
table (:mod:`.gpus`), the papers' GPU configs (:mod:`.configs`) and the report the ``estimate`` command prints
(:mod:`.report`); the CMAA paper's Table 3 parameter counts (:mod:`.params`)."""
