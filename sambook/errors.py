"""The project's exceptions: one base type, and subtypes that say where a problem lives.

Every message names the file (or case and modality) and the problem, so a reader can act on it.
"""

from __future__ import annotations

from pathlib import Path


class SambookError(Exception):
    """Base class of every error sambook raises on purpose."""


class DataError(SambookError):
    """A data file is missing, unreadable, truncated or inconsistent.

    ``DataError(path, problem)`` renders as ``"<path>: <problem>"``.
    """

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class RegistrationError(SambookError):
    """Registration of one modality of one case failed (no overlap, metric failure, bad geometry...)."""

    def __init__(self, case: str, modality: str, problem: str):
        self.case = case
        self.modality = modality
        self.problem = problem
        super().__init__(f"case {case}, modality {modality}: {problem}")


class CheckpointError(SambookError):
    """A model checkpoint is missing, corrupt, fails its checksum or does not fit the model."""


class ConfigError(SambookError, ValueError):
    """A config file (or a run folder's config) has an unknown key, a wrong type or a value out of range."""


class RunError(SambookError):
    """A run folder is incomplete, unreadable, would be overwritten, or does not match what is asked of it.

    ``RunError(path, problem)`` renders as ``"<path>: <problem>"``.
    """

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
