"""Atomic outputs: a file or a folder appears whole under its final name, or not at all.

Writers produce into a temporary sibling and rename it at the end (``os.replace`` is atomic on one file
system), so an interrupted run never leaves a half-written NIfTI, checkpoint or case folder behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; move it to ``final`` only if the block succeeds.

    The suffix of ``final`` is kept (``.nii.gz`` included), so writers that choose a format from the
    file name still work. Works for files and for directories written at the yielded path.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(final.suffixes)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    tmp = tmp_dir / f"payload{suffix}"
    try:
        yield tmp
        if final.is_dir():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
