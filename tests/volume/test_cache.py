"""Preprocessed-volume caching: MONAI CacheDataset within a RAM budget, PersistentDataset on disk."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from polyclr.modalities.volume.cache import cached_dataset, estimated_bytes
from polyclr.modalities.volume.transforms import invert_label
from polyclr.pipelines.volume.config import VolumeConfig
from polyclr.pipelines.volume.data import CaseField, prepare


def _cfg(cache: str, **kw) -> VolumeConfig:
    cfg = VolumeConfig()
    data = dataclasses.replace(cfg.data, spacing=[2.0, 2.0, 3.0], slice_size=[32, 32], cache=cache, **kw)
    return dataclasses.replace(cfg, data=data)


def test_header_estimate_is_the_resampled_float32_size(tiny_msd):
    f = tiny_msd / "imagesTr" / "case_000.nii.gz"  # 20x24x16 at 2x2x3 mm
    assert estimated_bytes(f, [2.0, 2.0, 3.0], False) == 20 * 24 * 16 * 4
    assert estimated_bytes(f, [4.0, 4.0, 3.0], True) == 10 * 12 * 16 * 4 * 2


@pytest.mark.parametrize("budget_gb,cached", [(0.0, 0), (20 * 24 * 16 * 4 * 2 * 2.5 / 2**30, 2), (1.0, 6)])
def test_memory_cache_holds_only_what_fits_and_returns_the_same_data(tiny_msd, budget_gb, cached):
    ref = prepare(_cfg("none"), tiny_msd)
    cases = prepare(_cfg("memory", cache_max_gb=budget_gb), tiny_msd)
    src = cases[0].source
    assert type(src).__name__ == "CacheDataset" and src.cached_items == cached
    # the cache holds the *preprocessed* volumes (MONAI caches up to the first random or
    # non-Transform callable: a plain callable would silently cache nothing)
    held = [i for i, d in enumerate(src._cache) if isinstance(d, dict) and "image" in d]
    assert held == list(range(cached))
    for i in held:
        assert src._cache[i]["image"] is src[i]["image"]  # served from the cache, not recomputed
        assert tuple(src._cache[i]["image"].shape[1:3]) == (32, 32)
    for a, b in zip(ref, cases, strict=True):  # cached or recomputed: identical tensors + affine
        torch.testing.assert_close(a.image, b.image)
        torch.testing.assert_close(a.label, b.label)
        np.testing.assert_allclose(a.affine, b.affine)
    images = CaseField(cases, "image")
    assert len(images) == 6 and images[1].shape == cases[1].image.shape and len(images[:2]) == 2


def test_disk_cache_persists_and_keeps_the_inverse(tiny_msd, tmp_path):
    cache = tmp_path / "cache"
    cases = prepare(_cfg("disk", cache_dir=str(cache)), tiny_msd)
    _ = [c.image for c in cases]
    files = sorted(cache.glob("*.pt"))
    assert len(files) == 6
    stored = torch.load(files[0], weights_only=False)  # the preprocessed MetaTensor, not the paths
    assert tuple(stored["image"].shape[1:3]) == (32, 32) and stored["image"].applied_operations
    mtimes = [f.stat().st_mtime_ns for f in files]
    again = prepare(_cfg("disk", cache_dir=str(cache)), tiny_msd)
    torch.testing.assert_close(again[3].image, cases[3].image)
    assert [f.stat().st_mtime_ns for f in sorted(cache.glob("*.pt"))] == mtimes  # read, not rewritten
    # a different preprocessing setting never reuses those entries
    assert prepare(_cfg("disk", cache_dir=str(cache), percentiles=[0.0, 100.0]), tiny_msd)[0].image.shape[0] == 1
    assert len(list(cache.glob("*.pt"))) == 7
    # the traced MONAI operations survive the round trip: the label inverts onto the loaded grid
    c = again[1]  # stored LAS, so the inverse has to undo reorientation, resampling and padding
    back = invert_label(c.label[0].numpy(), c.data, c.transform)
    from polyclr.modalities.volume.io import load_label

    np.testing.assert_array_equal(back, load_label(c.item.label, c.volume))


def test_cache_arguments_are_validated(tiny_msd):
    with pytest.raises(ValueError, match="cache mode"):
        cached_dataset([], None, mode="ram")
    with pytest.raises(ValueError, match="cache"):
        _cfg("ram")
