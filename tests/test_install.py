"""The Colab install keeps Colab's torch: ``pip install -e .``, as the chapters' first cell runs it, into an environment
that already has torch and torchvision, installs the book's library and replaces neither.

pip resolves the install without doing it (``--dry-run --report``, pip >= 22.2) in this environment, where torch is
present, and the report lists what it would install. Skipped only when pip cannot reach the package index (building
the project's metadata fetches setuptools into an isolated environment, as on Colab).
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OFFLINE = ("NewConnectionError", "Network is unreachable", "Temporary failure in name resolution", "ProxyError")
KEPT = ("torch", "torchvision")


def test_installing_the_book_keeps_the_torch_already_there(tmp_path):
    before = {name: importlib.metadata.version(name) for name in KEPT}  # present, as on Colab
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report), "-e", str(ROOT)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0 and any(marker in result.stderr for marker in OFFLINE):
        pytest.skip(f"pip cannot reach the package index: {result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0, result.stderr[-3000:]
    install = {
        item["metadata"]["name"].lower(): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert "sambook" in install  # the report does list what the command installs
    assert not set(KEPT) & set(install), f"pip would replace {before} with {install}"
    assert {name: importlib.metadata.version(name) for name in KEPT} == before  # a dry run changed nothing
