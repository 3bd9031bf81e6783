"""Batched, bit-exact equivalent of Pillow's 8-bit Lanczos resize (what ``imagehash`` calls).

``imagehash`` hashes one PIL image at a time: ``image.convert("L").resize(size, LANCZOS)`` then
compares pixels. The slow part is Pillow's resize, so this module re-implements exactly that
resize for a whole batch: Pillow's two-pass separable Lanczos-3 filter on 8-bit images
(``libImaging/Resample.c``): per-axis coefficients computed in double precision, normalised,
rounded to 22-bit fixed point, a horizontal pass whose result is rounded and clipped to uint8,
then a vertical pass rounded and clipped again. Both passes are exact integer products with
the coefficients split into int8 "digits", so the result is the very same uint8 image Pillow
returns. The horizontal pass, which reads every pixel, runs on the fused AVX-512 VNNI kernel
(``_vnni_kernel``) where the CPU has it, else as an int8 x int8 -> int32 matrix product
(``torch._int_mm``) between compiled gather and rounding kernels (``_pillow_kernels``). The
vertical pass of all images of a batch is one ``torch._int_mm`` product, because the horizontal
results are stacked side by side. No library exposes a batched, bit-exact Pillow resize, which
is why it is written here.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache

import numpy as np
import torch

from polyclr.selection._pillow_kernels import HALF, digit_kernels, gather_kernel
from polyclr.selection._vnni_kernel import (
    compile_pass,
    horizontal_pass,
    pack_digits,
    rows_per_block,
    vnni_available,
)

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


def _digit_matrix(weights: np.ndarray) -> tuple[torch.Tensor, int]:
    """``_digits`` stacked digit-major: (n_digits * out_size, in_size) int8 tensor, digit count."""
    digits = _digits(weights)
    return torch.from_numpy(np.ascontiguousarray(np.concatenate(digits, axis=0))), len(digits)


@lru_cache(maxsize=256)
def _int8_plan(in_size: int, out_size: int) -> tuple[torch.Tensor, np.ndarray, int]:
    """The int8 digit matrix of one pass, its weight prefix sums and its digit count.

    Returns:
        (mat, cumulative, n_digits): ``mat`` (in_size, n_digits * out_size) int8, columns
        digit-major (digit p of output j in column p * out_size + j), so the live image rows
        are the product's long side (oneDNN ran the other orientation at about half the
        speed); ``cumulative``
        (out_size, in_size + 1) int64 prefix sums of each output's weights, from which the
        offset that undoes the -128 input shift of any column range is read.
    """
    weights, _ = pillow_lanczos_coefficients(in_size, out_size)
    mat, nd = _digit_matrix(weights)
    mat = mat.t().contiguous()
    cumulative = np.zeros((out_size, in_size + 1), dtype=np.int64)
    np.cumsum(weights, axis=1, out=cumulative[:, 1:])
    return mat, cumulative, nd


@lru_cache(maxsize=256)
def _vertical_plan(in_size: int, out_size: int) -> tuple[torch.Tensor, np.ndarray, int]:
    """``_int8_plan`` of the vertical pass (rows = input rows, columns digit-major over output
    rows) with the full-height shift offset; the identity scaled to Pillow's fixed point when the height is
    unchanged (Pillow then skips the pass, and (v << 22 + 2**21) >> 22 is v)."""
    if in_size == out_size:
        weights = np.eye(in_size, dtype=np.int64) << PRECISION_BITS
    else:
        weights = pillow_lanczos_coefficients(in_size, out_size)[0]
    mat, nd = _digit_matrix(weights)
    return mat.t().contiguous(), 128 * weights.sum(axis=1), nd


_SCRATCH = threading.local()


def _scratch(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
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


def _live_products(flat: np.ndarray, out_size: int):
    """The exact digit products of one pass over every non-zero row of ``flat``.

    Returns ``None`` when every row is zero, else ``(prod, offset, rows, n_digits)``: the
    int32 digit products of each live row, the offset that undoes the -128 shift, the live
    rows' numbers and the digit count (``digit_kernels`` rounds them like Pillow).

    Shape:
        flat: (rows, in_size) uint8 -> prod: (n_live, n_digits * out_size) int32,
        offset: (out_size,) int64, rows: (n_live,) int64.
    """
    in_size = flat.shape[1]
    nd = _int8_plan(in_size, out_size)[2]
    words = flat.view(np.uint64) if in_size % 8 == 0 else np.zeros((len(flat), 0), np.uint64)
    signed = _scratch("signed", flat.shape, np.int8)
    rows = _scratch("rows", (len(flat),), np.int64)
    n_live, col0, col1 = gather_kernel()(flat, words, signed, rows)
    if n_live == 0:
        return None
    sub, offset = _column_range_plan(in_size, out_size, col0, col1)
    prod = _int8_product(torch.from_numpy(signed[:n_live, col0:col1]), sub, "prod")
    return prod, offset, rows[:n_live], nd


@lru_cache(maxsize=4096)
def _column_range_plan(in_size: int, out_size: int, col0: int, col1: int):
    """Columns that are zero in every live row (padding) add nothing to the true sums: the
    product leaves them out, and the -128 shift is undone with the kept columns' weights only.

    Returns:
        (sub, offset): the digit matrix restricted to input columns [col0, col1) (contiguous
        int8 tensor) and the (out_size,) int64 offset.
    """
    mat, cumulative, _ = _int8_plan(in_size, out_size)
    offset = 128 * (cumulative[:, col1] - cumulative[:, col0])
    return mat[col0:col1].contiguous(), offset


def _int8_product(a: torch.Tensor, b: torch.Tensor, name: str) -> np.ndarray:
    """Exact int8 x int8 -> int32 product into a per-thread buffer.

    Shape:
        a: (m, k) int8, b: (k, n) int8 -> (m, n) int32.
    """
    out = torch.from_numpy(_scratch(name, (a.shape[0], b.shape[1]), np.int32))
    if a.shape[1] >= 8 and min(a.shape[0], b.shape[1]) > 16:
        return torch._int_mm(a, b, out=out).numpy()  # exact int32 accumulation (oneDNN)
    return torch.mm(a.to(torch.int64), b.to(torch.int64), out=None).to(torch.int32).numpy()


def _resample_last_axis(x: np.ndarray, out_size: int) -> np.ndarray:
    """Resample the last axis of a uint8 array like one Pillow 8-bit pass.

    The sum of each output is exact: int8 digit products accumulate in int32 and the digits are
    recombined in int64 (Pillow's own accumulator is int32 and never overflows). All-zero rows
    (image background) map to 0 and are skipped, and so are columns that are zero in every live
    row. The steps around the product are compiled kernels (``_pillow_kernels``).

    Shape:
        x: (..., in_size) uint8 -> (..., out_size) uint8.
    """
    flat = np.ascontiguousarray(x).reshape(-1, x.shape[-1])
    out = np.zeros((flat.shape[0], out_size), dtype=np.uint8)
    live = _live_products(flat, out_size)
    if live is not None:
        prod, offset, rows, nd = live
        h = _scratch("h", (len(rows), out_size), np.int32)
        digit_kernels(out_size, nd, _DIGIT_BITS)[0](prod, offset, h)
        out[rows] = h
    return out.reshape(*x.shape[:-1], out_size)


def _horizontal(flat: np.ndarray, h: int, width: int, stacked: np.ndarray, route: str) -> bool:
    """The horizontal pass of a batch into ``stacked`` (a row per image and output column, int8):
    the fused VNNI kernel where :func:`vnni_route` allows it, else the portable int8 route, its
    reference (the tests check both give the same bytes). False when every row is zero (then
    ``stacked`` is not written)."""
    w = flat.shape[1]
    if vnni_route(w, width, route):
        kernel, rows, packed = _vnni_plan(w, width)
        horizontal_pass(flat, h, width, kernel, rows, packed, out=stacked)
        return True
    live = _live_products(flat, width)
    if live is None:
        return False
    prod, offset, rows, nd = live
    digit_kernels(width, nd, _DIGIT_BITS)[1](prod, offset, rows, h, stacked)
    return True


def _resample_hv(x: np.ndarray, width: int, height: int, route: str = "auto") -> np.ndarray:
    """Pillow's horizontal-then-vertical resize of a batch with two exact int8 products.

    The horizontal pass is ``_live_products``; its rows are rounded and scattered, shifted to
    int8, into one (N * width, H) matrix, a row per (image, output column) (all-zero image rows are
    -128, i.e. 0), so the vertical pass of all N images is a single product with the vertical
    digit matrix, recombined and rounded like Pillow by the same kernel as the first pass.

    Shape:
        x: (N, H, W) uint8 -> (N, height, width) uint8.
    """
    n, h, w = x.shape
    flat = np.ascontiguousarray(x).reshape(-1, w)
    stacked = _scratch("stacked", (n * width, h), np.int8)
    if not _horizontal(flat, h, width, stacked, route):
        return np.zeros((n, height, width), dtype=np.uint8)
    vmat, voffset, vnd = _vertical_plan(h, height)
    vprod = _int8_product(torch.from_numpy(stacked), vmat, "vprod")
    columns = _scratch("columns", (n * width, height), np.int32)
    digit_kernels(height, vnd, _DIGIT_BITS)[0](vprod, voffset, columns)
    return columns.reshape(n, width, height).transpose(0, 2, 1).astype(np.uint8)


ROUTES = ("auto", "portable", "vnni")


def vnni_route(in_size: int, out_size: int, route: str = "auto") -> bool:
    """Whether the horizontal pass ``in_size -> out_size`` runs on the fused VNNI kernel
    (``_vnni_kernel``). ``auto``: where the CPU has AVX-512 VNNI, rows are whole uint64 words
    and every sum of Pillow's int32 accumulator fits int32 (true for every Lanczos resize);
    ``portable``: never; ``vnni``: as ``auto``, but a ValueError where it cannot run."""
    if route not in ROUTES:
        raise ValueError(f"route must be one of {ROUTES}, got {route!r}")
    if route == "portable":
        return False
    fits = _vnni_fits(in_size, out_size)
    if route == "vnni" and not fits:
        raise ValueError(f"the VNNI route cannot run {in_size} -> {out_size} on this CPU")
    return fits


@lru_cache(maxsize=256)
def _vnni_fits(in_size: int, out_size: int) -> bool:
    if in_size % 8 or not vnni_available():
        return False
    weights, _ = pillow_lanczos_coefficients(in_size, out_size)
    return 255 * int(np.abs(weights).sum(axis=1).max()) + HALF < 1 << 31


@lru_cache(maxsize=64)
def _vnni_plan(in_size: int, out_size: int):
    """The compiled VNNI pass of ``in_size -> out_size``, its rows per block and its packed
    digits (``_vnni_kernel``)."""
    mat, nd = _digit_matrix(pillow_lanczos_coefficients(in_size, out_size)[0])
    kernel, rows = compile_pass(in_size, out_size, nd, _DIGIT_BITS)
    return kernel, rows, pack_digits(mat.numpy(), rows_per_block(out_size, nd)[0])


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


def pil_resize_lanczos(images: np.ndarray, width: int, height: int, route: str = "auto") -> np.ndarray:
    """Batched, bit-exact equivalent of ``Image.fromarray(img).resize((width, height), LANCZOS)``.

    Args:
        images: uint8 grayscale images.
        width: output width (columns).
        height: output height (rows).
        route: horizontal pass on the fused VNNI kernel where possible (``auto``), always on the
            portable int8 route (``portable``), or on VNNI (``vnni``, an error where it cannot
            run); every route returns the same bytes.

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
    if w == width:
        return _pass_v(x, height)
    return _resample_hv(x, width, height, route)
