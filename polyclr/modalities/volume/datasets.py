"""Dataset layouts: MSD / nnU-Net folders, CSV manifests, and plain folders of NIfTI / DICOM.

* MSD / nnU-Net: ``imagesTr/`` (+ ``labelsTr/`` matched by case id), optional ``imagesTs/``
  (+ ``labelsTs/``), optional ``dataset.json`` and optional ``volume_labels.csv`` (``image,label``:
  a volume-level class for classification). Several input channels: MSD 4-D images (channel
  last) or nnU-Net ``case_0000``, ``case_0001`` ... files, named from ``dataset.json``
  (``channel_names`` or ``modality``); a missing channel file is a named error.
* CSV manifest: a ``.csv`` file with columns ``image`` (required), ``label``, ``patient_id``,
  ``split`` and ``class_label`` (optional); paths relative to the CSV's folder.
* Plain folder: every NIfTI file (unlabelled) and every DICOM image series, found recursively
  (:func:`dicom_items`: one volume per series, grouped by pseudonymised patient, labelled by
  the DICOM SEG / RTSTRUCT that references it).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from polyclr._optional import require
from polyclr.errors import DataError
from polyclr.modalities.volume.io import is_dicom_file, is_nifti, volume_id


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
        series: SeriesInstanceUID when ``image`` is a folder of DICOM series.
        channels: further channel files (nnU-Net ``_0001`` ...), same grid as ``image``.
        channel_names: names of all channels (``dataset.json``), empty when unnamed.
    """

    image: Path
    label: Path | None
    case_id: str
    patient_id: str
    split: str = "any"
    class_label: int | None = None
    series: str | None = None
    channels: tuple[Path, ...] = ()
    channel_names: tuple[str, ...] = ()

    def record(self) -> dict:
        """What a MONAI dataset carries for this item (``LoadVolumed`` reads it back)."""
        return {"image": str(self.image), "label": str(self.label) if self.label is not None else None,
                "series": self.series, "channels": [str(c) for c in self.channels]}


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


def channel_names(root: Path) -> list[str]:
    """Input channel names from ``dataset.json`` (nnU-Net v2 ``channel_names`` or MSD
    ``modality``: ``{"0": "T1", "1": "T2"}``), index order; empty when there is none."""
    path = root / "dataset.json"
    if not path.is_file():
        return []
    try:
        meta = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(path, f"not valid JSON ({exc})") from exc
    names = meta.get("channel_names") or meta.get("modality") or {}
    try:
        return [str(names[k]) for k in sorted(names, key=int)]
    except (ValueError, TypeError) as exc:
        raise DataError(path, "'channel_names' / 'modality' keys must be channel indices 0, 1, ...") from exc


def _channel_index(path: Path) -> int | None:
    name = volume_id(path)
    return int(name[-4:]) if len(name) > 5 and name[-5] == "_" and name[-4:].isdigit() else None


def _image_channels(path: Path) -> int:
    nib = require("nibabel", "volume")
    try:
        shape = nib.load(str(path)).header.get_data_shape()
    except Exception:  # unreadable files are reported by the loader, naming the problem
        return 1
    return int(shape[3]) if len(shape) > 3 else 1


def _cases(folder: Path, names: list[str]) -> list[tuple[str, Path, tuple[Path, ...]]]:
    """``(case id, first channel file, further channel files)`` per case of an images folder:
    nnU-Net ``case_0000``, ``case_0001`` ... files, or MSD files (4-D for several channels)."""
    grouped: dict[str, dict[int, Path]] = {}
    plain: list[Path] = []
    for img in _nifti_files(folder):
        idx = _channel_index(img)
        if idx is None:
            plain.append(img)
        else:
            grouped.setdefault(_case_id(img), {})[idx] = img
    out = []
    n = len(names) or max([max(g) + 1 for g in grouped.values()] or [1])
    for cid, files in sorted(grouped.items()):
        if n > 1 and not names:
            raise DataError(files[min(files)], f"case {cid} has {n} channel files but {folder.parent}/"
                            "dataset.json names no channels (add 'channel_names')")
        for i in range(n):
            if i not in files:
                raise DataError(files[min(files)], f"case {cid} lacks channel {i:04d} ({names[i] if names else i})")
        extra = sorted(set(files) - set(range(n)))
        if extra:
            raise DataError(files[extra[0]], f"channel {extra[0]:04d} is not among the {n} channels "
                            f"dataset.json names ({', '.join(names)})")
        out.append((cid, files[0], tuple(files[i] for i in range(1, n))))
    for img in plain:
        c = _image_channels(img)
        if c > 1 and len(names) != c:
            raise DataError(img, f"4-D image with {c} channels but dataset.json names "
                            f"{len(names) or 'no'} channels (add 'channel_names' or 'modality')")
        out.append((_case_id(img), img, ()))
    return out


def _msd(root: Path) -> list[VolumeItem]:
    classes = _class_labels(root)
    names = channel_names(root)
    items: list[VolumeItem] = []
    for img_dir, lab_dir, split in (("imagesTr", "labelsTr", "any"), ("imagesTs", "labelsTs", "test")):
        folder = root / img_dir
        if not folder.is_dir():
            continue
        labels = {}
        if (root / lab_dir).is_dir():
            labels = {_case_id(p): p for p in _nifti_files(root / lab_dir)}
        for cid, img, extra in _cases(folder, names):
            split_here = split if split == "test" and cid in labels else ("any" if split == "any" else "unlabelled")
            items.append(VolumeItem(img, labels.get(cid), cid, cid, split_here, classes.get(cid),
                                    channels=extra, channel_names=tuple(names)))
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


def dicom_items(root: Path) -> list[VolumeItem]:
    """One item per DICOM image series under ``root`` (never two series merged), grouped by
    pseudonymised patient, labelled by the SEG / RTSTRUCT object that references it.

    Raises:
        DataError: a label object whose referenced series is absent, two labels for one series.
    """
    import warnings

    from polyclr.modalities.volume.dicom import scan_folder

    scan = scan_folder(root)
    for w in scan.warnings:
        warnings.warn(w, stacklevel=2)
    present = {s.uid for s in scan.series}
    for lab in scan.labels:
        if lab.referenced_series not in present:
            raise DataError(lab.path, f"{lab.kind.upper()} references series ...{lab.referenced_series[-8:]}, "
                            f"which is absent from {root}")
    items = []
    for s in scan.series:
        lab = scan.label_for(s)
        items.append(VolumeItem(s.folder, lab.path if lab else None, s.name, s.patient,
                                "any" if lab else "unlabelled", series=s.uid))
    return items


def _plain(root: Path) -> list[VolumeItem]:
    items: list[VolumeItem] = []
    has_dicom = False
    for p in sorted(root.rglob("*")):
        if any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        if p.is_file() and is_nifti(p):
            cid = str(p.relative_to(root)).replace("/", "__")
            items.append(VolumeItem(p, None, volume_id(Path(cid)), volume_id(Path(cid)), "unlabelled"))
        elif p.is_file() and not has_dicom and is_dicom_file(p):
            has_dicom = True
    if has_dicom:
        items += dicom_items(root)
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
        if is_nifti(root):
            return [VolumeItem(root, None, _case_id(root), _case_id(root), "unlabelled")]
        if is_dicom_file(root):  # the series of this file
            from polyclr.modalities.volume.dicom import scan_files

            s = scan_files([root], root.parent).series[0]
            return [VolumeItem(root, None, s.name, s.patient, "unlabelled")]
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
