"""Volume I/O: NIfTI (nibabel) and DICOM series (MONAI's pydicom reader), validated, in RAS.

Every failure on bad input becomes :class:`polyclr.errors.DataError` naming the file: empty or
truncated files, wrong format, NaN/Inf voxels, wrong rank, degenerate (zero) affines and headers
that claim more voxels than ``max_bytes`` allows (refused from the header, before any array is
allocated). DICOM identifiers are never read into the returned record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polyclr._optional import require
from polyclr.errors import DataError

NIFTI_SUFFIXES = (".nii", ".nii.gz")
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
#: Largest decoded volume accepted (bytes of the on-disk dtype); override per call.
DEFAULT_MAX_BYTES = int(os.environ.get("POLYCLR_MAX_VOLUME_BYTES", 2 * 1024**3))


@dataclass
class VolumeData:
    """A validated volume in RAS+ orientation.

    Attributes:
        array: voxel intensities, float32, axes (X, Y, Z) = (R, A, S) after reorientation.
        affine: (4, 4) voxel-to-world (RAS mm) matrix of ``array``.
        spacing: (3,) voxel size in mm (column norms of the affine).
        path: the file (or DICOM series directory) it came from.
        original_affine: (4, 4) affine of the file as stored (before RAS reorientation), so
            predictions can be written back on the input grid.
        original_shape: spatial shape of the file as stored.
    """

    array: np.ndarray
    affine: np.ndarray
    spacing: np.ndarray
    path: Path
    original_affine: np.ndarray | None = None
    original_shape: tuple[int, ...] | None = None


def is_nifti(path: Path) -> bool:
    """True if ``path`` has a NIfTI suffix (``.nii`` / ``.nii.gz``)."""
    name = path.name.lower()
    return any(name.endswith(s) for s in NIFTI_SUFFIXES)


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


def dicom_series_files(directory: Path) -> list[Path]:
    """DICOM files directly inside ``directory`` (one series per directory)."""
    return sorted(p for p in directory.iterdir() if p.is_file() and is_dicom_file(p))


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


def _spatial_3d(data_shape: tuple[int, ...], path: Path) -> tuple[int, ...]:
    shape = tuple(int(s) for s in data_shape)
    while len(shape) > 3 and shape[-1] == 1:  # (X, Y, Z, 1) single-frame 4-D is still 3-D
        shape = shape[:-1]
    if len(shape) != 3:
        raise DataError(path, f"expected a 3-D volume, got {len(shape)}-D data of shape {shape}")
    return shape


def _load_nifti_image(path: Path, max_bytes: int):
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
    shape = _spatial_3d(hdr_shape, path)
    check_affine(img.affine, path)
    try:
        data = np.asarray(img.dataobj, dtype=np.float32).reshape(shape)
    except Exception as exc:  # truncated / corrupt payload
        msg = " ".join(str(exc).split())[:160]
        raise DataError(path, f"truncated or corrupt voxel data ({type(exc).__name__}: {msg})") from exc
    return data, np.asarray(img.affine, dtype=np.float64)


def _load_dicom_series(path: Path, max_bytes: int):
    """Read a DICOM series (directory or single file) with MONAI's PydicomReader (RAS affine)."""
    pydicom = require("pydicom", "volume")
    files = dicom_series_files(path) if path.is_dir() else [path]
    if not files:
        raise DataError(path, "directory holds no DICOM files")
    for f in files:
        if f.stat().st_size == 0:
            raise DataError(f, "empty file (0 bytes)")
        try:
            ds = pydicom.dcmread(str(f), stop_before_pixels=True)
        except Exception as exc:
            raise DataError(f, f"not a readable DICOM file ({type(exc).__name__})") from exc
        rows, cols = int(getattr(ds, "Rows", 0) or 0), int(getattr(ds, "Columns", 0) or 0)
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        bits = int(getattr(ds, "BitsAllocated", 16) or 16)
        if rows <= 0 or cols <= 0:
            raise DataError(f, "DICOM file has no image (Rows/Columns missing)")
        check_header_size((rows, cols, frames * len(files)), max(1, bits // 8), f, max_bytes)
    monai_data = require("monai.data", "volume")
    reader = monai_data.PydicomReader(affine_lps_to_ras=True)
    try:
        # a directory is read as one series (slices sorted by position); a file as itself
        obj = reader.read(str(path) if path.is_dir() else str(files[0]))
        arr, meta = reader.get_data(obj)
    except Exception as exc:
        msg = " ".join(str(exc).split())[:160]
        raise DataError(path, f"cannot assemble a DICOM volume ({type(exc).__name__}: {msg})") from exc
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[..., None]
    shape = _spatial_3d(arr.shape, path)
    affine = np.asarray(meta.get("affine"), dtype=np.float64)
    check_affine(affine, path)
    return arr.reshape(shape), affine


def load_volume(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> VolumeData:
    """Load and validate one 3-D volume, reoriented to RAS+.

    Args:
        path: a ``.nii`` / ``.nii.gz`` file, a DICOM file, or a directory holding one DICOM series.
        max_bytes: refuse headers that claim more than this many bytes of voxel data.

    Returns:
        :class:`VolumeData` with ``array`` of shape (X, Y, Z), float32, RAS+ axes.

    Raises:
        DataError: naming the file, for every kind of unusable input.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(p, "no such file or directory")
    if p.is_file() and p.stat().st_size == 0:
        raise DataError(p, "empty file (0 bytes)")
    if p.is_dir() or is_dicom_file(p):
        data, affine = _load_dicom_series(p, max_bytes)
    elif is_nifti(p):
        data, affine = _load_nifti_image(p, max_bytes)
    else:
        raise DataError(p, "unsupported file type; expected .nii, .nii.gz or a DICOM series")
    if not np.all(np.isfinite(data)):
        bad = int((~np.isfinite(data)).sum())
        raise DataError(p, f"{bad} voxels are NaN or Inf; clean the volume first")
    return to_ras(data, affine, p)


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
        original_shape=tuple(int(s) for s in data.shape),
    )


def load_label(path: str | Path, image: VolumeData, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Load a label map aligned with ``image``: same shape, integer values, RAS like the image.

    Shape:
        returns (X, Y, Z) int64, same shape as ``image.array``.

    Raises:
        DataError: shape mismatch, non-integer or negative values, or any load failure.
    """
    lab = load_volume(path, max_bytes=max_bytes)
    if lab.array.shape != image.array.shape:
        raise DataError(
            path, f"label shape {lab.array.shape} differs from image shape {image.array.shape} "
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
    if pred.shape != reference.array.shape:
        raise ValueError(f"prediction shape {pred.shape} != reference {reference.array.shape}")
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
