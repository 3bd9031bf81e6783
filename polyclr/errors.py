"""polyclr's own error types.

Library code raises these; the CLI prints them as one line (``file: problem``) and exits with
code 2, without a traceback (``--debug`` shows it).
"""

from __future__ import annotations

from pathlib import Path


class PolyclrError(Exception):
    """Base class of every error polyclr raises on purpose."""

    exit_code: int = 2

    def one_line(self) -> str:
        """The message as a single line, as the CLI prints it."""
        return " ".join(str(self).split())


class ConfigError(PolyclrError, ValueError):
    """A configuration file, key or value is invalid (names the key)."""


class DataError(PolyclrError, ValueError):
    """An input file or dataset is unusable.

    Args:
        path: the file (or directory) at fault.
        problem: what is wrong with it, and where possible how to fix it.
    """

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class LeakageError(DataError):
    """A patient (or other group) id appears in more than one split."""


class CheckpointError(PolyclrError):
    """A checkpoint is missing, corrupt, or refused as unsafe."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        super().__init__(f"{path}: {problem}")


class MissingExtraError(PolyclrError, ImportError):
    """An optional dependency is missing; the message says which extra to install."""


class PipelineNotAvailableError(PolyclrError):
    """The requested modality pipeline is not installed or unknown."""


class NotSupportedError(PolyclrError):
    """A command that this modality's pipeline does not offer (e.g. ``predict audio``)."""
