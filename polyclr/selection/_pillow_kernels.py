"""Numba kernels around the int8 matrix product of the batched, bit-exact Pillow resize.

``hashing._resample_last_axis`` does one Pillow pass as an exact int8 x int8 -> int32 matrix
product (``torch._int_mm``). The work before and after the product (finding all-zero rows,
gathering and sign-shifting the live rows, recombining coefficient digits, rounding, clipping,
scattering back) is elementwise; as chains of NumPy calls it made several passes over memory and
cost more than the product itself, so each step is one compiled loop here. No library fuses these
steps, which is why they are written by hand. The kernels are serial and release the GIL:
``hash_images`` runs batches on a thread pool instead, because numba's and torch's OpenMP
workers spin-wait against each other when both run parallel regions in one process.
"""

from __future__ import annotations

from functools import lru_cache

from polyclr._optional import require

HALF = 1 << 21  # Pillow: 1 << (PRECISION_BITS - 1)
SHIFT = 22  # Pillow: PRECISION_BITS for 8-bit images


@lru_cache(maxsize=1)
def kernels():
    """Compile (once per process) and return ``(gather_live_signed, combine)``."""
    numba = require("numba", "selection")
    import numpy as np

    @numba.njit(nogil=True, cache=True)
    def gather_live_signed(x, words, out, idx):  # pragma: no cover - compiled
        """Copy every row of ``x`` with a non-zero byte to ``out`` as int8 (value - 128), in one
        pass, and its row number to ``idx``.

        ``words`` is ``x`` viewed as (rows, k // 8) uint64 when k is a multiple of 8 (the zero
        test then runs eight bytes at a time), else an empty (rows, 0) array.

        Returns:
            (count, col0, col1): the number of live rows and the column range outside which
            every live row is zero (multiples of 8 when ``words`` is given, else 0 and k).
        """
        rows, length = x.shape
        n_words = words.shape[1]
        count = 0
        lo_min, hi_max = n_words, -1
        for m in range(rows):
            if n_words:
                acc = np.uint64(0)
                for k in range(n_words):  # OR-reduction without early exit: vectorises
                    acc |= words[m, k]
                live = acc != 0
                if live:
                    lo = 0
                    while words[m, lo] == 0:
                        lo += 1
                    hi = n_words - 1
                    while words[m, hi] == 0:
                        hi -= 1
                    lo_min = min(lo_min, lo)
                    hi_max = max(hi_max, hi)
            else:
                acc8 = np.uint8(0)
                for k in range(length):
                    acc8 |= x[m, k]
                live = acc8 != 0
            if live:
                src = x[m]
                dst = out[count]
                for k in range(length):
                    dst[k] = np.int8(np.int32(src[k]) - 128)
                idx[count] = m
                count += 1
        if n_words == 0 or count == 0:
            return count, 0, length
        return count, 8 * lo_min, 8 * (hi_max + 1)

    @numba.njit(nogil=True, cache=True)
    def combine(prod, idx, offset, n_digits, digit_bits, out):  # pragma: no cover - compiled
        """Recombine digit products (columns interleaved as output, digit), add the offset that
        undoes the -128 shift, round and clip like Pillow, and scatter to rows ``idx``."""
        n_out = out.shape[1]
        for i in range(prod.shape[0]):
            r = idx[i]
            for j in range(n_out):
                acc = np.int64(offset[j])
                for p in range(n_digits):
                    acc += np.int64(prod[i, j * n_digits + p]) << (digit_bits * p)
                v = (acc + HALF) >> SHIFT
                out[r, j] = 0 if v < 0 else (255 if v > 255 else v)

    return gather_live_signed, combine
