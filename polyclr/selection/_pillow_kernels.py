"""Numba kernels around the int8 matrix product of the batched, bit-exact Pillow resize.

``pillow_resize`` does each Pillow pass as an exact int8 x int8 -> int32 matrix product
(``torch._int_mm``). The work before and after the product (finding all-zero rows,
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

FLIP = 0x8080808080808080  # the top bit of every byte of a uint64
HALF = 1 << 21  # Pillow: 1 << (PRECISION_BITS - 1)
SHIFT = 22  # Pillow: PRECISION_BITS for 8-bit images


@lru_cache(maxsize=1)
def gather_kernel():
    """Compile (once per process) and return ``gather_live_signed``."""
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
        out_words = out.view(np.uint64) if n_words else words
        count = 0
        # OR of every row, word by word (all-zero rows add nothing): its first and last non-zero
        # words bound the columns of every live row. Accumulating it is vectorised; scanning each
        # row for its own bounds was a scalar loop per row.
        union = np.zeros(n_words, dtype=np.uint64)
        for m in range(rows):
            if n_words:
                acc = np.uint64(0)
                for k in range(n_words):  # OR-reduction without early exit: vectorises
                    acc |= words[m, k]
                live = acc != 0
            else:
                acc8 = np.uint8(0)
                for k in range(length):
                    acc8 |= x[m, k]
                live = acc8 != 0
            if live:
                if n_words:  # p ^ 0x80, read as int8, is p - 128: eight bytes per operation
                    dst_words = out_words[count]
                    for k in range(n_words):
                        w = words[m, k]
                        union[k] |= w
                        dst_words[k] = w ^ FLIP
                else:
                    src = x[m]
                    dst = out[count]
                    for k in range(length):
                        dst[k] = np.int8(np.int32(src[k]) - 128)
                idx[count] = m
                count += 1
        if n_words == 0 or count == 0:
            return count, 0, length
        lo = 0
        while union[lo] == 0:
            lo += 1
        hi = n_words - 1
        while union[hi] == 0:
            hi -= 1
        return count, 8 * lo, 8 * (hi + 1)

    return gather_live_signed


@lru_cache(maxsize=64)
def digit_kernels(n_out: int, n_digits: int, digit_bits: int):
    """Compile (once per shape) the kernels that recombine a pass's digit products.

    Both add the offset that undoes the -128 shift to the recombined digits, then round and
    clip like Pillow. ``n_out`` and ``n_digits`` are compile-time constants, so the short
    per-row loops (9 outputs x 3 digits for a dHash) unroll; with them as run-time arguments
    the recombination ran about 3x slower.

    Returns:
        ``round_digits(prod, offset, out)`` and ``round_scatter(prod, offset, rows, height,
        stacked)``; the second writes each live row's result, shifted to int8 (value - 128),
        straight into the vertical pass's input at ``stacked[image * n_out + j, y]`` (every
        other entry -128, a zero pixel), saving a pass over the rounded rows.

    Shape:
        prod: (n_live, n_digits * n_out) int32, one row per live image row, columns
        digit-major (digit p of output j in column p * n_out + j); offset: (n_out,) int64;
        rows: (n_live,) ascending row numbers -> out: (n_live, n_out) int32 in [0, 255];
        stacked: (N * n_out, height) int8.
    """
    numba = require("numba", "selection")
    import numpy as np

    @numba.njit(nogil=True, cache=True, inline="always")
    def _rounded(prod, offset, i, j):  # pragma: no cover - compiled
        acc = offset[j] + np.int64(prod[i, j])
        for p in range(1, n_digits):
            acc += np.int64(prod[i, p * n_out + j]) << (digit_bits * p)
        return min(max((acc + HALF) >> SHIFT, 0), 255)

    @numba.njit(nogil=True, cache=True)
    def round_digits(prod, offset, out):  # pragma: no cover - compiled
        for i in range(out.shape[0]):
            for j in range(n_out):
                out[i, j] = _rounded(prod, offset, i, j)

    @numba.njit(nogil=True, cache=True)
    def round_scatter(prod, offset, rows, height, stacked):  # pragma: no cover - compiled
        stacked[:] = -128
        img = 0
        start = 0  # first row number of image ``img`` (rows ascend: no division needed)
        for i in range(rows.shape[0]):
            while rows[i] >= start + height:
                img += 1
                start += height
            y = rows[i] - start
            base = img * n_out
            for j in range(n_out):
                stacked[base + j, y] = _rounded(prod, offset, i, j) - 128

    return round_digits, round_scatter
