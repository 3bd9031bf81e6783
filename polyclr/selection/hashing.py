"""Batched perceptual hashes (dHash, aHash, pHash), bit-identical to ``imagehash`` 4.3.

``imagehash`` resizes one PIL image at a time with Pillow's Lanczos filter and compares pixels;
here a whole batch is resized at once by :func:`polyclr.selection.pillow_resize.pil_resize_lanczos`
(bit-exact), then compared in NumPy. pHash uses ``scipy.fftpack.dct`` like ``imagehash``.

Hashes are returned as packed ``uint64`` codes (bit 63 = first pixel of the row-major bit
array, as ``imagehash``'s hex string) and compared by popcount of the XOR.
"""

from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from polyclr.engine.progress import track
from polyclr.selection.pillow_resize import (  # noqa: F401 - re-exported for callers
    pil_resize_lanczos,
    pillow_lanczos_coefficients,
)


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


def dhash(images: np.ndarray, hash_size: int = 8, route: str = "auto") -> np.ndarray:
    """Difference hash of each image, as ``imagehash.dhash`` (horizontal gradient); ``route``
    picks the resize's horizontal pass (:func:`pil_resize_lanczos`, same result on each).

    Shape:
        images: (N, H, W) uint8 -> (N,) uint64 (hash_size 8).
    """
    small = pil_resize_lanczos(_check_images(images), hash_size + 1, hash_size, route)
    bits = small[:, :, 1:] > small[:, :, :-1]
    return pack_bits(bits.reshape(len(bits), -1))


def ahash(images: np.ndarray, hash_size: int = 8, route: str = "auto") -> np.ndarray:
    """Average hash of each image, as ``imagehash.average_hash`` (``route``: as :func:`dhash`).

    Shape:
        images: (N, H, W) uint8 -> (N,) uint64.
    """
    small = pil_resize_lanczos(_check_images(images), hash_size, hash_size, route)
    mean = small.reshape(len(small), -1).mean(axis=1)
    bits = small > mean[:, None, None]
    return pack_bits(bits.reshape(len(bits), -1))


def phash(images: np.ndarray, hash_size: int = 8, highfreq_factor: int = 4,
          route: str = "auto") -> np.ndarray:
    """Perceptual (DCT) hash of each image, as ``imagehash.phash`` (``route``: as :func:`dhash`).

    Shape:
        images: (N, H, W) uint8 -> (N,) uint64.
    """
    import scipy.fftpack

    size = hash_size * highfreq_factor
    small = pil_resize_lanczos(_check_images(images), size, size, route)
    dct = scipy.fftpack.dct(scipy.fftpack.dct(small, axis=1), axis=2)
    low = dct[:, :hash_size, :hash_size]
    med = np.median(low.reshape(len(low), -1), axis=1)
    bits = low > med[:, None, None]
    return pack_bits(bits.reshape(len(bits), -1))


HASHES = {"dhash": dhash, "ahash": ahash, "phash": phash}

_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()
os.register_at_fork(after_in_child=_POOLS.clear)  # a forked child must not reuse dead threads


def _one_intra_op_thread() -> None:
    """Worker initializer: ``torch.set_num_threads`` sets OpenMP's thread count of the calling
    thread only, and oneDNN's int8 product reads that; without it every worker would start its
    own team of one thread per core, oversubscribing the cores."""
    torch.set_num_threads(1)


def _pool(n_threads: int) -> ThreadPoolExecutor:
    """A persistent pool per thread count: creating threads (and their OpenMP and oneDNN state)
    on every call cost about as much as hashing thousands of slices."""
    with _POOLS_LOCK:
        if n_threads not in _POOLS:
            _POOLS[n_threads] = ThreadPoolExecutor(
                max_workers=n_threads, thread_name_prefix="polyclr-hash",
                initializer=_one_intra_op_thread)
        return _POOLS[n_threads]


def hash_images(images: np.ndarray, method: str = "dhash", batch_size: int = 256,
                 threads: int | None = None, route: str = "auto") -> np.ndarray:
    """Hash uint8 images in batches with ``method`` (dhash, ahash or phash).

    Each batch is one call of the compiled resize (``pillow_resize``), and the batches run on a
    persistent pool of ``threads`` threads (None: one per core); the compiled kernels and
    torch's int8 product release the GIL. torch's intra-op threads are 1 in the workers (and in
    the caller while hashing, restored afterwards), so the parallelism is across batches only.

    Shape:
        images: (N, H, W) uint8 -> (N,) uint64.
    """
    if method not in HASHES:
        raise ValueError(f"unknown hash {method!r}; choose from {sorted(HASHES)}")
    x = _check_images(images)
    fn = functools.partial(HASHES[method], route=route)
    n_threads = max(1, int(threads) if threads is not None else (os.cpu_count() or 1))
    batches = [x[i : i + batch_size] for i in range(0, len(x), batch_size)]
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        done = map(fn, batches) if n_threads == 1 or len(batches) == 1 else _pool(n_threads).map(fn, batches)
        out = list(track(done, f"select {method}: hashing", unit="images",
                         sizes=[len(b) for b in batches], quiet_start=len(x) < 10 * batch_size))
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
