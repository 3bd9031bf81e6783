"""Preprocessed-volume caching on MONAI's datasets, within a RAM budget.

* ``memory``: MONAI ``CacheDataset``; at most ``cache_max_gb`` of preprocessed volumes are held
  in RAM (the share that fits, estimated from the file headers and the target spacing); the rest
  are preprocessed again each time they are read.
* ``disk``: MONAI ``PersistentDataset``; preprocessed volumes are written once to ``cache_dir``
  and read back (the key covers the file paths, sizes, modification times and the preprocessing
  settings, so a changed file or setting never hits a stale entry).
* ``none``: MONAI ``Dataset``: preprocess on every read (smallest memory, slowest).

The loading step is :class:`~polyclr.modalities.volume.load_transform.LoadVolumed`, a MONAI map
transform over polyclr's validating readers, so every bad file still becomes a ``DataError``
naming it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from polyclr._optional import require

CACHE_MODES = ("memory", "disk", "none")


def _file_key(path: str | Path) -> list[Any]:
    p = Path(path)
    files = sorted(p.rglob("*")) if p.is_dir() else [p]
    return [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files if f.is_file()]


def estimated_bytes(path: str | Path, spacing: list[float], with_label: bool) -> int:
    """Size of one preprocessed volume (float32 image [+ label]) from its header alone."""
    from polyclr.modalities.volume.io import is_nifti

    nib = require("nibabel", "volume")
    if not is_nifti(Path(path)):
        return 64 * 2**20  # DICOM series: no cheap header; assume 64 MiB
    hdr = nib.load(str(path)).header
    shape, zooms = hdr.get_data_shape()[:3], hdr.get_zooms()[:3]
    voxels = float(np.prod(hdr.get_data_shape()[3:4] or (1,)))  # channels of a 4-D image
    for n, z, s in zip(shape, zooms, spacing, strict=False):
        voxels *= n * (float(z) / s if s > 0 else 1.0)
    return int(voxels * 4 * (2 if with_label else 1))


def cached_dataset(items: list[dict[str, Any]], transform: Any, mode: str = "memory",
                   max_gb: float = 8.0, cache_dir: str | Path | None = None,
                   settings: dict[str, Any] | None = None, spacing: list[float] | None = None) -> Any:
    """A MONAI dataset over ``items`` (``{"image": path, "label": path or None}``).

    Args:
        transform: starts with ``load_transform.LoadVolumed``.
        mode: ``memory`` (CacheDataset within ``max_gb``), ``disk`` (PersistentDataset in
            ``cache_dir``) or ``none`` (Dataset).
        settings: preprocessing settings, part of the disk-cache key.
        spacing: target spacing (mm), for the memory estimate.

    Raises:
        ValueError: unknown mode, negative budget.
    """
    if mode not in CACHE_MODES:
        raise ValueError(f"cache mode must be one of {CACHE_MODES}, got {mode!r}")
    if max_gb < 0:
        raise ValueError(f"cache_max_gb must be >= 0, got {max_gb}")
    mdata = require("monai.data", "volume")
    if mode == "none":
        return mdata.Dataset(items, transform)
    if mode == "disk":
        from polyclr.modalities.volume.reference import default_cache

        folder = Path(cache_dir) if cache_dir else default_cache() / "volume_preprocessed"
        folder.mkdir(parents=True, exist_ok=True)
        salt = hashlib.sha256(json.dumps(settings or {}, sort_keys=True, default=str).encode()).hexdigest()[:16]
        keyed = [{**it, "cache_key": [salt, _file_key(it["image"]), it.get("series"),
                                      [_file_key(c) for c in it.get("channels") or []],
                                      _file_key(it["label"]) if it.get("label") else None]} for it in items]
        return mdata.PersistentDataset(keyed, transform, cache_dir=folder, track_meta=True,
                                       weights_only=False)
    sizes = [estimated_bytes(it["image"], spacing or [0, 0, 0], bool(it.get("label"))) for it in items]
    budget = max_gb * 2**30
    fits, used = 0, 0
    for s in sizes:  # CacheDataset caches the first ceil(rate * n) items: count those that fit
        if used + s > budget:
            break
        used, fits = used + s, fits + 1
    rate = fits / len(items) if items else 1.0
    workers = max(1, min(4, os.cpu_count() or 1))
    ds = mdata.CacheDataset(items, transform, cache_rate=rate, copy_cache=False, progress=False,
                            num_workers=workers if fits > 1 else 0)
    ds.estimated_bytes = sizes
    ds.cached_items = math.ceil(rate * len(items)) if items else 0
    return ds
