"""Volume I/O: NIfTI (nibabel) and DICOM series (:mod:`.dicom`), validated, in RAS.

Every failure on bad input becomes :class:`polyclr.errors.DataError` naming the file: empty or
truncated files, wrong format, NaN/Inf voxels, wrong rank, degenerate (zero) affines and headers
that claim more voxels than ``max_bytes`` allows (refused from the header, before any array is
allocated). DICOM identifiers are never read into the returned record.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from polyclr._optional import require
from polyclr.errors import DataError
from polyclr.modalities.volume.volume_data import (  # noqa: F401  (re-exported: the reader API)
    DICOM_SUFFIXES,
    VolumeData,
    _spacing,
    check_affine,
    check_header_size,
    is_dicom_file,
    to_ras,
)

NIFTI_SUFFIXES = (".nii", ".nii.gz")
#: Largest decoded volume accepted (bytes of the on-disk dtype); override per call.
DEFAULT_MAX_BYTES = int(os.environ.get("POLYCLR_MAX_VOLUME_BYTES", 2 * 1024**3))


def is_nifti(path: Path) -> bool:
    """True if ``path`` has a NIfTI suffix (``.nii`` / ``.nii.gz``)."""
    name = path.name.lower()
    return any(name.endswith(s) for s in NIFTI_SUFFIXES)


def dicom_series_files(directory: Path) -> list[Path]:
    """DICOM files directly inside ``directory`` (one series per directory)."""
    return sorted(p for p in directory.iterdir() if p.is_file() and is_dicom_file(p))


def _spatial_3d(data_shape: tuple[int, ...], path: Path, allow_channels: bool = False) -> tuple[int, ...]:
    shape = tuple(int(s) for s in data_shape)
    while len(shape) > 3 and shape[-1] == 1:  # (X, Y, Z, 1) single-frame 4-D is still 3-D
        shape = shape[:-1]
    if allow_channels and len(shape) == 4:
        return shape  # MSD multi-channel image: channels on the 4th axis
    if len(shape) != 3:
        raise DataError(path, f"expected a 3-D volume, got {len(shape)}-D data of shape {shape}")
    return shape


def _load_nifti_image(path: Path, max_bytes: int, allow_channels: bool = False):
    nib = require("nibabel", "volume")
    try:
        img = nib.load(str(path))
    except Exception as exc:  # nibabel raises many types on garbage (ImageFileError, EOFError...)
        msg = " ".join(str(exc).split())[:160]
        raise DataError(path, f"not a readable NIfTI file ({type(exc).__name__}: {msg})") from exc
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise DataError(path, f"not a NIfTI image ({type(img).__name__})")
    hdr_shape = img.header.get_data_shape()
    check_header_size(hdr_shape, img.header.get_data_dtype().itemsize, path, max_bytes)
    shape = _spatial_3d(hdr_shape, path, allow_channels)
    check_affine(img.affine, path)
    try:
        data = np.asarray(img.dataobj, dtype=np.float32).reshape(shape)
    except Exception as exc:  # truncated / corrupt payload
        msg = " ".join(str(exc).split())[:160]
        raise DataError(path, f"truncated or corrupt voxel data ({type(exc).__name__}: {msg})") from exc
    return data, np.asarray(img.affine, dtype=np.float64)


def _load_dicom_series(path: Path, max_bytes: int, series_uid: str | None = None):
    """Read one DICOM series (see :mod:`polyclr.modalities.volume.dicom`): series ``series_uid``
    of the folder of ``path`` (as dataset discovery names them), the one series of a folder, or
    a single file by itself."""
    from polyclr.modalities.volume import dicom

    if series_uid is not None:
        folder = path.parent if path.is_file() else path
        found = [s for s in dicom.scan_folder(folder).series if s.uid == series_uid and s.folder == folder]
        if not found:
            raise DataError(path, f"series ...{series_uid[-8:]} is no longer in {folder}")
        series = found[0]
    elif path.is_dir():
        scan = dicom.scan_folder(path)
        if len(scan.series) != 1:
            names = ", ".join(s.name for s in scan.series[:4])
            raise DataError(path, f"holds {len(scan.series)} DICOM series ({names}); read as a dataset "
                            "folder each becomes its own volume")
        series = scan.series[0]
    else:
        series = dicom.scan_files([path], path.parent).series[0]
    volume = dicom.load_series_volume(series, max_bytes)
    arr, affine = dicom.volume_to_array(volume)
    shape = _spatial_3d(arr.shape, path)
    check_affine(affine, path)
    return arr.reshape(shape), affine, series, volume.get_geometry()


def load_volume(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, series: str | None = None,
                channels: tuple[str | Path, ...] = ()) -> VolumeData:
    """Load and validate one volume, reoriented to RAS+.

    Args:
        path: a ``.nii`` / ``.nii.gz`` file (3-D, or 4-D with channels last), a DICOM file, or a
            directory holding one DICOM series.
        max_bytes: refuse headers that claim more than this many bytes of voxel data.
        series: SeriesInstanceUID of the series to read from the folder of ``path``.
        channels: further channel files (nnU-Net ``_0001`` ...) on the grid of ``path``.

    Returns:
        :class:`VolumeData` with ``array`` of shape (X, Y, Z), or (X, Y, Z, C) for several
        channels, float32, RAS+ axes.

    Raises:
        DataError: naming the file, for every kind of unusable input.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(p, "no such file or directory")
    if p.is_file() and p.stat().st_size == 0:
        raise DataError(p, "empty file (0 bytes)")
    dseries = geometry = None
    if p.is_dir() or is_dicom_file(p):
        data, affine, dseries, geometry = _load_dicom_series(p, max_bytes, series)
    elif is_nifti(p):
        data, affine = _load_nifti_image(p, max_bytes, allow_channels=not channels)
    else:
        raise DataError(p, "unsupported file type; expected .nii, .nii.gz or a DICOM series")
    if channels:
        stack = [data]
        for c in channels:
            cdata, caffine = _load_nifti_image(Path(c), max_bytes)
            if cdata.shape != data.shape or not np.allclose(caffine, affine, atol=1e-3):
                raise DataError(c, f"channel grid {cdata.shape} differs from the first channel's "
                                f"{data.shape} ({p.name}); every channel of a case must share one grid")
            stack.append(cdata)
        data = np.stack(stack, axis=-1)
    if not np.all(np.isfinite(data)):
        bad = int((~np.isfinite(data)).sum())
        raise DataError(p, f"{bad} voxels are NaN or Inf; clean the volume first")
    vol = to_ras(data, affine, p)
    vol.series, vol.geometry = dseries, geometry
    return vol


