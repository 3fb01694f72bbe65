"""Models: SAM's official modules built at any size (:mod:`.sam_core`, chapter `sam_taken_apart`), the pieces every
SAM-based model shares (:mod:`.sam_parts`), prompt-free decoding, the Table 1 models (:mod:`.table1`, :mod:`.cmaa`,
chapter `fusing_modalities`), axial fusion and LoRA (chapters `axial_attention` and `lora`), AFTer-SAM (chapter
`aftersam_volumes`) and the lean attention and activation checkpointing (chapter `training_runs`). The builder that
turns a config into one of these models is :mod:`sambook.build`."""
