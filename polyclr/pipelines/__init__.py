"""End-to-end recipes, one per modality, registered by name.

A modality pipeline lives in ``polyclr.pipelines.<name>`` and exposes ``PIPELINE`` (an instance
of :class:`polyclr.pipelines.base.Pipeline`). Modules are imported lazily so a missing extra only
matters for the modality that needs it.
"""

from __future__ import annotations

import importlib
import importlib.util

from polyclr.errors import PipelineNotAvailableError
from polyclr.pipelines.base import CheckReport, Pipeline

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


__all__ = ["CheckReport", "MODALITIES", "Pipeline", "available_pipelines", "get_pipeline"]
