"""DICOM exports as hospitals write them: series discovery, geometry checks, volume assembly.

Libraries and what each is for:

* pydicom reads headers (``stop_before_pixels``) to find the image series, label objects
  (SEG, RTSTRUCT) and non-image objects (SR, PDF, presentation states: skipped with a warning).
* highdicom assembles a volume from a series (``get_volume_from_series``: sorting along the
  slice normal, regular-spacing check) or from an enhanced multi-frame file (``Image.get_volume``)
  and converts it to nibabel (``Volume.to_nibabel``: RAS affine).

A series is the files of one folder sharing a SeriesInstanceUID; two series are never merged
(two folders with the same UID are two series, too). Before assembly every single-frame series
is checked for two orientations, duplicate positions, missing slices, unequal spacing and
inconsistent pixel spacing, each a :class:`~polyclr.errors.DataError` naming the folder.
Patients are grouped by PatientID (else StudyInstanceUID), pseudonymised (salted SHA-256) before
they leave this module.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from polyclr._optional import require
from polyclr.errors import DataError
from polyclr.modalities.volume.volume_data import is_dicom_file

#: Segmentation Storage and Label Map Segmentation Storage
SEG_SOPS = ("1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7")
RTSTRUCT_SOP = "1.2.840.10008.5.1.4.1.1.481.3"
#: Modalities of objects that carry no image to train on (skipped with a warning).
NON_IMAGE_MODALITIES = {"SR", "PR", "KO", "DOC", "REG", "RTPLAN", "RTDOSE", "RTRECORD", "PLAN", "FID"}
#: Salt of the patient pseudonyms (set it per site to keep pseudonyms unlinkable across sites).
PSEUDONYM_SALT = os.environ.get("POLYCLR_PSEUDONYM_SALT", "polyclr-volume")


@dataclass
class Series:
    """One image series: ``files`` of ``folder`` with SeriesInstanceUID ``uid``.

    Attributes:
        patient: pseudonymised PatientID (StudyInstanceUID where PatientID is empty).
        multiframe: one enhanced multi-frame file rather than one file per slice.
        modality: DICOM Modality (``MR``, ``CT``, ...).
        name: a readable id without identifiers (folder name + UID tail).
    """

    uid: str
    folder: Path
    files: list[Path]
    patient: str
    modality: str
    multiframe: bool = False

    @property
    def name(self) -> str:
        return f"{self.folder.name}_{self.uid.replace('.', '')[-8:]}"


@dataclass
class LabelObject:
    """A DICOM SEG or RTSTRUCT file and the SeriesInstanceUID it annotates."""

    path: Path
    kind: str  # "seg" or "rtstruct"
    referenced_series: str


@dataclass
class DicomScan:
    """Everything found under a folder: image series, label objects, skipped-object warnings."""

    series: list[Series] = field(default_factory=list)
    labels: list[LabelObject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def label_for(self, series: Series) -> LabelObject | None:
        """The label object annotating ``series`` (refuses two)."""
        found = [lab for lab in self.labels if lab.referenced_series == series.uid]
        if len(found) > 1:
            names = ", ".join(str(lab.path) for lab in found)
            raise DataError(series.folder, f"{len(found)} label objects annotate series {series.name} "
                            f"({names}); keep one")
        return found[0] if found else None


def pseudonym(raw: str, salt: str = PSEUDONYM_SALT) -> str:
    """Salted SHA-256 pseudonym (12 hex digits) of an identifier; the raw value is never stored."""
    import hashlib

    return "p" + hashlib.sha256(f"{salt}:{raw}".encode()).hexdigest()[:12]


def _referenced_series(ds, path: Path) -> str:
    for seq in ("ReferencedSeriesSequence",):  # SEG
        if seq in ds and len(ds[seq].value):
            return str(ds[seq].value[0].SeriesInstanceUID)
    try:  # RTSTRUCT: frame of reference -> study -> series
        study = ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]
        return str(study.RTReferencedSeriesSequence[0].SeriesInstanceUID)
    except (AttributeError, IndexError):
        raise DataError(path, "label object names no referenced image series") from None


def _read_header(path: Path):
    pydicom = require("pydicom", "volume")
    if path.stat().st_size == 0:
        raise DataError(path, "empty file (0 bytes)")
    try:
        return pydicom.dcmread(str(path), stop_before_pixels=True)
    except Exception as exc:  # pydicom raises InvalidDicomError, EOFError, ValueError ...
        raise DataError(path, f"not a readable DICOM file ({type(exc).__name__})") from exc


def _is_dicom(path: Path) -> bool:
    if path.name.upper() == "DICOMDIR" or path.name.startswith("."):
        return False
    return is_dicom_file(path)


def scan_files(files: list[Path], root: Path) -> DicomScan:
    """Classify DICOM ``files`` into image series, label objects and skipped objects."""
    out = DicomScan()
    groups: dict[tuple[Path, str], list[tuple[Path, object]]] = {}
    for f in files:
        ds = _read_header(f)
        sop = str(getattr(ds, "SOPClassUID", ""))
        modality = str(getattr(ds, "Modality", "")).upper()
        if sop in SEG_SOPS or modality == "SEG":
            out.labels.append(LabelObject(f, "seg", _referenced_series(ds, f)))
        elif sop == RTSTRUCT_SOP or modality == "RTSTRUCT":
            out.labels.append(LabelObject(f, "rtstruct", _referenced_series(ds, f)))
        elif modality in NON_IMAGE_MODALITIES or not int(getattr(ds, "Rows", 0) or 0):
            out.warnings.append(f"{f}: skipped non-image DICOM object (modality {modality or '?'})")
        else:
            uid = str(getattr(ds, "SeriesInstanceUID", "") or "")
            if not uid:
                raise DataError(f, "image has no SeriesInstanceUID; cannot tell its series apart")
            groups.setdefault((f.parent, uid), []).append((f, ds))
    for (folder, uid), members in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        ds0 = members[0][1]
        raw = str(getattr(ds0, "PatientID", "") or "") or str(getattr(ds0, "StudyInstanceUID", "") or "")
        multi = [f for f, ds in members if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1]
        if multi and len(members) > 1:
            raise DataError(folder, f"series {uid[-8:]} mixes {len(multi)} multi-frame file(s) with "
                            f"{len(members) - len(multi)} other file(s); give each its own series")
        out.series.append(Series(uid, folder, sorted(f for f, _ in members), pseudonym(raw or str(folder)),
                                 str(getattr(ds0, "Modality", "") or ""), bool(multi)))
    if not out.series and not out.labels:
        raise DataError(root, "holds no DICOM image series")
    return out


@lru_cache(maxsize=64)
def _scan_cached(folder: str, stamp: tuple) -> DicomScan:
    root = Path(folder)
    files = sorted(p for p in root.rglob("*") if p.is_file() and _is_dicom(p)
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    return scan_files(files, root)


def scan_folder(folder: str | Path) -> DicomScan:
    """:func:`scan_files` over every DICOM file under ``folder`` (recursive; cached per folder
    until a file changes)."""
    root = Path(folder)
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(root.rglob("*")) if p.is_file())
    return _scan_cached(str(root.resolve()), stamp)


def _positions(headers: list, series: Series) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the slices along the slice normal, sorted, plus the sort order."""
    orients = {tuple(np.round(np.asarray(h.ImageOrientationPatient, float), 4)) for h in headers}
    if len(orients) > 1:
        raise DataError(series.folder, f"series {series.name} holds slices of {len(orients)} orientations "
                        "(e.g. a localiser); split it into one folder per orientation")
    spacings = {tuple(np.round(np.asarray(h.PixelSpacing, float), 4)) for h in headers}
    shapes = {(int(h.Rows), int(h.Columns)) for h in headers}
    if len(spacings) > 1 or len(shapes) > 1:
        raise DataError(series.folder, f"series {series.name} mixes pixel spacings {sorted(spacings)} "
                        f"or sizes {sorted(shapes)}")
    o = np.asarray(headers[0].ImageOrientationPatient, float)
    normal = np.cross(o[:3], o[3:])  # slice normal: the axis GDCM/highdicom sort along
    pos = np.array([float(np.dot(normal, np.asarray(h.ImagePositionPatient, float))) for h in headers])
    order = np.argsort(pos, kind="stable")
    return pos[order], order


