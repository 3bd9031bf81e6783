"""End-to-end recipes, one per modality, registered by name.

A modality pipeline lives in ``polyclr.pipelines.<name>`` and exposes ``PIPELINE`` (an instance
of :class:`polyclr.pipelines.base.Pipeline`). Modules are imported lazily so a missing extra only
matters for the modality that needs it.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from polyclr.errors import DataError, PipelineNotAvailableError
from polyclr.pipelines.base import CheckReport, Pipeline, Prepared

MODALITIES = ("volume", "timeseries", "audio")


def available_pipelines() -> list[str]:
    """Modalities whose pipeline module exists in this installation."""
    return [m for m in MODALITIES if importlib.util.find_spec(f"polyclr.pipelines.{m}") is not None]


def get_pipeline(modality: str) -> Pipeline:
    """The pipeline for ``modality`` (``volume``, ``timeseries`` or ``audio``)."""
    if modality not in MODALITIES:
        raise PipelineNotAvailableError(
            f"unknown modality '{modality}'; choose one of {', '.join(MODALITIES)}"
        )
    if modality not in available_pipelines():
        raise PipelineNotAvailableError(f"the {modality} pipeline is not part of this version")
    module = importlib.import_module(f"polyclr.pipelines.{modality}")
    return module.PIPELINE


def selection_items(path: Path, modality: str | None = None) -> Any:
    """The items ``polyclr select`` sees in ``path``, read by the modality's pipeline
    (``modality`` guessed from the file types when None)."""
    from polyclr.selection.sources import guess_modality

    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file or directory")
    return get_pipeline(modality or guess_modality(path)).selection_items(path)


def selection_features(checkpoint: Path, modality: str, items: list[Any]) -> Any:
    """``(N, D)`` features of selection ``items`` from a pre-trained encoder of ``modality``."""
    return get_pipeline(modality).selection_features(Path(checkpoint), items)


__all__ = ["CheckReport", "MODALITIES", "Pipeline", "Prepared", "available_pipelines", "get_pipeline",
           "selection_features", "selection_items"]
