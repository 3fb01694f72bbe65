"""The one YAML reader of the library: configs (``configs/``), run folders and the GPU table."""

from __future__ import annotations

from pathlib import Path

import yaml

from sambook.errors import ConfigError


def read_yaml(path: str | Path) -> dict:
    """A YAML mapping from ``path`` (an empty file is ``{}``); anything else is an error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values, got {type(data).__name__}")
    return data
