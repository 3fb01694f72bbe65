"""Where sambook keeps data: generated phantoms, caches, checkpoints and run outputs.

``$SAMBOOK_DATA`` wins. Otherwise, in a checkout of the repository (``pip install -e .``, CI, Colab after
``git clone``) it is the repository's ``data/`` folder, which also holds the committed artefacts; in any other
install it is ``~/.cache/sambook``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SAMBOOK_DATA"
REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGS = REPO_ROOT / "configs"  # the experiments' YAML files (a checkout, CI or Colab after `git clone`)


def data_root() -> Path:
    """The folder under which every generated or downloaded file lives."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    if (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "data").is_dir():
        return REPO_ROOT / "data"
    return Path.home() / ".cache" / "sambook"
