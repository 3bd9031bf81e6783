"""Dataset layouts: MSD / nnU-Net folders, CSV manifests, and plain folders of NIfTI / DICOM.

* MSD / nnU-Net: ``imagesTr/`` (+ ``labelsTr/`` matched by case id; nnU-Net's ``_0000`` channel
  suffix is understood), optional ``imagesTs/`` (+ ``labelsTs/``), optional ``dataset.json`` and
  optional ``volume_labels.csv`` (``image,label``: a volume-level class for classification).
* CSV manifest: a ``.csv`` file with columns ``image`` (required), ``label``, ``patient_id``,
  ``split`` and ``class_label`` (optional); paths relative to the CSV's folder.
* Plain folder: every NIfTI file and every folder holding a DICOM series, found recursively,
  all unlabelled (for pre-training).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from polyclr.errors import DataError
from polyclr.modalities.volume.io import dicom_series_files, is_dicom_file, is_nifti, volume_id


@dataclass
class VolumeItem:
    """One volume of a dataset.

    Attributes:
        image: NIfTI file or DICOM series directory.
        label: label map (same grid), or None when unlabelled.
        case_id: volume id (from the file name).
        patient_id: group id used for patient-disjoint splits (case id when unknown).
        split: ``train``, ``test`` (fixed test set given by the layout) or ``any``.
        class_label: volume-level class for classification, or None.
    """

    image: Path
    label: Path | None
    case_id: str
    patient_id: str
    split: str = "any"
    class_label: int | None = None


def _case_id(path: Path) -> str:
    cid = volume_id(path)
    if len(cid) > 5 and cid[-5] == "_" and cid[-4:].isdigit():  # nnU-Net channel suffix _0000
        cid = cid[:-5]
    return cid


def _nifti_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_nifti(p) and not p.name.startswith("."))


def _class_labels(root: Path) -> dict[str, int]:
    path = root / "volume_labels.csv"
    if not path.is_file():
        return {}
    out: dict[str, int] = {}
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"image", "label"} <= set(reader.fieldnames):
            raise DataError(path, "volume_labels.csv needs columns image,label")
        for row in reader:
            try:
                out[_case_id(Path(row["image"]))] = int(row["label"])
            except ValueError as exc:
                raise DataError(path, f"class label {row['label']!r} is not an integer") from exc
    return out


def _msd(root: Path) -> list[VolumeItem]:
    classes = _class_labels(root)
    items: list[VolumeItem] = []
    for img_dir, lab_dir, split in (("imagesTr", "labelsTr", "any"), ("imagesTs", "labelsTs", "test")):
        folder = root / img_dir
        if not folder.is_dir():
            continue
        labels = {}
        if (root / lab_dir).is_dir():
            labels = {_case_id(p): p for p in _nifti_files(root / lab_dir)}
        for img in _nifti_files(folder):
            name = volume_id(img)
            if len(name) > 5 and name[-5] == "_" and name[-4:].isdigit() and not name.endswith("_0000"):
                continue  # further channels of a multi-channel nnU-Net case: first channel only
            cid = _case_id(img)
            split_here = split if split == "test" and cid in labels else ("any" if split == "any" else "unlabelled")
            items.append(VolumeItem(img, labels.get(cid), cid, cid, split_here, classes.get(cid)))
    if not items:
        raise DataError(root, "imagesTr/ holds no .nii or .nii.gz files")
    return items


def _manifest(path: Path) -> list[VolumeItem]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = set(reader.fieldnames or [])
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(path, f"unreadable CSV manifest ({exc})") from exc
    if "image" not in fields:
        raise DataError(path, "manifest needs an 'image' column (optional: label, patient_id, split, class_label)")
    if not rows:
        raise DataError(path, "manifest has no rows")
    items = []
    for i, row in enumerate(rows, start=2):
        img = (path.parent / row["image"]).resolve() if row.get("image") else None
        if img is None or not img.exists():
            raise DataError(path, f"line {i}: image {row.get('image')!r} not found")
        lab = None
        if row.get("label"):
            lab = (path.parent / row["label"]).resolve()
            if not lab.exists():
                raise DataError(path, f"line {i}: label {row['label']!r} not found")
        cid = _case_id(img)
        cls = row.get("class_label") or None
        try:
            cls_val = int(cls) if cls is not None else None
        except ValueError as exc:
            raise DataError(path, f"line {i}: class_label {cls!r} is not an integer") from exc
        split = (row.get("split") or "any").strip().lower()
        if split not in ("any", "train", "test"):
            raise DataError(path, f"line {i}: split must be train, test or empty, got {split!r}")
        items.append(VolumeItem(img, lab, cid, row.get("patient_id") or cid, split, cls_val))
    return items


def _plain(root: Path) -> list[VolumeItem]:
    items: list[VolumeItem] = []
    seen_dicom_dirs: set[Path] = set()
    for p in sorted(root.rglob("*")):
        if any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        if p.is_file() and is_nifti(p):
            cid = str(p.relative_to(root)).replace("/", "__")
            items.append(VolumeItem(p, None, volume_id(Path(cid)), volume_id(Path(cid)), "unlabelled"))
        elif p.is_file() and p.parent not in seen_dicom_dirs and is_dicom_file(p):
            seen_dicom_dirs.add(p.parent)
            if dicom_series_files(p.parent):
                cid = str(p.parent.relative_to(root)).replace("/", "__") or root.name
                items.append(VolumeItem(p.parent, None, cid, cid, "unlabelled"))
    return items


def discover(data: str | Path) -> list[VolumeItem]:
    """Find the volumes of a dataset in any supported layout.

    Raises:
        DataError: the path holds no usable layout or no volumes.
    """
    root = Path(data)
    if not root.exists():
        raise DataError(root, "no such file or directory")
    if root.is_file():
        if root.suffix.lower() == ".csv":
            return _manifest(root)
        if is_nifti(root) or is_dicom_file(root):
            return [VolumeItem(root, None, _case_id(root), _case_id(root), "unlabelled")]
        raise DataError(root, "expected a dataset folder, a CSV manifest, a NIfTI file or DICOM")
    if (root / "imagesTr").is_dir() or (root / "dataset.json").is_file():
        return _msd(root)
    manifests = sorted(root.glob("*.csv"))
    if len(manifests) == 1 and manifests[0].name != "volume_labels.csv":
        return _manifest(manifests[0])
    items = _plain(root)
    if not items:
        raise DataError(root, "no NIfTI files or DICOM series found")
    return items
