"""A fused AVX-512 VNNI kernel for the horizontal pass of the bit-exact Pillow resize.

``pillow_resize`` computes Pillow's 8-bit Lanczos passes as exact integer products. On the int8
route (``torch._int_mm``, oneDNN's int8 x int8 GEMM) the live image rows are first copied with a
-128 shift into a scratch matrix, which oneDNN copies again while packing it, and the int32 digit
sums make a third trip through memory before they are rounded.

This module does the whole horizontal pass of a batch in one compiled function instead
(``_vnni_ir``). For each image it lists the live rows (any non-zero byte) while reading them.
Blocks of 8 live rows, still hot in cache, are then multiplied by the int8 coefficient digits
with ``vpdpbusd`` on the raw uint8 pixels, so there is no shift and no copy. The digits are
recombined, rounded and clipped exactly like Pillow, and written, shifted to int8, straight into
the vertical pass's input. The next image is prefetched meanwhile.

No library offers a fused uint8 x int8 row product with Pillow's rounding, so it is written here.
The kernel is LLVM IR compiled at run time by llvmlite (numba's compiler, already a dependency of
the ``selection`` extra). It is used only where the CPU has AVX-512 VNNI and a probe reproduces
an exact closed form; the tests check it against the portable route.
"""

from __future__ import annotations

import ctypes
import threading
from functools import lru_cache

import numpy as np

from polyclr.selection._vnni_ir import batch_ir, row_kernel_ir

ROWS_PER_BLOCK = 8  # live rows sharing each weight load (16 accumulators for a dHash)
_LOCK = threading.Lock()
_ENGINES: list = []  # keeps every compiled engine (and so its code) alive for the process


def _llvm():
    import llvmlite.binding as ll

    ll.initialize_native_target()
    ll.initialize_native_asmprinter()
    return ll


@lru_cache(maxsize=1)
def vnni_available() -> bool:
    """True when the CPU has AVX-512 VNNI and a compiled probe matches its closed form.

    The probe (3 outputs of a 16-byte row, two digits, random rows with zero rows and zero
    columns) guards against llvmlite builds that cannot compile this IR.
    """
    try:
        ll = _llvm()
        features = ll.get_host_cpu_features()
        if not all(features.get(f, False) for f in ("avx512f", "avx512bw", "avx512vnni")):
            return False
        rng = np.random.default_rng(0)
        digits = rng.integers(-64, 128, size=(2 * 3, 16)).astype(np.int8)
        weights = digits[:3].astype(np.int64) + (digits[3:].astype(np.int64) << 7)
        x = rng.integers(0, 256, size=(2, 11, 16), dtype=np.uint8)
        x[0, 2:5] = 0
        x[1, :, :8] = 0
        got = horizontal_pass(x.reshape(-1, 16), 11, 3, *compile_pass(16, 3, 2, 7),
                              pack_digits(digits, 1))
        sums = x.astype(np.int64) @ weights.T
        want = (np.clip((sums + (1 << 21)) >> 22, 0, 255) - 128).astype(np.int8)
        want[~x.any(axis=2)] = -128
        return bool(np.array_equal(got.reshape(2, 3, 11), want.transpose(0, 2, 1)))
    except (ImportError, RuntimeError, OSError, AttributeError):  # pragma: no cover - install
        return False


def rows_per_block(n_out: int, n_digits: int) -> tuple[int, int]:
    """(16-lane accumulators per row, live rows per block): the accumulators of a block and
    one row of weights must fit AVX-512's 32 vector registers."""
    halves = -(-(n_out * n_digits) // 16)
    return halves, ROWS_PER_BLOCK if halves <= 2 else 4


@lru_cache(maxsize=32)
def compile_pass(width: int, n_out: int, n_digits: int, digit_bits: int):
    """Compile (once per process and shape) the batch kernel for rows of ``width`` bytes
    (a multiple of 8). Returns ``(kernel, rows)``: the ctypes function of ``hbatch`` and its
    live rows per block."""
    if width % 8:
        raise ValueError(f"width must be a multiple of 8, got {width}")
    ll = _llvm()
    halves, rows = rows_per_block(n_out, n_digits)
    source = (row_kernel_ir(n_out, n_digits, digit_bits, halves, rows) + "\n"
              + batch_ir(width, n_out, rows))
    with _LOCK:
        module = ll.parse_assembly(source)
        module.verify()
        target = ll.Target.from_default_triple().create_target_machine(
            cpu=ll.get_host_cpu_name(), features=ll.get_host_cpu_features().flatten(), opt=3)
        builder = ll.create_pass_builder(target, ll.create_pipeline_tuning_options(speed_level=3))
        builder.getModulePassManager().run(module, builder)
        engine = ll.create_mcjit_compiler(module, target)
        engine.finalize_object()
        _ENGINES.append(engine)
        kernel = ctypes.CFUNCTYPE(None, *[ctypes.c_int64] * 9)(
            engine.get_function_address("hbatch"))
    return kernel, rows


def pack_digits(digit_rows: np.ndarray, halves: int) -> np.ndarray:
    """Lay out (n_digits * n_out, in_size) int8 digit rows as the kernel's (groups, 16 * halves,
    4) weights: group g, lane l holds the digits of input columns 4g..4g+3 of digit row l
    (zero-padded lanes and columns).

    Shape:
        digit_rows: (n_digits * n_out, in_size) int8 -> (ceil(in_size / 4), 16 * halves, 4) int8.
    """
    lanes, in_size = digit_rows.shape
    groups = -(-in_size // 4)
    padded = np.zeros((16 * halves, 4 * groups), dtype=np.int8)
    padded[:lanes, :in_size] = digit_rows
    return np.ascontiguousarray(padded.reshape(16 * halves, groups, 4).transpose(1, 0, 2))


def horizontal_pass(flat: np.ndarray, height: int, n_out: int, kernel, rows: int,
                    packed: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Run the compiled pass on a batch of images stored row after row.

    The call releases the GIL for the whole batch (ctypes), so threads can hash batches in
    parallel.

    Args:
        flat: the images' rows, C-contiguous uint8, ``width`` bytes each (``compile_pass``).
        height: rows per image.
        n_out: outputs per row (the kernel's).
        kernel, rows: ``compile_pass`` output.
        packed: ``pack_digits`` output of the pass's digit matrix (n_out outputs).
        out: optional (N * n_out, height) int8 buffer to fill.

    Returns:
        (N * n_out, height) int8: output j of row y of image i, rounded like Pillow, minus
        128, at [i * n_out + j, y]; -128 where the row is all zero.
    """
    n_images = flat.shape[0] // height
    if out is None:
        out = np.empty((n_images * n_out, height), dtype=np.int8)
    if not (flat.flags.c_contiguous and flat.dtype == np.uint8 and out.flags.c_contiguous):
        raise ValueError("horizontal_pass needs C-contiguous uint8 rows and output")
    out.fill(-128)
    rowoff = np.empty(height + rows, dtype=np.int64)
    rowid = np.empty(height, dtype=np.int64)
    granges = np.empty(2 * (height // rows + 1), dtype=np.int64)
    union = np.empty(flat.shape[1] // 8, dtype=np.uint64)
    kernel(flat.ctypes.data, n_images, height, packed.ctypes.data, out.ctypes.data,
           rowoff.ctypes.data, rowid.ctypes.data, granges.ctypes.data, union.ctypes.data)
    return out

