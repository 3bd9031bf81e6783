"""Selectable items: what ``polyclr select`` hands to :func:`select_items`, and the
modality-free helpers the pipelines use to build them.

Each pipeline turns its files into an :class:`ItemSet` (``Pipeline.selection_items``): volumes
give slices positioned in mm, time series give series or windows, audio gives log-mel windows.
This module reads no files of any modality itself; it only guesses the modality from file
suffixes, so ``select`` can pick the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polyclr.errors import DataError

NIFTI = (".nii", ".nii.gz")
TIMESERIES = (".ts", ".npz", ".csv", ".parquet")
AUDIO = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif")


@dataclass
class ItemSet:
    """Items ready for :func:`select_items`.

    Attributes:
        items: list of 2D arrays (slices, (C, T) series, log-mel spectrograms).
        groups, positions, names: per item.
        modality: volume, timeseries or audio.
        position_unit: "mm", "s" or "index".
        volumes: volume modality only: group -> (X, Y, Z) array, for strip plots.
    """

    items: list[np.ndarray]
    groups: list[str]
    positions: np.ndarray
    names: list[str]
    modality: str
    position_unit: str
    volumes: dict[str, np.ndarray] = field(default_factory=dict)


def is_nifti(p: Path) -> bool:
    """A NIfTI file name (``.nii`` / ``.nii.gz``), not a macOS ``._`` resource file."""
    return p.name.lower().endswith(NIFTI) and not p.name.startswith("._")


def guess_modality(path: Path) -> str:
    """volume, timeseries or audio from file suffixes (DataError if undecidable)."""
    if path.is_file():
        name = path.name.lower()
        if name.endswith(NIFTI) or name.endswith((".dcm", ".dicom", ".ima")):
            return "volume"
        if name.endswith(TIMESERIES):
            return "timeseries"
        if name.endswith(AUDIO):
            return "audio"
        raise DataError(path, "cannot tell the modality from the file type; pass --modality")
    files = [p for p in path.rglob("*") if p.is_file()]
    if not files:
        raise DataError(path, "empty directory: no items to select from")
    if (path / "captions.csv").exists() or any(p.name.lower().endswith(AUDIO) for p in files):
        return "audio"
    if any(is_nifti(p) for p in files) or any(p.suffix.lower() in (".dcm", ".ima") for p in files):
        return "volume"
    if any(p.name.lower().endswith(TIMESERIES) for p in files):
        return "timeseries"
    raise DataError(path, "no NIfTI/DICOM, time-series or audio files found; pass --modality")


def slice_positions(affine: np.ndarray, shape: tuple[int, ...], axis: int = 2) -> np.ndarray:
    """World coordinate (mm) of each slice centre along RAS axis ``axis``.

    Shape:
        returns (shape[axis],).
    """
    centre = (np.asarray(shape[:3], dtype=np.float64) - 1) / 2
    idx = np.tile(np.append(centre, 1.0), (shape[axis], 1))
    idx[:, axis] = np.arange(shape[axis])
    return (np.asarray(affine) @ idx.T)[axis]
