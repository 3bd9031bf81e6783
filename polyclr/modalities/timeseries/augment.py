"""Augmentations, all vectorised over the batch: fixed ones (jitter, scaling, permutation,
masking, crop-and-resize, TS2Vec overlapping crops). AutoTCL's parametric augmenter lives in
:mod:`.autotcl` (re-exported here).

Written by hand because they must be batched torch ops on the training device with per-sample
randomness (tsai's transforms operate per batch with shared parameters or on CPU tensors).

Every random augmentation takes an optional ``rng`` (:class:`polyclr.sample_rng.SampleRandom`):
with it a sample's draws depend only on ``(seed, step, sample key)``, so a global batch is
augmented identically however it is split over processes; without it the process RNG is used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from polyclr.modalities.timeseries.autotcl import ParametricAugmenter
from polyclr.sample_rng import SampleRandom

__all__ = ["FIXED", "ParametricAugmenter", "compose", "crop_resize", "jitter", "overlapping_crops",
           "permutation", "resize_time", "scaling", "take_per_row", "timestamp_mask"]


def _rand(x: torch.Tensor, rng: SampleRandom | None, *shape: int, normal: bool = False) -> torch.Tensor:
    """``(B, *shape)`` uniform (or standard normal) draws for the batch ``x``, in ``x``'s dtype."""
    if rng is None:
        draw = torch.randn if normal else torch.rand
        return draw(x.shape[0], *shape, device=x.device, dtype=x.dtype)
    return (rng.randn(*shape) if normal else rng.rand(*shape)).to(device=x.device, dtype=x.dtype)


def jitter(x: torch.Tensor, sigma: float = 0.03, rng: SampleRandom | None = None) -> torch.Tensor:
    """Add Gaussian noise. Shape: x ``(B, C, T)`` → same."""
    return x + sigma * _rand(x, rng, *x.shape[1:], normal=True)


def scaling(x: torch.Tensor, sigma: float = 0.1, rng: SampleRandom | None = None) -> torch.Tensor:
    """Multiply each (sample, channel) by a factor ~ N(1, sigma). Shape: ``(B, C, T)`` → same."""
    return x * (1.0 + sigma * _rand(x, rng, x.shape[1], 1, normal=True))


def permutation(x: torch.Tensor, max_segments: int = 5, rng: SampleRandom | None = None) -> torch.Tensor:
    """Cut each series into ``max_segments`` near-equal segments and shuffle them per sample.

    Shape:
        x: ``(B, C, T)`` → same.
    """
    b, c, t = x.shape
    k = max(1, min(max_segments, t))
    seg = torch.arange(t, device=x.device) * k // t  # segment of each timestamp
    rank = _rand(x.float(), rng, k).argsort(dim=1)  # new position of each segment
    key = rank[:, seg] * t + torch.arange(t, device=x.device)  # sort: segment order, then time
    order = key.argsort(dim=1)
    return x.gather(2, order[:, None, :].expand(b, c, t))


def timestamp_mask(x: torch.Tensor, p: float = 0.1, rng: SampleRandom | None = None) -> torch.Tensor:
    """Zero a random fraction ``p`` of timestamps (all channels). Shape: ``(B, C, T)`` → same."""
    keep = _rand(x.float(), rng, 1, x.shape[2]) >= p
    return x * keep.to(x.dtype)


def crop_resize(x: torch.Tensor, min_ratio: float = 0.6, rng: SampleRandom | None = None) -> torch.Tensor:
    """Random crop of ``ratio * T`` timestamps (ratio ~ U(min_ratio, 1)) per sample, linearly
    resampled back to ``T``.

    Shape:
        x: ``(B, C, T)`` → same.
    """
    b, c, t = x.shape
    ratio = min_ratio + (1 - min_ratio) * _rand(x.float(), rng, 1)
    start = (1 - ratio) * _rand(x.float(), rng, 1)
    pos = (start + ratio * torch.linspace(0, 1, t, device=x.device)[None]) * (t - 1)  # (B, T)
    lo = pos.floor().long().clamp(0, t - 1)
    hi = (lo + 1).clamp(max=t - 1)
    w = (pos - lo).to(x.dtype)[:, None, :]
    g = lambda i: x.gather(2, i[:, None, :].expand(b, c, t))  # noqa: E731
    return g(lo) * (1 - w) + g(hi) * w


FIXED = {"jitter": jitter, "scaling": scaling, "permutation": permutation,
         "masking": timestamp_mask, "crop": crop_resize}


def compose(names: list[str] | tuple[str, ...]):
    """A callable applying the named fixed augmentations in order."""
    unknown = [n for n in names if n not in FIXED]
    if unknown:
        raise ValueError(f"unknown augmentations {unknown}; choose from {sorted(FIXED)}")

    def apply(x: torch.Tensor, rng: SampleRandom | None = None) -> torch.Tensor:
        for n in names:
            x = FIXED[n](x, rng=rng)
        return x

    return apply


def take_per_row(x: torch.Tensor, start: torch.Tensor, length: int) -> torch.Tensor:
    """Per-sample window ``x[i, :, start[i] : start[i] + length]`` by one gather.

    Shape:
        x: ``(B, C, T)``; start: ``(B,)`` long; returns ``(B, C, length)``.
    """
    idx = start[:, None] + torch.arange(length, device=x.device)[None]
    return x.gather(2, idx[:, None, :].expand(-1, x.shape[1], -1))


def overlapping_crops(t: int, batch: int, generator_device: torch.device, min_len: int = 2,
                      rng: SampleRandom | None = None):
    """TS2Vec contextual-consistency crops: two random windows per sample that share an overlap
    of length ``crop_l`` (same offsets for the batch, random shift per sample; with ``rng`` the
    offsets come from its batch generator and the shifts from its per-sample ones).

    Returns:
        ``(start1 (B,), len1, start2 (B,), len2, crop_l)``: view 1 covers ``[a1, b)`` and view 2
        ``[a, b2)`` with overlap ``[a, b)`` of length ``crop_l``; the overlap is the last
        ``crop_l`` steps of view 1 and the first ``crop_l`` steps of view 2.
    """
    if t < min_len:
        raise ValueError(f"series of length {t} is shorter than the minimum crop {min_len}")
    r = rng.batch_randint if rng is not None else lambda lo, hi: int(torch.randint(lo, hi, (1,)).item())
    crop_l = r(min_len, t + 1)
    a = r(0, t - crop_l + 1)
    b = a + crop_l
    a1 = r(0, a + 1)
    b2 = r(b, t + 1)
    if rng is not None:
        shift = rng.randint(-a1, t - b2 + 1).to(generator_device)
    else:
        shift = torch.randint(-a1, t - b2 + 1, (batch,), device=generator_device)
    return shift + a1, b - a1, shift + a, b2 - a, crop_l


def resize_time(x: torch.Tensor, t: int) -> torch.Tensor:
    """Linear resampling along time. Shape: ``(B, C, T0)`` → ``(B, C, t)``."""
    return F.interpolate(x, size=t, mode="linear", align_corners=True)