def check_slice_spacing(headers: list, series: Series, rtol: float = 0.01) -> None:
    """Refuse duplicate positions, missing slices and unequal slice spacing (named errors)."""
    if len(headers) < 2:
        return
    pos, _ = _positions(headers, series)
    gaps = np.diff(pos)
    if np.any(gaps < 1e-4):
        raise DataError(series.folder, f"series {series.name} has {int((gaps < 1e-4).sum())} duplicate "
                        "slice positions (several echoes or time points?); split them into series")
    step = float(np.median(gaps))
    if np.all(np.abs(gaps - step) <= rtol * step):
        return
    ratio = gaps / gaps.min()
    if np.all(np.abs(ratio - np.round(ratio)) < 0.05):
        k = int(np.argmax(gaps))
        missing = int(round(float(np.sum(np.round(ratio) - 1))))
        raise DataError(series.folder, f"series {series.name}: {missing} missing slice position(s) "
                        f"(gap of {gaps[k]:.3g} mm at {pos[k]:.4g} mm along the normal, step {gaps.min():.3g} mm)")
    raise DataError(series.folder, f"series {series.name}: unequal slice spacing "
                    f"({gaps.min():.3g} to {gaps.max():.3g} mm); resample it into a regular series")


def _check_size(series: Series, headers: list, max_bytes: int) -> None:
    from polyclr.modalities.volume.volume_data import check_header_size

    h = headers[0]
    frames = int(getattr(h, "NumberOfFrames", 1) or 1) * len(headers)
    bits = int(getattr(h, "BitsAllocated", 16) or 16)
    check_header_size((int(h.Rows), int(h.Columns), frames), max(1, bits // 8), series.files[0], max_bytes)


def load_series_volume(series: Series, max_bytes: int):
    """Assemble ``series`` into a highdicom ``Volume`` (checked first; see the module doc)."""
    pydicom = require("pydicom", "volume")
    hd = require("highdicom", "volume")
    headers = [_read_header(f) for f in series.files]
    _check_size(series, headers, max_bytes)
    try:
        if series.multiframe:
            return hd.imread(str(series.files[0])).get_volume(dtype=np.float32)
        check_slice_spacing(headers, series)
        datasets = [pydicom.dcmread(str(f)) for f in series.files]
        if len(datasets) == 1:
            ds = datasets[0]
            return hd.Volume.from_attributes(
                array=ds.pixel_array[None].astype(np.float32) * float(getattr(ds, "RescaleSlope", 1) or 1)
                + float(getattr(ds, "RescaleIntercept", 0) or 0),
                image_position=ds.ImagePositionPatient, image_orientation=ds.ImageOrientationPatient,
                pixel_spacing=ds.PixelSpacing,
                spacing_between_slices=float(getattr(ds, "SpacingBetweenSlices", 0) or getattr(ds, "SliceThickness", 1) or 1),
                coordinate_system="PATIENT")
        return hd.get_volume_from_series(datasets, dtype=np.float32)
    except DataError:
        raise
    except Exception as exc:  # highdicom / pydicom: geometry or pixel-data problems
        msg = " ".join(str(exc).split())[:200]
        raise DataError(series.folder, f"series {series.name}: cannot assemble a volume "
                        f"({type(exc).__name__}: {msg})") from exc


def volume_to_array(volume) -> tuple[np.ndarray, np.ndarray]:
    """highdicom ``Volume`` -> ``(array (X, Y, Z) float32, RAS affine)`` through nibabel."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = volume.to_nibabel()
    arr = np.asarray(img.dataobj, dtype=np.float32)
    while arr.ndim > 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    return arr, np.asarray(img.affine, dtype=np.float64)
