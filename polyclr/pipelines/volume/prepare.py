"""Loading, validating, preprocessing and splitting a volume dataset for the pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polyclr.errors import DataError
from polyclr.modalities.volume.cache import LoadVolumed, _Deterministic, cached_dataset
from polyclr.modalities.volume.datasets import VolumeItem, discover
from polyclr.modalities.volume.io import VolumeData, load_label, load_volume
from polyclr.modalities.volume.transforms import build_preprocess, monai_safe_tensors
from polyclr.pipelines.base import CheckReport


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
        return load_volume(self.item.image)

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


class _Preprocess(_Deterministic):
    """Load (validating readers) then the preprocessing ``Compose`` for labelled / unlabelled
    (a deterministic MONAI ``Transform``, so the cache datasets cache its output)."""

    def __init__(self, with_label: Any, without_label: Any) -> None:
        self.with_label, self.without_label = with_label, without_label
        self.load = LoadVolumed()

    def __call__(self, d: dict[str, Any]) -> dict[str, Any]:
        with monai_safe_tensors():
            d = self.load(d)
            t = self.with_label if d.get("label") is not None else self.without_label
            return t({k: v for k, v in d.items() if k in ("image", "label")})


def validate(items: list[VolumeItem]) -> tuple[dict[str, Any], list[str]]:
    """Load every image and label (raising DataError naming the file) and summarise them; one
    volume in memory at a time."""
    shapes, spacings, values = [], [], set()
    for it in items:
        vol = load_volume(it.image)
        lab = load_label(it.label, vol) if it.label is not None else None
        if lab is not None:
            values.update(int(v) for v in np.unique(lab))
        shapes.append(vol.array.shape)
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
    return summary, warnings


def check_dataset(data: Path) -> CheckReport:
    """``polyclr check volume``: validate every file, summarise counts, shapes, spacings, labels."""
    items = discover(data)
    summary, warnings = validate(items)
    return CheckReport(summary=summary, warnings=warnings)


def prepare(cfg: Any, data: Path, divisor: int | None = None) -> list[Case]:
    """Discover and validate every volume of ``data``, then preprocess through a MONAI cache
    dataset (``cfg.data.cache``: memory within ``cache_max_gb`` / disk / none).

    Args:
        divisor: 3D: pad each axis to a multiple of it (default: the network's down-sampling).
    """
    from polyclr.config import to_dict

    items = discover(data)
    validate(items)
    if divisor is None:
        from polyclr.pipelines.volume.train import build_net

        divisor = build_net(cfg, 2).divisor
    dims = cfg.net.spatial_dims
    t_lab = build_preprocess(dims, cfg.data, True, divisor)
    t_img = build_preprocess(dims, cfg.data, False, divisor)
    records = [{"image": str(it.image), "label": str(it.label) if it.label is not None else None}
               for it in items]
    settings = {"data": to_dict(cfg.data), "spatial_dims": dims, "divisor": divisor, "version": 1}
    source = cached_dataset(records, _Preprocess(t_lab, t_img), cfg.data.cache, cfg.data.cache_max_gb,
                            cfg.data.cache_dir or None, settings, list(cfg.data.spacing))
    cases = [Case(it, source, i, t_lab if it.label is not None else t_img) for i, it in enumerate(items)]
    if dims == 3:
        for c in cases:
            shape = c.data["image"].shape[1:]
            if any(s < p for s, p in zip(shape, cfg.data.patch_size, strict=True)):
                raise DataError(c.item.image, f"preprocessed volume {tuple(shape)} is smaller than patch")
    return cases


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
        idx = group_split(groups, test_size=cfg.finetune.test_fraction, seed=cfg.finetune.split_seed,
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
        write_split_record(out, record)
    return {"train": train, "test": test, "pretrain": train + pre_only}


def num_classes(cases: list[Case]) -> int:
    """Classes = largest label value + 1 over all labelled cases (at least 2)."""
    top = 1
    for c in cases:
        if c.item.label is not None:
            top = max(top, int(c.label.max()))
    return top + 1
