"""Atomic outputs: a file or a folder appears whole under its final name, or not at all.

Writers produce into a temporary sibling and rename it at the end (``os.replace`` is atomic on one file
system), so an interrupted run never leaves a half-written NIfTI, checkpoint or case folder behind. A process
killed outright (SIGKILL, power loss) cannot clean up after itself: its temporary sibling carries its process id,
and the next write of the same file removes the temporaries of processes that no longer run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_stale_temporaries(final: Path) -> list[Path]:
    """Delete the temporaries of ``final`` left by processes that no longer run; returns what was removed."""
    removed = []
    for candidate in final.parent.glob(f".{final.name}.*.tmp"):
        pid = candidate.name[len(final.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; move it to ``final`` only if the block succeeds.

    The suffix of ``final`` is kept (``.nii.gz`` included), so writers that choose a format from the
    file name still work. Works for files and for directories written at the yielded path.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    suffix = "".join(final.suffixes)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}.", suffix=".tmp", dir=final.parent))
    tmp = tmp_dir / f"payload{suffix}"
    try:
        yield tmp
        if final.is_dir():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def write_text(final: str | Path, text: str) -> Path:
    """Write ``text`` to ``final`` atomically."""
    with atomic_path(final) as tmp:
        tmp.write_text(text)
    return Path(final)
