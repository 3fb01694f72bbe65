"""sambook — the library beside the book *Adapting Segment Anything to multimodal and volumetric MRI*.

The folders follow the flow a reader follows through the book, and each imports only from those before it:

``data`` (phantom, loaders) → ``registration`` → ``datasets`` (slices, slice groups) → ``models`` (SAM core,
adapters, LoRA, axial fusion) → ``evaluate`` (inference and scores) → ``train`` → ``predict`` (new cases) →
``foundation`` (the book's mini SAM), ``estimate`` and ``bench``, with the command line (``python -m sambook``,
:mod:`sambook.commands`) on top.
``sambook.build_model(config)`` (:mod:`sambook.build`) builds every model of the book from its config.
"""

from __future__ import annotations

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "build_model":  # imported on first use: ``import sambook`` stays light for the command line
        from sambook.build import build_model

        return build_model
    raise AttributeError(f"module 'sambook' has no attribute {name!r}")
