"""sambook — the library beside the book *Adapting Segment Anything to multimodal and volumetric MRI*.

The folders follow the flow a reader follows through the book:

``data`` (phantom, loaders, slices) → ``registration`` → ``models`` (SAM core, adapters, LoRA, axial fusion)
→ ``train`` → ``evaluate``, with the command line (``python -m sambook``) on top.
"""

__version__ = "0.1.0"
