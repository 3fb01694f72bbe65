"""What a pretraining run records beside its checkpoint (chapter `foundation_model`): the code version it ran."""

from __future__ import annotations

import subprocess
from pathlib import Path


def code_version() -> str:
    """The git commit of the library, with ``+dirty`` when ``sambook/`` or ``configs/`` have uncommitted changes."""

    root = Path(__file__).resolve().parents[2]  # the repository holding sambook/ and configs/

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=root, check=True).stdout.strip()

    try:
        dirty = git("status", "--porcelain", "--", "sambook", "configs")
        return git("rev-parse", "HEAD") + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
