"""Pillow's Lanczos resize as exact uint8 x int8 products through oneDNN's quantized linear.

``pillow_resize`` shifts every pixel to int8 (p - 128) so that ``torch._int_mm`` (int8 x int8)
can take it. oneDNN's int8 *matmul* primitive, which PyTorch exposes as
``torch.ops.onednn.qlinear_pointwise`` (the op its x86 quantisation backend uses), multiplies
uint8 activations by int8 weights directly and, unlike the GEMM that ``_int_mm`` calls, runs on
AMX tiles where the CPU has them. This module does both Pillow passes with it:

* the horizontal pass multiplies the raw image rows, all of them (no gather, no shift), by the
  digit matrix of the coefficients;
* the vertical pass multiplies the rounded horizontal results, transposed per image, by the
  vertical digit matrix;
* compiled kernels recombine the digits, round and clip like Pillow.

Exactness: with scales 1 and zero points 0 the op returns ``float(sum of u8 * s8)``. Coefficient
digits are base 64 (``|d| <= 63``), so every sum is below 256 * 255 * 63 < 2**24 (exact in
float32), and even a CPU without VNNI, whose ``vpmaddubsw`` adds two u8 x s8 products in
saturating int16, cannot saturate (2 * 255 * 63 < 2**15). A self-check against an int64 product
on extreme values runs once per process; if the op is missing or disagrees, ``available()`` is
False and ``pillow_resize`` keeps its int8 path. No library offers a batched, bit-exact Pillow
resize, which is why this is written here.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from polyclr._optional import require
from polyclr.selection._pillow_kernels import kernels as shared_kernels
from polyclr.selection.pillow_coefficients import pillow_lanczos_coefficients, scratch

DIGIT_BITS = 6  # base-64 digits: |d| <= 63 keeps u8 x s8 pair sums inside int16
HALF = 1 << 21  # Pillow: 1 << (PRECISION_BITS - 1)
SHIFT = 22  # Pillow: PRECISION_BITS for 8-bit images
MAX_KRON_WIDTH = 16  # "auto" uses this path up to this output width (the hashes' 8 or 9)


def digits(weights: np.ndarray) -> np.ndarray:
    """Base-64 digits of int weights, digit-major: ``w = sum_p d_p * 64**p`` with ``d_p`` in
    [0, 64) except the last, which is signed with ``|d| <= 63``.

    Shape:
        weights: (n_out, n_in) int64 -> (n_digits * n_out, n_in) int8.
    """
    top = int(np.abs(weights).max()) if weights.size else 0
    n = 1
    while (63 << (DIGIT_BITS * (n - 1))) < top + (1 << (DIGIT_BITS * (n - 1))):
        n += 1
    rest = weights.astype(np.int64)
    out = []
    for p in range(n):
        if p == n - 1:
            d = rest
        else:
            d = np.mod(rest, 1 << DIGIT_BITS)
            rest = (rest - d) >> DIGIT_BITS
        out.append(d)
    mat = np.concatenate(out, axis=0)
    if np.abs(mat).max(initial=0) > 63:
        raise AssertionError("digit out of range")  # pragma: no cover - guarded by the loop above
    return np.ascontiguousarray(mat.astype(np.int8))


class PackedDigits:
    """The digit matrix of one pass, prepacked for ``qlinear_pointwise``.

    Args:
        weights: (n_out, n_in) int64 Pillow fixed-point coefficients.
    """

    def __init__(self, weights: np.ndarray) -> None:
        mat = digits(weights)
        # float32 output is exact while every digit sum stays below 2**24
        self.exact = int((weights != 0).sum(axis=1).max(initial=0)) * 255 * 63 < 1 << 24
        self.n_out = weights.shape[0]
        self.n_digits = mat.shape[0] // self.n_out
        self.n_cols = mat.shape[0]
        self._packed = torch.ops.onednn.qlinear_prepack(torch.from_numpy(mat), [1, weights.shape[1]])
        self._scales = torch.ones(self.n_cols)
        self._zeros = torch.zeros(self.n_cols, dtype=torch.int64)

    def __call__(self, x: torch.Tensor) -> np.ndarray:
        """``x @ digits.T`` exactly, as float32.

        Shape:
            x: (m, n_in) uint8 -> (m, n_digits * n_out) float32.
        """
        y = torch.ops.onednn.qlinear_pointwise(x, 1.0, 0, self._packed, self._scales, self._zeros, None,
                                               1.0, 0, torch.float32, "none", [], "")
        return y.numpy()


@lru_cache(maxsize=1)
def available() -> bool:
    """Whether oneDNN's u8 x s8 linear exists here and is exact on extreme inputs (checked once)."""
    if not hasattr(torch.ops, "onednn") or not torch.backends.mkldnn.is_available():
        return False
    try:
        rng = np.random.default_rng(0)
        w = rng.integers(-63, 64, size=(27, 256)).astype(np.int8)
        w[:, ::2] = 63  # the largest pair sums a non-VNNI CPU could saturate on
        x = rng.integers(0, 256, size=(300, 256)).astype(np.uint8)
        x[:50] = 255
        packed = torch.ops.onednn.qlinear_prepack(torch.from_numpy(w), [1, 256])
        y = torch.ops.onednn.qlinear_pointwise(torch.from_numpy(x), 1.0, 0, packed, torch.ones(27),
                                               torch.zeros(27, dtype=torch.int64), None, 1.0, 0,
                                               torch.float32, "none", [], "")
        return bool(np.array_equal(y.numpy().astype(np.int64), x.astype(np.int64) @ w.astype(np.int64).T))
    except (RuntimeError, AttributeError, NotImplementedError):
        return False


