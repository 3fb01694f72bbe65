"""The code version a run records: the commit, and ``+dirty`` when the library or the configs have changes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import sambook.foundation.provenance as provenance


def _version(root: Path) -> str:
    code = "import provenance_copy as p; print(p.code_version())"
    module = root / "sambook" / "foundation"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=module
    ).stdout.strip()


def test_code_version_is_the_commit_and_marks_uncommitted_changes(tmp_path):
    module = tmp_path / "sambook" / "foundation"
    module.mkdir(parents=True)
    (tmp_path / "configs").mkdir()
    shutil.copy(provenance.__file__, module / "provenance_copy.py")
    (tmp_path / "configs" / "a.yaml").write_text("model: sam\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "c"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / "notes.txt").write_text("outside the library: not a code change")
    assert _version(tmp_path) == head
    (tmp_path / "configs" / "a.yaml").write_text("model: cmaa\n")
    assert _version(tmp_path) == head + "+dirty"
    subprocess.run([*git, "checkout", "-q", "--", "configs"], check=True)
    (module / "new.py").write_text("")  # an untracked library file counts too
    assert _version(tmp_path) == head + "+dirty"
