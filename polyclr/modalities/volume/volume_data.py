"""The validated volume record and the geometry checks every reader shares (no reader
imports: :mod:`.io`, :mod:`.dicom` and :mod:`.dicom_labels` all build on it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polyclr._optional import require
from polyclr.errors import DataError

DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")


def is_dicom_file(path: Path) -> bool:
    """True for a file with a DICOM suffix or the ``DICM`` preamble marker."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


@dataclass
class VolumeData:
    """A validated volume in RAS+ orientation.

    Attributes:
        array: voxel intensities, float32, axes (X, Y, Z) = (R, A, S) after reorientation, plus a
            last channel axis C when the image has several channels.
        affine: (4, 4) voxel-to-world (RAS mm) matrix of ``array``.
        spacing: (3,) voxel size in mm (column norms of the affine).
        path: the file (or DICOM series directory) it came from.
        original_affine: (4, 4) affine of the file as stored (before RAS reorientation), so
            predictions can be written back on the input grid.
        original_shape: spatial shape of the file as stored.
        series: the DICOM series it was read from (:class:`~polyclr.modalities.volume.dicom.Series`).
        geometry: its highdicom ``VolumeGeometry`` (DICOM only: rasterises SEG / RTSTRUCT labels
            onto it and places predicted DICOM SEG frames).
    """

    array: np.ndarray
    affine: np.ndarray
    spacing: np.ndarray
    path: Path
    original_affine: np.ndarray | None = None
    original_shape: tuple[int, ...] | None = None
    series: Any = None
    geometry: Any = None

    @property
    def channels(self) -> int:
        """Number of image channels (1 for a 3-D array)."""
        return 1 if self.array.ndim == 3 else int(self.array.shape[-1])

    def channels_first(self) -> np.ndarray:
        """The array as ``(C, X, Y, Z)``."""
        return self.array[None] if self.array.ndim == 3 else np.moveaxis(self.array, -1, 0)


def _spacing(affine: np.ndarray) -> np.ndarray:
    return np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0)).astype(np.float64)


def check_affine(affine: np.ndarray, path: Path) -> None:
    """Refuse non-finite or degenerate (e.g. all-zero) voxel-to-world matrices."""
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise DataError(path, "affine is not a finite 4x4 matrix; fix the header (qform/sform)")
    if abs(np.linalg.det(a[:3, :3])) < 1e-9 or np.any(_spacing(a) < 1e-6):
        raise DataError(path, "affine is degenerate (zero or singular voxel axes); fix the header")


def check_header_size(shape: tuple[int, ...], itemsize: int, path: Path, max_bytes: int) -> None:
    """Refuse a header whose dims × dtype exceed ``max_bytes`` — before allocating anything."""
    dims = [int(d) for d in shape]
    if any(d <= 0 for d in dims):
        raise DataError(path, f"header has a non-positive dimension {tuple(dims)}")
    nbytes = int(np.prod(np.array(dims, dtype=np.float64))) * int(itemsize)
    if nbytes > max_bytes:
        raise DataError(
            path,
            f"header claims {tuple(dims)} voxels ({nbytes / 1e9:.1f} GB), over the limit of "
            f"{max_bytes / 1e9:.1f} GB (set POLYCLR_MAX_VOLUME_BYTES to raise it)",
        )


def to_ras(data: np.ndarray, affine: np.ndarray, path: Path) -> VolumeData:
    """Reorient ``data`` to the closest RAS+ axis order with nibabel (exact, no resampling).

    Shape:
        data: (X, Y, Z); returns VolumeData with the permuted/flipped array.
    """
    nib = require("nibabel", "volume")
    img = nib.Nifti1Image(data, affine)
    canon = nib.as_closest_canonical(img)
    arr = np.asarray(canon.dataobj, dtype=np.float32)
    ras_affine = np.asarray(canon.affine, dtype=np.float64)
    return VolumeData(
        array=np.ascontiguousarray(arr),
        affine=ras_affine,
        spacing=_spacing(ras_affine),
        path=path,
        original_affine=np.asarray(affine, dtype=np.float64),
        original_shape=tuple(int(s) for s in data.shape[:3]),
    )