@lru_cache(maxsize=256)
def horizontal_plan(in_size: int, out_size: int) -> PackedDigits:
    """Prepacked digits of Pillow's coefficients for the horizontal pass (cached per size pair)."""
    return PackedDigits(pillow_lanczos_coefficients(in_size, out_size)[0])


@lru_cache(maxsize=256)
def vertical_plan(in_size: int, out_size: int, n_cols: int) -> PackedDigits:
    """Prepacked digits of the vertical pass over an image's horizontal result *as one row*.

    The vertical pass maps ``H[r, j]`` (in_size x n_cols, row-major) to
    ``sum_r V[o, r] H[r, j]``; with the image flattened to one row of ``in_size * n_cols``
    values, that is a product with ``kron(V, I_n_cols)``. It does n_cols times the
    multiply-adds of the direct form (tiny: n_cols is the hash width) but needs no transposes,
    and every image of the batch is one row of a single product.
    """
    v = pillow_lanczos_coefficients(in_size, out_size)[0]
    return PackedDigits(np.kron(v, np.eye(n_cols, dtype=np.int64)))


@lru_cache(maxsize=1)
def kernels():
    """Compile (once per process) and return ``round_digits``."""
    numba = require("numba", "selection")

    @numba.njit(nogil=True, cache=True)
    def round_digits(y, n_digits, rows, out):  # pragma: no cover - compiled
        """Recombine digit products (columns digit-major: digit p of output j in column
        p * n_out + j), round and clip like Pillow into row ``rows[m]`` of ``out`` (row ``m``
        when ``rows`` is empty). Every digit sum is an integer below 2**24, so its float32
        value converts exactly; the recombination is int64.

        Shape:
            y: (m, n_digits * n_out) float32, rows: (m,) or (0,) -> out: (>= m, n_out) uint8.
        """
        n_out = out.shape[1]
        acc = np.empty(n_out, dtype=np.int64)
        for m in range(y.shape[0]):
            row = y[m]
            dst = out[rows[m]] if rows.shape[0] else out[m]
            if n_digits == 3:  # the usual case, unrolled (a loop-carried shift does not vectorise)
                for j in range(n_out):
                    acc[j] = (HALF + np.int64(np.int32(row[j])) + (np.int64(np.int32(row[n_out + j])) << 6)
                              + (np.int64(np.int32(row[2 * n_out + j])) << 12))
            else:
                for j in range(n_out):
                    acc[j] = HALF
                for p in range(n_digits):
                    for j in range(n_out):
                        acc[j] += np.int64(np.int32(row[p * n_out + j])) << (DIGIT_BITS * p)
            for j in range(n_out):
                v = acc[j] >> SHIFT
                dst[j] = 0 if v < 0 else (255 if v > 255 else v)

    return round_digits


def eligible(h: int, w: int, height: int, width: int) -> bool:
    """Whether ``resample_hv`` is exact and cheap for this shape on this machine: hash-sized
    outputs (the vertical product grows with the output width), sums exact in float32, and
    oneDNN's op present and self-checked."""
    return (width <= MAX_KRON_WIDTH and available() and horizontal_plan(w, width).exact
            and vertical_plan(h, height, width).exact)


def resample_hv(x: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pillow's horizontal-then-vertical Lanczos resize of a batch (both sizes change).

    Shape:
        x: (N, H, W) uint8 -> (N, height, width) uint8.
    """
    n, h, w = x.shape
    round_digits = kernels()
    ph, pv = horizontal_plan(w, width), vertical_plan(h, height, width)
    flat = np.ascontiguousarray(x).reshape(n * h, w)
    # all-zero rows (background, padding) resample to 0: only the others enter the product
    words = flat.view(np.uint64) if w % 8 == 0 else np.zeros((len(flat), 0), np.uint64)
    live = scratch("u8_live", flat.shape, np.uint8)
    idx = scratch("u8_rows", (len(flat),), np.int64)
    n_live = shared_kernels()[0](flat, words, live, idx, False)[0]
    rows = np.zeros((n * h, width), dtype=np.uint8)
    if n_live:
        round_digits(ph(torch.from_numpy(live[:n_live])), ph.n_digits, idx[:n_live], rows)
    z = pv(torch.from_numpy(rows.reshape(n, h * width)))
    out = np.empty((n, height * width), dtype=np.uint8)
    round_digits(z, pv.n_digits, idx[:0], out)
    return out.reshape(n, height, width)
