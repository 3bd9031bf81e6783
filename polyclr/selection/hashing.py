"""Batched perceptual hashes (dHash, aHash, pHash), bit-identical to ``imagehash`` 4.3.

``imagehash`` hashes one PIL image at a time: ``image.convert("L").resize(size, LANCZOS)`` then
compares pixels. The slow part is Pillow's resize, so this module re-implements exactly that
resize for a whole batch: Pillow's two-pass separable Lanczos-3 filter on 8-bit images
(``libImaging/Resample.c``): per-axis coefficients computed in double precision, normalised,
rounded to 22-bit fixed point, a horizontal pass whose result is rounded and clipped to uint8,
then a vertical pass rounded and clipped again. The integer sums are done with one int8 x int8
-> int32 matrix product per coefficient "digit" (``torch._int_mm``), which is exact, so the
result is the very same uint8 image Pillow returns; no library exposes a batched, bit-exact
Pillow resize, which is why it is written here. pHash then uses ``scipy.fftpack.dct`` like
``imagehash``.

Hashes are returned as packed ``uint64`` codes (bit 63 = first pixel of the row-major bit
array, as ``imagehash``'s hex string) and compared by popcount of the XOR.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import torch

from polyclr.selection._pillow_kernels import kernels

PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed-point precision for 8-bit images
_LANCZOS_SUPPORT = 3.0
_DIGIT_BITS = 7  # coefficient digits in [0, 128) fit int8


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


def _digits(weights: np.ndarray) -> list[np.ndarray]:
    """Split int weights into base-128 digits: w = sum_p d_p * 128**p, d_p in [0,128) but the
    last (signed, small). Each digit matrix fits int8, so int8 products are exact."""
    rest = weights.copy()
    out = []
    top = int(np.abs(weights).max()) if weights.size else 0
    n_digits = 1
    while (1 << (_DIGIT_BITS * n_digits)) // 2 <= top + 1:
        n_digits += 1
    for p in range(n_digits):
        if p == n_digits - 1:
            d = rest  # remaining signed digit, |d| < 64
        else:
            d = np.mod(rest, 1 << _DIGIT_BITS)
            rest = (rest - d) >> _DIGIT_BITS
        out.append(d.astype(np.int8))
    return out


@lru_cache(maxsize=256)
def _int8_plan(in_size: int, out_size: int) -> tuple[torch.Tensor, np.ndarray, int]:
    """int8 digit matrix (in_size, out_size * n_digits padded to 8), columns interleaved as
    (output, digit); per output, the cumulative sums of its weights over the input columns
    ((out_size, in_size + 1) int64), from which the offset that undoes the -128 input shift of
    any column range is read; the digit count."""
    weights, _ = pillow_lanczos_coefficients(in_size, out_size)
    digits = _digits(weights)
    nd = len(digits)
    padded = -(-(nd * out_size) // 8) * 8
    mat = np.zeros((in_size, padded), dtype=np.int8)
    for p, d in enumerate(digits):
        mat[:, p : nd * out_size : nd] = d.T
    cumulative = np.zeros((out_size, in_size + 1), dtype=np.int64)
    np.cumsum(weights, axis=1, out=cumulative[:, 1:])
    return torch.from_numpy(mat), cumulative, nd


_SCRATCH = threading.local()


def _scratch(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """A per-thread reusable buffer of at least ``shape``: fresh multi-megabyte arrays per batch
    cost page faults that serialise the threads of ``hash_images`` on the kernel's memory lock.

    Shape:
        -> ``shape`` view of a flat per-thread buffer (contents undefined).
    """
    size = int(np.prod(shape))
    buf = getattr(_SCRATCH, name, None)
    if buf is None or buf.dtype != dtype or buf.size < size:
        buf = np.empty(max(size, 1), dtype=dtype)
        setattr(_SCRATCH, name, buf)
    return buf[:size].reshape(shape)


def _resample_last_axis(x: np.ndarray, out_size: int) -> np.ndarray:
    """Resample the last axis of a uint8 array like one Pillow 8-bit pass.

    The sum of each output is exact: int8 digit products accumulate in int32 and the digits are
    recombined in int64 (Pillow's own accumulator is int32 and never overflows). All-zero rows
    (image background) map to 0 and are skipped, and so are columns that are zero in every live
    row. The steps around the product are compiled kernels (``_pillow_kernels``).

    Shape:
        x: (..., in_size) uint8 -> (..., out_size) uint8.
    """
    in_size = x.shape[-1]
    lead = x.shape[:-1]
    mat, cumulative, nd = _int8_plan(in_size, out_size)
    flat = np.ascontiguousarray(x).reshape(-1, in_size)
    out = np.zeros((flat.shape[0], out_size), dtype=np.uint8)
    gather_live_signed, combine = kernels()
    words = flat.view(np.uint64) if in_size % 8 == 0 else np.zeros((len(flat), 0), np.uint64)
    signed = _scratch("signed", flat.shape, np.int8)
    rows = _scratch("rows", (len(flat),), np.int64)
    n_live, col0, col1 = gather_live_signed(flat, words, signed, rows)
    if n_live == 0:
        return out.reshape(*lead, out_size)
    rows = rows[:n_live]
    # columns that are zero in every live row (padding) add nothing to the true sums: leave
    # them out of the product, and undo the -128 shift with the kept columns' weights only
    offset = 128 * (cumulative[:, col1] - cumulative[:, col0])
    st, sub = torch.from_numpy(signed[:n_live, col0:col1]), mat[col0:col1]
    if n_live > 16 and col1 - col0 >= 8:
        prod_buf = torch.from_numpy(_scratch("prod", (n_live, mat.shape[1]), np.int32))
        prod = torch._int_mm(st, sub, out=prod_buf).numpy()  # exact int32 accumulation
    else:  # tiny inputs: plain integer matmul (also exact)
        prod = (st.to(torch.int64) @ sub.to(torch.int64)).to(torch.int32).numpy()
    combine(prod, rows, offset, nd, _DIGIT_BITS, out)
    return out.reshape(*lead, out_size)


def _pass_h(x: np.ndarray, width: int) -> np.ndarray:
    return _resample_last_axis(x, width) if x.shape[2] != width else x


def _pass_v(x: np.ndarray, height: int) -> np.ndarray:
    if x.shape[1] == height:
        return x
    y = _resample_last_axis(np.ascontiguousarray(x.transpose(0, 2, 1)), height)
    return np.ascontiguousarray(y.transpose(0, 2, 1))


def _pil_loop(x: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    return np.stack(
        [np.asarray(Image.fromarray(a).resize((width, height), Image.LANCZOS)) for a in x]
    )


@lru_cache(maxsize=1024)
def pass_order(h: int, w: int, height: int, width: int) -> str:
    """Which pass the installed Pillow runs first for (h, w) -> (height, width): "hv" or "vh".

    Pillow <= 12 always resamples horizontally first; Pillow 13 resamples vertically first when
    the height shrinks much more than the width (python-pillow/Pillow#9549), and because each
    pass rounds to uint8 the order changes the result. Rather than hard-coding one Pillow
    version's rule, one random probe image per shape pair is resized by Pillow and compared
    with both orders (cached). Returns "pil" if neither matches (then Pillow itself is used).
    """
    if h == height or w == width:
        return "hv"  # a single pass: order is irrelevant
    rng = np.random.default_rng(h * 7919 + w * 104729 + height * 31 + width)
    for _ in range(3):
        probe = rng.integers(0, 256, size=(4, h, w), dtype=np.uint8)
        ref = _pil_loop(probe, width, height)
        hv = np.array_equal(_pass_v(_pass_h(probe, width), height), ref)
        vh = np.array_equal(_pass_h(_pass_v(probe, height), width), ref)
        if hv != vh:
            return "hv" if hv else "vh"
        if not hv:
            return "pil"
    return "hv"  # indistinguishable on every probe


def pil_resize_lanczos(images: np.ndarray, width: int, height: int) -> np.ndarray:
    """Batched, bit-exact equivalent of ``Image.fromarray(img).resize((width, height), LANCZOS)``.

    Args:
        images: uint8 grayscale images.
        width: output width (columns).
        height: output height (rows).

    Shape:
        images: (N, H, W) uint8 -> (N, height, width) uint8.
    """
    x = np.asarray(images)
    if x.dtype != np.uint8 or x.ndim != 3:
        raise ValueError(f"expected (N, H, W) uint8 images, got {x.dtype} {x.shape}")
    _, h, w = x.shape
    order = pass_order(h, w, height, width)
    if order == "pil":
        return _pil_loop(x, width, height)
    if order == "vh":
        return _pass_h(_pass_v(x, height), width)
    return np.ascontiguousarray(_pass_v(_pass_h(x, width), height))


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack (N, 64) booleans (row-major hash bits) into (N,) uint64, first bit most significant."""
    b = np.asarray(bits, dtype=bool).reshape(len(bits), -1)
    if b.shape[1] != 64:
        raise ValueError(f"expected 64 bits per hash, got {b.shape[1]}")
    packed = np.packbits(b, axis=1)  # (N, 8) uint8, big-endian bit order
    return packed.view(">u8").reshape(-1).astype(np.uint64)


def unpack_bits(codes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_bits`: (N,) uint64 -> (N, 64) bool."""
    c = np.asarray(codes, dtype=np.uint64).astype(">u8")
    return np.unpackbits(c.view(np.uint8).reshape(-1, 8), axis=1).astype(bool)


def to_hex(codes: np.ndarray) -> list[str]:
    """imagehash-style 16-digit hex strings of packed codes."""
    return [f"{int(c):016x}" for c in np.asarray(codes, dtype=np.uint64)]


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distance by popcount of XOR (broadcasting).

    Shape:
        a, b: broadcastable uint64 arrays -> same broadcast shape, uint8 counts in [0, 64].
    """
    return np.bitwise_count(np.bitwise_xor(np.asarray(a, np.uint64), np.asarray(b, np.uint64)))


def _check_images(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.dtype != np.uint8:
        raise ValueError(f"hashes need (N, H, W) uint8 images, got {x.dtype} {x.shape}")
    return x


def dhash(images: np.ndarray, hash_size: int = 8) -> np.ndarray:
    """Difference hash of each image, as ``imagehash.dhash`` (horizontal gradient).

    Shape:
        images: (N, H, W) uint8 -> (N,) uint64 (hash_size 8).
    """
    small = pil_resize_lanczos(_check_images(images), hash_size + 1, hash_size)
    bits = small[:, :, 1:] > small[:, :, :-1]
    return pack_bits(bits.reshape(len(bits), -1))


def ahash(images: np.ndarray, hash_size: int = 8) -> np.ndarray:
    """Average hash of each image, as ``imagehash.average_hash``.

    Shape:
        images: (N, H, W) uint8 -> (N,) uint64.
    """
    small = pil_resize_lanczos(_check_images(images), hash_size, hash_size)
    mean = small.reshape(len(small), -1).mean(axis=1)
    bits = small > mean[:, None, None]
    return pack_bits(bits.reshape(len(bits), -1))


def phash(images: np.ndarray, hash_size: int = 8, highfreq_factor: int = 4) -> np.ndarray:
    """Perceptual (DCT) hash of each image, as ``imagehash.phash``.

    Shape:
        images: (N, H, W) uint8 -> (N,) uint64.
    """
    import scipy.fftpack

    size = hash_size * highfreq_factor
    small = pil_resize_lanczos(_check_images(images), size, size)
    dct = scipy.fftpack.dct(scipy.fftpack.dct(small, axis=1), axis=2)
    low = dct[:, :hash_size, :hash_size]
    med = np.median(low.reshape(len(low), -1), axis=1)
    bits = low > med[:, None, None]
    return pack_bits(bits.reshape(len(bits), -1))


HASHES = {"dhash": dhash, "ahash": ahash, "phash": phash}


def hash_images(images: np.ndarray, method: str = "dhash", batch_size: int = 256,
                 threads: int | None = None) -> np.ndarray:
    """Hash uint8 images in batches with ``method`` (dhash, ahash or phash).

    Batches keep the working set (gathered rows, int32 products) in cache and run on a pool of
    ``threads`` threads (None: one per core); the compiled kernels and torch's int8 product
    release the GIL. torch's intra-op threads are set to 1 while hashing (restored afterwards),
    so the parallelism is across batches only.

    Shape:
        images: (N, H, W) uint8 -> (N,) uint64.
    """
    if method not in HASHES:
        raise ValueError(f"unknown hash {method!r}; choose from {sorted(HASHES)}")
    x = _check_images(images)
    fn = HASHES[method]
    n_threads = max(1, int(threads) if threads is not None else (os.cpu_count() or 1))
    batches = [x[i : i + batch_size] for i in range(0, len(x), batch_size)]
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if n_threads == 1 or len(batches) == 1:
            out = [fn(b) for b in batches]
        else:
            with ThreadPoolExecutor(max_workers=min(n_threads, len(batches))) as pool:
                out = list(pool.map(fn, batches))
    finally:
        torch.set_num_threads(before)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.uint64)


def to_uint8(x: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Scale intensities linearly to uint8 (as a PNG export would), ``lo`` -> 0, ``hi`` -> 255.

    Defaults to the array's min and max; a constant array maps to all zeros (so constant slices
    hash identically and collapse to one item). Non-finite values raise ValueError.
    """
    a = np.asarray(x)
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float32, copy=False)
    if a.size and not np.all(np.isfinite(a)):
        raise ValueError("values contain NaN or Inf")
    lo = float(a.min()) if lo is None and a.size else (lo or 0.0)
    hi = float(a.max()) if hi is None and a.size else (hi or 0.0)
    if hi <= lo:
        return np.zeros(a.shape, dtype=np.uint8)
    scaled = (a - np.float32(lo)) * np.float32(255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
