"""The one YAML reader and writer of the library: configs (``configs/``) and run folders."""

from __future__ import annotations

from pathlib import Path

import yaml

from sambook.atomic import atomic_path
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


def write_yaml(path: str | Path, data: dict) -> None:
    """Write ``data`` to ``path`` atomically, keys in their given order."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(yaml.safe_dump(data, sort_keys=False))
