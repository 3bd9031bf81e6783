"""Numba kernels around the int8 matrix product of the batched, bit-exact Pillow resize.

``hashing._resample_last_axis`` does one Pillow pass as an exact int8 x int8 -> int32 matrix
product (``torch._int_mm``). The work before and after the product (finding all-zero rows,
gathering and sign-shifting the live rows, recombining coefficient digits, rounding, clipping,
scattering back) is elementwise; as chains of NumPy calls it made several passes over memory and
cost more than the product itself, so each step is one compiled, parallel loop here. No library
fuses these steps, which is why they are written by hand.
"""

from __future__ import annotations

from functools import lru_cache

from polyclr._optional import require

HALF = 1 << 21  # Pillow: 1 << (PRECISION_BITS - 1)
SHIFT = 22  # Pillow: PRECISION_BITS for 8-bit images


@lru_cache(maxsize=1)
def kernels():
    """Compile (once per process) and return ``(live_rows, gather_signed, combine)``."""
    numba = require("numba", "selection")
    import numpy as np

    @numba.njit(parallel=True, nogil=True, cache=True)
    def live_rows(words):  # pragma: no cover - compiled
        """(rows, k) uint64 view of uint8 rows -> (rows,) bool: any non-zero byte."""
        rows, length = words.shape
        live = np.zeros(rows, dtype=np.bool_)
        for m in numba.prange(rows):
            acc = np.uint64(0)
            for k in range(length):  # OR-reduction without early exit: vectorises
                acc |= words[m, k]
            live[m] = acc != 0
        return live

    @numba.njit(parallel=True, nogil=True, cache=True)
    def gather_signed(x, idx, out):  # pragma: no cover - compiled
        """out[i] = x[idx[i]] - 128 as int8 (the int8 product needs signed inputs)."""
        for i in numba.prange(idx.shape[0]):
            src = x[idx[i]]
            dst = out[i]
            for k in range(src.shape[0]):
                dst[k] = np.int8(np.int32(src[k]) - 128)

    @numba.njit(parallel=True, nogil=True, cache=True)
    def combine(prod, idx, offset, n_digits, digit_bits, out):  # pragma: no cover - compiled
        """Recombine digit products (columns interleaved as output, digit), add the offset that
        undoes the -128 shift, round and clip like Pillow, and scatter to rows ``idx``."""
        n_out = out.shape[1]
        for i in numba.prange(idx.shape[0]):
            r = idx[i]
            for j in range(n_out):
                acc = np.int64(offset[j])
                for p in range(n_digits):
                    acc += np.int64(prod[i, j * n_digits + p]) << (digit_bits * p)
                v = (acc + HALF) >> SHIFT
                out[r, j] = 0 if v < 0 else (255 if v > 255 else v)

    return live_rows, gather_signed, combine
