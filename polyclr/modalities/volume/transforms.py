"""Preprocessing and augmentation as MONAI dictionary transforms (invertible where spatial).

Preprocessing: orientation RAS -> resample to a target spacing -> intensity scaling to [0, 1]
(percentiles, or the global CT clip) -> crop to the foreground -> pad/crop to a fixed in-plane
size (2D) or pad to a multiple of the network's down-sampling (3D) -> z-score (MRI: per volume;
CT: global statistics) unless ``normalisation`` is ``percentile``. The spatial steps are tracked by MONAI, so predictions are inverted back
onto the loaded grid with :func:`invert_label`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

from polyclr._optional import require
from polyclr.modalities.volume.io import VolumeData

NORMALISATIONS = ("auto", "percentile", "zscore", "ct")


@dataclass
class PreprocessConfig:
    """Preprocessing settings.

    Empty lists, ``normalisation`` ``auto`` and ``axis`` -1 are filled from the dataset's plan
    (:mod:`polyclr.modalities.volume.plan`); a value set here (YAML, ``--set``) wins over the plan.

    Attributes:
        spacing: target voxel size (mm) per axis; 0 keeps the input spacing on that axis.
        percentiles: lower/upper intensity percentiles mapped to 0/1 (then clipped) before
            cropping (``percentile`` and ``zscore``).
        normalisation: ``percentile`` (the [0, 1] scaling above only), ``zscore`` (then
            per-volume, per-channel z-score: MRI), ``ct`` (clip to ``intensity_stats``' global
            percentiles, then z-score with its global mean / std: CT) or ``auto`` (the plan's).
        intensity_stats: per channel ``[p0.5, p99.5, mean, std]`` of the foreground (``ct``).
        foreground_threshold: scaled intensity above which a voxel is foreground (for cropping).
        crop_foreground: crop to the foreground bounding box.
        slice_size: in-plane size (X, Y) every slice is padded/cropped to (2D).
        patch_size: training patch size (3D); volumes are padded to at least this size.
        axis: the axis along which slices are taken and partitions defined (2 = S after RAS;
            -1: the plan's, the coarsest axis of anisotropic data).
        cache: preprocessed-volume cache: ``memory`` (MONAI CacheDataset, at most
            ``cache_max_gb``), ``disk`` (MONAI PersistentDataset in ``cache_dir``) or ``none``.
        cache_max_gb: RAM budget of the memory cache (volumes beyond it are recomputed on read).
        cache_dir: disk cache folder (empty: ``$POLYCLR_CACHE/volume_preprocessed``).
    """

    spacing: list[float] = field(default_factory=list)
    percentiles: list[float] = field(default_factory=lambda: [1.0, 99.0])
    normalisation: str = "auto"
    intensity_stats: list[list[float]] = field(default_factory=list)
    foreground_threshold: float = 0.1
    crop_foreground: bool = True
    slice_size: list[int] = field(default_factory=list)
    patch_size: list[int] = field(default_factory=list)
    axis: int = 2
    cache: str = "memory"
    cache_max_gb: float = 8.0
    cache_dir: str = ""

    def __post_init__(self) -> None:
        if self.cache not in ("memory", "disk", "none"):
            raise ValueError(f"cache must be memory, disk or none, got {self.cache!r}")
        if self.cache_max_gb < 0:
            raise ValueError(f"cache_max_gb must be >= 0, got {self.cache_max_gb}")
        if len(self.spacing) not in (0, 3) or any(s < 0 for s in self.spacing):
            raise ValueError(f"spacing must be 3 non-negative numbers (or empty: the plan's), got {self.spacing}")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {self.normalisation!r}")
        if len(self.percentiles) != 2 or not 0 <= self.percentiles[0] < self.percentiles[1] <= 100:
            raise ValueError(f"percentiles must be [low, high] in [0, 100], got {self.percentiles}")
        if self.axis not in (-1, 0, 1, 2):
            raise ValueError(f"axis must be 0, 1 or 2 (or -1: the plan's), got {self.axis}")


_PATCH_LOCK = threading.Lock()
_PATCH_STATE: dict[str, Any] = {"depth": 0, "saved": None}


@contextmanager
def monai_safe_tensors() -> Iterator[None]:
    """Run MONAI transforms with PyTorch's own ``Tensor.as_subclass``.

    fastai (imported by tsai) monkey-patches ``torch.Tensor.as_subclass`` process-wide so that
    the result *shares* the source tensor's ``__dict__``. MONAI's ``MetaTensor`` keeps its
    metadata, including the traced ``applied_operations``, in ``__dict__`` and calls
    ``as_subclass`` inside transforms, so under that patch Orientation/Spacing records were lost
    and ``Invertd`` could no longer undo them. This context removes the class-level patch
    (falling back to the C implementation) and puts it back on exit; re-entrant and thread-safe
    (MONAI's CacheDataset preprocesses in threads). A no-op when fastai was never imported.
    """
    with _PATCH_LOCK:
        if _PATCH_STATE["depth"] == 0:
            _PATCH_STATE["saved"] = torch.Tensor.__dict__.get("as_subclass")
            if _PATCH_STATE["saved"] is not None:
                del torch.Tensor.as_subclass
        _PATCH_STATE["depth"] += 1
    try:
        yield
    finally:
        with _PATCH_LOCK:
            _PATCH_STATE["depth"] -= 1
            if _PATCH_STATE["depth"] == 0 and _PATCH_STATE["saved"] is not None:
                torch.Tensor.as_subclass = _PATCH_STATE["saved"]
                _PATCH_STATE["saved"] = None


def _above(x: Any, threshold: float) -> Any:
    return x > threshold


def build_preprocess(spatial_dims: int, cfg: PreprocessConfig, with_label: bool, divisor: int = 16) -> Any:
    """The MONAI ``Compose`` of dictionary transforms for keys ``image`` (and ``label``).

    Args:
        spatial_dims: 2 (pad/crop the in-plane axes to ``slice_size``) or 3 (pad every axis to
            a multiple of ``divisor``, the network's total down-sampling).
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    mt = require("monai.transforms", "volume")
    keys = ("image", "label") if with_label else ("image",)
    modes = ("bilinear", "nearest") if with_label else ("bilinear",)
    steps: list[Any] = [mt.Orientationd(keys=keys, axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S")))]
    if any(s > 0 for s in cfg.spacing):
        pix = tuple(float(s) if s > 0 else -1.0 for s in cfg.spacing)
        steps.append(mt.Spacingd(keys=keys, pixdim=pix, mode=modes))
    if len(cfg.spacing) != 3 or cfg.axis < 0:
        raise ValueError("data.spacing / data.axis are not resolved; apply the dataset's plan first")
    # "auto" outside a pipeline (no dataset plan): the [0, 1] percentile scaling alone
    if cfg.normalisation == "ct":  # global clip, mapped to [0, 1] for cropping
        clip_lo, clip_hi, mean, std = cfg.intensity_stats[0]
        steps.append(mt.ScaleIntensityRanged(keys="image", a_min=clip_lo, a_max=clip_hi, b_min=0.0,
                                             b_max=1.0, clip=True))
    else:
        lo, hi = cfg.percentiles
        steps.append(mt.ScaleIntensityRangePercentilesd(
            keys="image", lower=lo, upper=hi, b_min=0.0, b_max=1.0, clip=True, channel_wise=True))
    if cfg.crop_foreground:
        steps.append(mt.CropForegroundd(
            keys=keys, source_key="image", margin=2, allow_smaller=True,
            select_fn=partial(_above, threshold=cfg.foreground_threshold)))
    if spatial_dims == 2:
        size = [int(cfg.slice_size[0]), int(cfg.slice_size[1])]
        size.insert(cfg.axis, -1)
        steps.append(mt.ResizeWithPadOrCropd(keys=keys, spatial_size=tuple(size)))
    else:
        steps.append(mt.SpatialPadd(keys=keys, spatial_size=tuple(cfg.patch_size)))
        steps.append(mt.DivisiblePadd(keys=keys, k=int(divisor)))
    if cfg.normalisation == "zscore":  # last: padding stays at the background's value
        steps.append(mt.NormalizeIntensityd(keys="image", channel_wise=True))
    elif cfg.normalisation == "ct":  # [0, 1] back to the clip range, z-scored with global stats
        steps.append(mt.ScaleIntensityRanged(keys="image", a_min=0.0, a_max=1.0, b_min=(clip_lo - mean) / std,
                                             b_max=(clip_hi - mean) / std))
    return mt.Compose(steps)


def preprocess(
    vol: VolumeData, label: np.ndarray | None, spatial_dims: int, cfg: PreprocessConfig, divisor: int = 16
) -> tuple[dict[str, Any], Any]:
    """Apply :func:`build_preprocess` to a loaded volume (and its label).

    Returns:
        ``(data, transform)``: ``data["image"]`` is a MetaTensor ``(1, X, Y, Z)`` in [0, 1] with
        its affine; ``data["label"]`` ``(1, X, Y, Z)`` when given; ``transform`` inverts them.
    """
    mdata = require("monai.data", "volume")
    d: dict[str, Any] = {"image": mdata.MetaTensor(vol.array[None].copy(), affine=vol.affine)}
    if label is not None:
        d["label"] = mdata.MetaTensor(label[None].astype(np.float32), affine=vol.affine)
    t = build_preprocess(spatial_dims, cfg, label is not None, divisor)
    with monai_safe_tensors():
        return t(d), t


def invert_label(pred: Any, data: dict[str, Any], transform: Any) -> np.ndarray:
    """Map a label map on the preprocessed grid back onto the loaded (RAS) grid (nearest).

    Shape:
        pred: ``(X', Y', Z')`` integers on the preprocessed grid; returns ``(X, Y, Z)`` int64.
    """
    mt = require("monai.transforms", "volume")
    mdata = require("monai.data", "volume")
    image = data["image"]
    with monai_safe_tensors():
        p = mdata.MetaTensor(np.asarray(pred, dtype=np.float32)[None], affine=image.affine)
        p.applied_operations = list(image.applied_operations)
        inv = mt.Invertd(keys="pred", transform=transform, orig_keys="image", nearest_interp=True)
        out = inv({"pred": p, "image": image})
    return np.rint(np.asarray(out["pred"])[0]).astype(np.int64)


def resample_label_nearest(pred: np.ndarray, pred_affine: np.ndarray, affine: np.ndarray,
                           shape: tuple[int, ...]) -> np.ndarray | None:
    """Nearest-neighbour copy of a label map onto another grid whose axes are parallel to its
    own (what orientation, spacing, crop and pad produce), one index vector per axis: memory of
    the output only, where MONAI's inverse builds a coordinate grid of the full output (gigabytes
    for a CT). Voxels outside ``pred`` become 0. Returns None when the axes are not parallel.

    Shape:
        pred: ``(X', Y', Z')``; returns ``(X, Y, Z)`` = ``shape``, uint8.
    """
    m = np.linalg.inv(np.asarray(pred_affine, float)) @ np.asarray(affine, float)
    if np.max(np.abs(m[:3, :3] - np.diag(np.diag(m[:3, :3])))) > 1e-4 * np.max(np.abs(np.diag(m[:3, :3]))):
        return None
    idx = []
    for a in range(3):
        j = np.rint(m[a, a] * np.arange(shape[a]) + m[a, 3]).astype(np.int64)
        idx.append(j)
    valid = [(j >= 0) & (j < pred.shape[a]) for a, j in enumerate(idx)]
    src = np.asarray(pred).astype(np.uint8, copy=False)
    out = np.zeros(shape, np.uint8)
    sub = src[np.ix_(*[np.clip(j, 0, pred.shape[a] - 1)[v] for a, (j, v) in enumerate(zip(idx, valid, strict=True))])]
    out[np.ix_(*[np.flatnonzero(v) for v in valid])] = sub
    return out