def load_label(path: str | Path, image: VolumeData, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Load a label map aligned with ``image``: same shape, integer values, RAS like the image.

    Shape:
        returns (X, Y, Z) int64, same shape as ``image.array``.

    Raises:
        DataError: shape mismatch, non-integer or negative values, or any load failure.
    """
    if Path(path).is_file() and is_dicom_file(Path(path)):
        from polyclr.modalities.volume.dicom_labels import load_dicom_label

        return load_dicom_label(Path(path), image)
    lab = load_volume(path, max_bytes=max_bytes)
    if lab.array.shape != image.array.shape[:3]:
        raise DataError(
            path, f"label shape {lab.array.shape} differs from image shape {image.array.shape[:3]} "
            f"({image.path})",
        )
    if not np.allclose(lab.affine, image.affine, atol=1e-3):
        raise DataError(path, f"label affine differs from the image's ({image.path})")
    arr = lab.array
    if not np.array_equal(arr, np.round(arr)):
        raise DataError(path, "label map holds non-integer values; labels must be class indices")
    if arr.min() < 0:
        raise DataError(path, "label map holds negative values; labels must be class indices >= 0")
    return arr.astype(np.int64)


def save_label_like(pred: np.ndarray, reference: VolumeData, path: str | Path) -> Path:
    """Write a RAS label map back on the *original* grid and affine of ``reference`` as NIfTI.

    Shape:
        pred: (X, Y, Z) integer, same shape as ``reference.array`` (RAS).
    """
    nib = require("nibabel", "volume")
    if pred.shape != reference.array.shape[:3]:
        raise ValueError(f"prediction shape {pred.shape} != reference {reference.array.shape[:3]}")
    img = nib.Nifti1Image(pred.astype(np.uint8), reference.affine)
    if reference.original_affine is not None:
        ornt = nib.orientations
        back = ornt.ornt_transform(ornt.io_orientation(reference.affine),
                                   ornt.io_orientation(reference.original_affine))
        img = img.as_reoriented(back)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    nib.save(img, str(p))
    return p


def volume_id(path: Path) -> str:
    """A stable id from the file name (``case_001.nii.gz`` -> ``case_001``)."""
    name = path.name
    for s in (".nii.gz", ".nii", ".dcm"):
        if name.lower().endswith(s):
            return name[: -len(s)]
    return name
