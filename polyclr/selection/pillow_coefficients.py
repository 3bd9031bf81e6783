"""Pillow's fixed-point Lanczos coefficients and per-thread scratch buffers, shared by the
two exact resize backends (``pillow_resize``: int8 x int8; ``u8_resize``: uint8 x int8)."""

from __future__ import annotations

import math
import threading
from functools import lru_cache

import numpy as np

PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed-point precision for 8-bit images
_LANCZOS_SUPPORT = 3.0


def _sinc(x: float) -> float:
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


def _lanczos(x: float) -> float:
    if -3.0 <= x < 3.0:
        return _sinc(x) * _sinc(x / 3.0)
    return 0.0


@lru_cache(maxsize=256)
def pillow_lanczos_coefficients(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pillow's fixed-point Lanczos coefficients for resizing ``in_size`` -> ``out_size``.

    Mirrors ``precompute_coeffs`` + ``normalize_coeffs_8bpc`` in Pillow's Resample.c, in the
    same double-precision operation order (Python floats are IEEE doubles, ``math.sin`` is the
    C library's ``sin``).

    Returns:
        (weights, bounds): ``weights`` (out_size, in_size) int64 dense matrix of 22-bit
        fixed-point taps (zero outside each output's window); ``bounds`` (out_size, 2) int64
        (first input index, number of taps).
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"sizes must be >= 1, got {in_size} -> {out_size}")
    scale = float(in_size) / out_size
    filterscale = max(scale, 1.0)
    support = _LANCZOS_SUPPORT * filterscale
    ss = 1.0 / filterscale
    weights = np.zeros((out_size, in_size), dtype=np.int64)
    bounds = np.zeros((out_size, 2), dtype=np.int64)
    one = float(1 << PRECISION_BITS)
    for xx in range(out_size):
        center = 0.0 + (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        taps = [_lanczos((x + xmin - center + 0.5) * ss) for x in range(xmax)]
        ww = 0.0
        for w in taps:
            ww += w
        if ww != 0.0:
            taps = [w / ww for w in taps]
        fixed = [int(-0.5 + w * one) if w < 0 else int(0.5 + w * one) for w in taps]
        weights[xx, xmin : xmin + xmax] = fixed
        bounds[xx] = (xmin, xmax)
    return weights, bounds


_SCRATCH = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """A per-thread reusable buffer of at least ``shape``: fresh multi-megabyte arrays per batch
    cost page faults that serialise the threads of ``hash_images`` on the kernel's memory lock.

    Shape:
        -> ``shape`` view of a flat per-thread buffer (contents undefined).
    """
    size = math.prod(shape)
    buf = getattr(_SCRATCH, name, None)
    if buf is None or buf.dtype != dtype or buf.size < size:
        buf = np.empty(max(size, 1), dtype=dtype)
        setattr(_SCRATCH, name, buf)
    return buf[:size].reshape(shape)
