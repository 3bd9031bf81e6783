"""The volume pipeline's data: open (read + validate once), preprocess through a MONAI cache,
split by patient, and the slices that dataset selection sees."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from polyclr.engine.progress import note, track
from polyclr.errors import DataError
from polyclr.modalities.volume.cache import cached_dataset
from polyclr.modalities.volume.data import seed_from_torch
from polyclr.modalities.volume.datasets import VolumeItem, discover
from polyclr.modalities.volume.io import VolumeData, load_label, load_volume
from polyclr.modalities.volume.transforms import build_preprocess
from polyclr.pipelines.base import Prepared
from polyclr.pipelines.volume.config import VolumeConfig
from polyclr.rundir import is_rank_zero
from polyclr.selection.core import natural_key
from polyclr.selection.sources import ItemSet, is_nifti, slice_positions


@dataclass
class Case:
    """One volume, preprocessed on demand through a MONAI (cache) dataset.

    Attributes:
        item: where it came from.
        source: the MONAI ``CacheDataset`` / ``PersistentDataset`` / ``Dataset`` holding it.
        index: its index in ``source``.
        transform: the preprocessing ``Compose`` of this case (to invert predictions).
    """

    item: VolumeItem
    source: Any
    index: int
    transform: Any

    @property
    def data(self) -> dict[str, Any]:
        """MONAI dict after preprocessing (``image`` / ``label`` MetaTensors ``(1, X, Y, Z)``)."""
        return self.source[self.index]

    @property
    def volume(self) -> VolumeData:
        """The loaded (RAS) volume, for writing predictions back onto its grid."""
        return load_volume(self.item.image, series=self.item.series, channels=self.item.channels)

    @property
    def image(self) -> torch.Tensor:
        return torch.as_tensor(self.data["image"].as_tensor()).float()

    @property
    def label(self) -> torch.Tensor | None:
        if self.item.label is None:
            return None
        return torch.as_tensor(self.data["label"].as_tensor()).round().long()

    @property
    def affine(self) -> np.ndarray:
        return np.asarray(self.data["image"].affine, dtype=np.float64)


class CaseField(Sequence):
    """Lazy read-only sequence ``case.<name>`` over cases: datasets index it like a list while the
    volumes stay in the (size-bounded) cache instead of a second in-memory copy."""

    def __init__(self, cases: list[Case], name: str) -> None:
        self.cases, self.name = cases, name

    def __len__(self) -> int:
        return len(self.cases)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [getattr(c, self.name) for c in self.cases[i]]
        return getattr(self.cases[i], self.name)


def validate(items: list[VolumeItem]) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """Load every image and label (raising DataError naming the file), summarise them and take
    the dataset's fingerprint (:mod:`polyclr.modalities.volume.plan`); one volume in memory at a
    time."""
    from polyclr.modalities.volume.plan import Fingerprinter

    shapes, spacings, values = [], [], set()
    fpr, channels = Fingerprinter(), None
    for it in track(items, "reading volumes", unit="volumes", quiet_start=True):
        vol = load_volume(it.image, series=it.series, channels=it.channels)
        if channels is not None and vol.channels != channels:
            raise DataError(it.image, f"has {vol.channels} channel(s), the other volumes {channels}")
        channels = vol.channels
        lab = load_label(it.label, vol) if it.label is not None else None
        if lab is not None:
            values.update(int(v) for v in np.unique(lab))
        fpr.add(vol, lab, it.channel_names)
        shapes.append(vol.array.shape[:3])
        spacings.append(vol.spacing)
    sp = np.array(spacings)
    sh = np.array(shapes)
    n_lab = sum(1 for it in items if it.label is not None)
    summary = {
        "volumes": len(items),
        "labelled": n_lab,
        "unlabelled": len(items) - n_lab,
        "fixed_test": sum(1 for it in items if it.split == "test"),
        "patients": len({it.patient_id for it in items}),
        "channels": channels,
        "shape_min": "x".join(str(int(v)) for v in sh.min(0)),
        "shape_max": "x".join(str(int(v)) for v in sh.max(0)),
        "spacing_min_mm": "x".join(f"{v:.3g}" for v in sp.min(0)),
        "spacing_max_mm": "x".join(f"{v:.3g}" for v in sp.max(0)),
        "label_values": sorted(values),
        "class_labels": sum(1 for it in items if it.class_label is not None),
    }
    warnings = []
    if n_lab == 0:
        warnings.append("no label maps: pre-training only (fine-tuning needs labelled volumes)")
    if len(values) == 1:
        warnings.append(f"label maps hold a single value {sorted(values)}")
    return summary, warnings, fpr.result()


@dataclass(kw_only=True)
class VolumePrepared(Prepared):
    """A volume dataset read and validated once (:func:`open_dataset`).

    Attributes:
        items: the discovered volumes (image, label, patient, split, class label).
        fingerprint: spacings, shapes, channels, intensities, modality, class frequencies (the
            plan's input).
        cases: the preprocessed cases, built on first use by :func:`load_cases` (they depend on
            the preprocessing config and the network's down-sampling).
    """

    items: list[VolumeItem]
    fingerprint: dict[str, Any] = field(default_factory=dict)
    cases: list[Case] | None = field(default=None, repr=False)


def open_dataset(data: Path) -> VolumePrepared:
    """Discover every volume of ``data`` and validate each image and label once."""
    items = discover(Path(data))
    summary, warnings, fp = validate(items)
    return VolumePrepared(path=Path(data), summary=summary, warnings=warnings, items=items, fingerprint=fp)


def resolve(cfg: Any, data: Path | VolumePrepared) -> tuple[Any, VolumePrepared, dict[str, Any]]:
    """Open ``data`` (unless opened) and fill the config keys left to the dataset's plan.

    Returns:
        ``(resolved cfg, opened dataset, plan record for OUT/plan.json)``.
    """
    from polyclr.modalities.volume.plan import apply_plan

    prep = data if isinstance(data, VolumePrepared) else open_dataset(Path(data))
    cfg, record = apply_plan(cfg, prep.fingerprint)
    return cfg, prep, record


def load_cases(cfg: Any, prep: VolumePrepared, divisor: int) -> list[Case]:
    """Preprocess the opened volumes through a MONAI cache dataset (``cfg.data.cache``: memory
    within ``cache_max_gb`` / disk / none); cached on ``prep`` for the rest of the command.

    Args:
        divisor: 3D: pad each axis to a multiple of it (the network's down-sampling).
    """
    from polyclr.config import to_dict

    if prep.cases is not None:
        return prep.cases
    items = prep.items
    note(f"preprocessing {len(items)} volumes (cache: {cfg.data.cache})")
    from polyclr.modalities.volume.load_transform import LoadPreprocessd  # imports MONAI (seconds)

    dims = cfg.net.spatial_dims
    t_lab = build_preprocess(dims, cfg.data, True, divisor)
    t_img = build_preprocess(dims, cfg.data, False, divisor)
    records = [it.record() for it in items]
    settings = {"data": to_dict(cfg.data), "spatial_dims": dims, "divisor": divisor, "version": 1}
    source = cached_dataset(records, LoadPreprocessd(t_lab, t_img), cfg.data.cache,
                            cfg.data.cache_max_gb, cfg.data.cache_dir or None, settings,
                            list(cfg.data.spacing))
    cases = [Case(it, source, i, t_lab if it.label is not None else t_img) for i, it in enumerate(items)]
    if dims == 3:
        for c in cases:
            shape = c.data["image"].shape[1:]
            if any(s < p for s, p in zip(shape, cfg.data.patch_size, strict=True)):
                raise DataError(c.item.image, f"preprocessed volume {tuple(shape)} is smaller than patch")
    prep.cases = cases
    return cases


def prepare(cfg: Any, data: Path | VolumePrepared, divisor: int | None = None) -> list[Case]:
    """Open ``data`` (unless already opened) and return its preprocessed cases.

    Args:
        divisor: 3D: pad each axis to a multiple of it (default: the network's down-sampling).
    """
    from polyclr.modalities.volume.plan import needs_plan
    from polyclr.pipelines.volume.config import build_net

    prep = data if isinstance(data, VolumePrepared) else open_dataset(Path(data))
    if needs_plan(cfg):
        cfg, prep, _ = resolve(cfg, prep)
    if divisor is None:
        divisor = build_net(cfg, 2).divisor
    return load_cases(cfg, prep, divisor)


def split_cases(cfg: Any, cases: list[Case], out: Path | None) -> dict[str, list[Case]]:
    """Patient-disjoint split of labelled cases into train/test; unlabelled cases pre-train only.

    Layout-given test cases (``imagesTs`` with labels, manifest ``split=test``) stay test.
    Records ``splits.json`` in ``out`` (when given) through :mod:`polyclr.splits`.
    """
    from polyclr.splits import assert_group_disjoint, group_split, write_split_record

    fixed_test = [c for c in cases if c.item.split == "test" and c.item.label is not None]
    labelled = [c for c in cases if c.item.label is not None and c.item.split != "test"]
    forced_train = [c for c in labelled if c.item.split == "train"]
    free = [c for c in labelled if c.item.split == "any"]
    unlabelled = [c for c in cases if c.item.label is None]
    train, test = list(forced_train), list(fixed_test)
    if free and not fixed_test:
        groups = [c.item.patient_id for c in free]
        if len(set(groups)) < 2:
            raise DataError(None, "need labelled volumes of at least 2 patients to hold out a test set")
        idx = group_split(groups, test_size=cfg.split.test_size, seed=cfg.split.split_seed,
                          source="volume")
        train += [free[i] for i in idx["train"]] + [free[i] for i in idx.get("val", [])]
        test += [free[i] for i in idx["test"]]
    else:
        train += free
    groups = {"train": [c.item.patient_id for c in train], "test": [c.item.patient_id for c in test]}
    assert_group_disjoint(groups, source="volume")
    test_groups = set(groups["test"])
    # unlabelled volumes of test patients never enter pre-training (no leakage)
    pre_only = [c for c in unlabelled if c.item.patient_id not in test_groups]
    if out is not None:
        record = dict(groups)
        record["pretrain_only"] = [c.item.patient_id for c in pre_only
                                   if c.item.patient_id not in set(groups["train"])]
        write_split_record(out, record, cfg.split.deidentify_salt or None)
    return {"train": train, "test": test, "pretrain": train + pre_only}


def num_classes(cases: list[Case]) -> int:
    """Classes = largest label value + 1 over all labelled cases (at least 2)."""
    top = 1
    for c in cases:
        if c.item.label is not None:
            top = max(top, int(c.label.max()))
    return top + 1


def combinations(train: list[Case], k: int, n: int, seed: int) -> list[list[Case]]:
    """``n`` fixed, distinct sets of ``k`` training volumes (deterministic in ``seed``, ``k``)."""
    idx = list(range(len(train)))
    total = math.comb(len(idx), k)
    if total <= n:
        return [[train[i] for i in c] for c in itertools.combinations(idx, k)]
    rng = np.random.default_rng([seed, k])
    seen: list[tuple[int, ...]] = []
    while len(seen) < n:
        c = tuple(sorted(rng.choice(idx, size=k, replace=False).tolist()))
        if c not in seen:
            seen.append(c)
    return [[train[i] for i in c] for c in seen]


def volume_input(cfg: VolumeConfig, case: Case) -> torch.Tensor:
    """All slices of a preprocessed volume, ``(Z, 1, H, W)`` (2D), or the volume ``(1, X, Y, Z)``."""
    img = case.image.float()
    return img.movedim(cfg.data.axis + 1, 0) if cfg.net.spatial_dims == 2 else img


def class_names(data: Path, n: int) -> list[str]:
    """Segmentation class names from ``data/dataset.json``'s ``labels`` (``class_<i>`` where
    absent), index order; used for the per-class Dice keys."""
    import json

    names = {i: f"class_{i}" for i in range(n)}
    ds = data / "dataset.json" if data.is_dir() else None
    if ds is not None and ds.is_file():
        try:
            labels = json.loads(ds.read_text()).get("labels", {})
            for k, v in labels.items():
                if str(v).isdigit():
                    names[int(v)] = k
                elif str(k).isdigit():
                    names[int(k)] = str(v)
        except (ValueError, AttributeError):
            pass
    return [names[i] for i in range(1, n)]


def apply_selection(cfg: Any, cases: list[Case], out: Path | None = None
                     ) -> list[np.ndarray] | None:
    """Redundancy-reducing selection of pre-training slices (``cfg.selection``).

    Slices along ``data.axis`` of every pre-training volume go through
    :func:`polyclr.selection.select_items` (grouped per volume, in physical order, positions in
    mm from the affine). Returns one keep-mask per volume (None when selection is off); the
    selection table is written to ``out/selection.csv``.
    """
    if cfg.selection.method == "none":
        return None
    from polyclr.selection import select_items

    axis = cfg.data.axis
    images, groups, positions, names = [], [], [], []
    for vi, c in enumerate(cases):
        vol = c.image[0].movedim(axis, 0).numpy()  # (n_planes, ., .)
        aff = c.affine
        world = int(np.argmax(np.abs(aff[:3, axis])))
        mm = aff[world, axis] * np.arange(vol.shape[0]) + aff[world, 3]
        images.append(vol)
        groups += [vi] * vol.shape[0]
        positions += mm.tolist()
        names += [f"{c.item.case_id}:{k}" for k in range(vol.shape[0])]
    result = select_items(np.concatenate(images), groups=np.array(groups), positions=np.array(positions),
                          item_names=names, config=cfg.selection)
    kept = np.asarray(result.table["kept"], dtype=bool)
    if out is not None and is_rank_zero():  # one writer under DDP
        result.table.to_csv(out / "selection.csv", index=False)
    masks, start = [], 0
    for im in images:
        masks.append(kept[start:start + im.shape[0]])
        start += im.shape[0]
    return masks


def _volume_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    msd = [path / "imagesTr", path / "imagesTs"]
    if any(d.is_dir() for d in msd):
        files = [f for d in msd if d.is_dir() for f in d.iterdir() if is_nifti(f)]
    else:
        files = [f for f in path.rglob("*") if f.is_file() and is_nifti(f)]
    if not files:
        dicom_dirs = sorted({f.parent for f in path.rglob("*") if f.is_file()
                             and f.suffix.lower() in (".dcm", ".ima", ".dicom")})
        return dicom_dirs
    return sorted(files, key=lambda f: natural_key(str(f)))


def selection_items(path: Path, axis: int = 2) -> ItemSet:
    """What ``polyclr select volume`` sees: each 3D volume under ``path`` (a NIfTI file, a
    folder searched recursively, an MSD task folder's ``imagesTr``/``imagesTs``, or DICOM series
    folders) is a group of its slices along RAS axis ``axis``, each positioned at the world
    coordinate (mm) of its centre. Folders of single-slice files are one group per folder,
    ordered by each file's affine position, not by its name."""
    files = _volume_files(path)
    if not files:
        raise DataError(path, "no NIfTI or DICOM volumes found")
    root = path if path.is_dir() else path.parent
    items, groups, positions, names = [], [], [], []
    volumes: dict[str, np.ndarray] = {}
    for f in track(files, "select: reading volumes", unit="volumes", quiet_start=True):
        vol = load_volume(f)
        arr = vol.array
        rel = str(f.relative_to(root)) if f != root else f.name
        pos = slice_positions(vol.affine, arr.shape, axis)
        if arr.shape[axis] == 1:  # single-slice file: its folder is the group
            group = str(f.parent.relative_to(root)) if f.parent != root else root.name
            items.append(np.take(arr, 0, axis=axis))
            groups.append(group)
            positions.append(float(pos[0]))
            names.append(rel)
            continue
        volumes[rel] = arr
        for k in range(arr.shape[axis]):
            items.append(np.take(arr, k, axis=axis))
            groups.append(rel)
            positions.append(float(pos[k]))
            names.append(f"{rel}:{k}")
    return ItemSet(items, groups, np.asarray(positions), names, "volume", "mm", volumes)


class VolumeLabelDataset(Dataset):
    """One item per volume: 2D, ``slices`` slices drawn one per equal-width stratum along the
    slice axis (a random slice in each, so every part of the volume is represented in each
    step); 3D, the whole volume (batch size 1, volumes differ in size).

    Shape:
        item: ``(x, y)``: x ``(slices, 1, H, W)`` or ``(1, X, Y, Z)``, y scalar long.
    """

    def __init__(self, cfg: VolumeConfig, cases: list[Case], slices: int) -> None:
        if slices < 1:
            raise ValueError(f"slices must be >= 1, got {slices}")
        self.cfg, self.cases, self.slices = cfg, cases, slices

    def __len__(self) -> int:
        return len(self.cases)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        case = self.cases[i]
        x = volume_input(self.cfg, case)
        if self.cfg.net.spatial_dims == 2:
            rng = np.random.default_rng(seed_from_torch())
            edges = np.linspace(0, x.shape[0], self.slices + 1)
            lo, hi = np.floor(edges[:-1]), np.maximum(np.floor(edges[1:]), np.floor(edges[:-1]) + 1)
            idx = np.minimum((lo + rng.random(self.slices) * (hi - lo)).astype(np.int64), x.shape[0] - 1)
            x = x[torch.from_numpy(idx)]
        return x, torch.tensor(int(case.item.class_label), dtype=torch.long)
