"""Loading, validating, preprocessing and splitting a volume dataset for the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polyclr.errors import DataError
from polyclr.modalities.volume.datasets import VolumeItem, discover
from polyclr.modalities.volume.io import VolumeData, load_label, load_volume
from polyclr.modalities.volume.transforms import preprocess
from polyclr.pipelines.base import CheckReport


@dataclass
class Case:
    """One preprocessed volume.

    Attributes:
        item: where it came from.
        volume: the loaded (RAS) volume, for writing predictions back.
        data: MONAI dict after preprocessing (``image`` / ``label`` MetaTensors ``(1, X, Y, Z)``).
        transform: the preprocessing ``Compose`` (to invert predictions).
    """

    item: VolumeItem
    volume: VolumeData
    data: dict[str, Any]
    transform: Any

    @property
    def image(self) -> torch.Tensor:
        return torch.as_tensor(self.data["image"].as_tensor()).float()

    @property
    def label(self) -> torch.Tensor | None:
        lab = self.data.get("label")
        return None if lab is None else torch.as_tensor(lab.as_tensor()).round().long()

    @property
    def affine(self) -> np.ndarray:
        return np.asarray(self.data["image"].affine, dtype=np.float64)


def validate(items: list[VolumeItem]) -> tuple[list[tuple[VolumeData, np.ndarray | None]], dict[str, Any], list[str]]:
    """Load every image and label (raising DataError naming the file) and summarise them."""
    loaded = []
    shapes, spacings, values = [], [], set()
    for it in items:
        vol = load_volume(it.image)
        lab = load_label(it.label, vol) if it.label is not None else None
        if lab is not None:
            values.update(int(v) for v in np.unique(lab))
        loaded.append((vol, lab))
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
    return loaded, summary, warnings


def check_dataset(data: Path) -> CheckReport:
    """``polyclr check volume``: validate every file, summarise counts, shapes, spacings, labels."""
    items = discover(data)
    _, summary, warnings = validate(items)
    return CheckReport(summary=summary, warnings=warnings)


def prepare(cfg: Any, data: Path) -> list[Case]:
    """Discover, validate and preprocess every volume of ``data`` (all kept in memory)."""
    items = discover(data)
    loaded, _, _ = validate(items)
    cases = []
    for it, (vol, lab) in zip(items, loaded, strict=True):
        d, t = preprocess(vol, lab, cfg.net.spatial_dims, cfg.data)
        if cfg.net.spatial_dims == 3:
            small = [s for s, p in zip(d["image"].shape[1:], cfg.data.patch_size, strict=True) if s < p]
            if small:
                raise DataError(it.image, f"preprocessed volume {tuple(d['image'].shape[1:])} is smaller than patch")
        cases.append(Case(it, vol, d, t))
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
        if c.label is not None:
            top = max(top, int(c.label.max()))
    return top + 1
