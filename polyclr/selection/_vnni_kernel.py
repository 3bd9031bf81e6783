"""A fused AVX-512 VNNI kernel for the horizontal pass of the bit-exact Pillow resize.

``pillow_resize`` computes Pillow's 8-bit Lanczos passes as exact integer products. With
``torch._int_mm`` (oneDNN's int8 x int8 GEMM) the live image rows must first be copied with a
-128 shift into a scratch matrix, which oneDNN copies once more while packing it, and the int32
digit sums make a third trip through memory before they are rounded. oneDNN's uint8 route reads
the rows in place but ran at a third of the speed from memory on the machines measured
(``docs/results_selection.md``). This module does the whole horizontal pass of one image in
one compiled loop instead: for blocks of live rows, still hot in L1/L2 from the all-zero test,
``vpdpbusd`` multiplies the raw uint8 pixels by int8 coefficient digits (no shift, no copy),
then the digits are recombined, rounded and clipped exactly like Pillow and written, shifted to
int8, straight into the vertical pass's input. No library offers a fused
uint8 x int8 row product with Pillow's rounding, which is why it is written here; the kernel is
LLVM IR compiled at run time by llvmlite (numba's own compiler, already a dependency), used only
where the CPU has AVX-512 VNNI, and always checked against the portable route by the tests.
"""

from __future__ import annotations

import ctypes
import threading
from functools import lru_cache

import numpy as np

PREFETCH_LINES = 2  # cache lines of the next image prefetched per group step
PREFETCH_LOCALITY = 2  # llvm.prefetch locality 2: prefetcht1, into L2
ROWS_PER_BLOCK = 8  # live rows sharing each weight load (16 accumulators for a dHash)
_LOCK = threading.Lock()
_ENGINES: list = []  # keeps every compiled engine (and so its code) alive for the process


@lru_cache(maxsize=1)
def vnni_available() -> bool:
    """True when llvmlite can compile for this CPU and the CPU has AVX-512 VNNI."""
    try:
        import llvmlite.binding as ll

        _initialise(ll)
        features = ll.get_host_cpu_features()
    except (ImportError, RuntimeError, OSError):  # pragma: no cover - depends on the install
        return False
    return all(features.get(f, False) for f in ("avx512f", "avx512bw", "avx512vnni"))


def _initialise(ll) -> None:
    # llvmlite >= 0.42 initialises the core itself and rejects ``initialize()``.
    ll.initialize_native_target()
    ll.initialize_native_asmprinter()


def _kernel_ir(n_out: int, n_digits: int, digit_bits: int, halves: int, rows: int) -> str:
    """LLVM IR of ``hpass``: digit products, recombination, rounding and scatter of live rows.

    ``void hpass(ptr src, ptr rowoff, ptr rowid, i64 n_live, i64 g0, i64 g1, ptr w, ptr dst,
    i64 dst_stride)``: for each live row i (byte offset ``rowoff[i]`` from ``src``, image row
    ``rowid[i]``; ``rowoff`` padded to a multiple of ``rows`` entries), the 4-byte groups
    [g0, g1) of the row are multiplied by the packed digits ``w`` ((groups, 16 * halves, 4)
    int8, lane ``p * n_out + j`` = digit p of output j); output j, rounded like Pillow and
    shifted to int8, is stored at ``dst[j * dst_stride + rowid[i]]``.
    """
    lanes = 16 * halves
    vec = "<16 x i32>"
    out_vec = f"<{n_out} x i32>"
    lines = [
        f"declare {vec} @llvm.x86.avx512.vpdpbusd.512({vec}, {vec}, {vec})",
        "declare void @llvm.prefetch.p0(ptr, i32, i32, i32)",
        f"declare {out_vec} @llvm.smax.v{n_out}i32({out_vec}, {out_vec})",
        f"declare {out_vec} @llvm.smin.v{n_out}i32({out_vec}, {out_vec})",
        "define void @hpass(ptr %src, ptr %rowoff, ptr %rowid, i64 %n_live, ptr %granges, "
        "ptr %w, ptr %dst, i64 %dst_stride, ptr %pf_base, i64 %pf_end) {",
        "entry:",
        f"  %nbr = add i64 %n_live, {rows - 1}",
        f"  %nb = udiv i64 %nbr, {rows}",
        "  br label %block",
        "block:",
        "  %b = phi i64 [0, %entry], [%b.next, %block.end]",
        "  %pf.b = phi i64 [0, %entry], [%pf.next, %block.end]",
        "  %done = icmp uge i64 %b, %nb",
        "  br i1 %done, label %exit, label %block.start",
        "block.start:",
        f"  %first = mul i64 %b, {rows}",
        "  %gr = mul i64 %b, 2",
        "  %g0.p = getelementptr i64, ptr %granges, i64 %gr",
        "  %g0 = load i64, ptr %g0.p",
        "  %g1.p = getelementptr i64, ptr %g0.p, i64 1",
        "  %g1 = load i64, ptr %g1.p",
    ]
    for r in range(rows):
        lines += [
            f"  %i{r} = add i64 %first, {r}",
            f"  %ro.p{r} = getelementptr i64, ptr %rowoff, i64 %i{r}",
            f"  %ro{r} = load i64, ptr %ro.p{r}",
            f"  %row{r} = getelementptr i8, ptr %src, i64 %ro{r}",
        ]
    lines += ["  br label %group", "group:", "  %g = phi i64 [%g0, %block.start], [%g.next, %group]",
              "  %pf = phi i64 [%pf.b, %block.start], [%pf.next, %group]"]
    for r in range(rows):
        for h in range(halves):
            lines.append(f"  %acc{r}.{h} = phi {vec} [zeroinitializer, %block.start], "
                         f"[%sum{r}.{h}, %group]")
    # Prefetch the next image into L2 while this one computes, PREFETCH_LINES cache lines per
    # step (past the end, the first line again): the next all-zero test then reads L2, not DRAM.
    for q in range(PREFETCH_LINES):
        lines += [f"  %pfo{q} = add i64 %pf, {64 * q}",
                  f"  %pfok{q} = icmp ult i64 %pfo{q}, %pf_end",
                  f"  %pfa{q} = select i1 %pfok{q}, i64 %pfo{q}, i64 0",
                  f"  %pfp{q} = getelementptr i8, ptr %pf_base, i64 %pfa{q}",
                  f"  call void @llvm.prefetch.p0(ptr %pfp{q}, i32 0, i32 {PREFETCH_LOCALITY}, i32 1)"]
    lines += [f"  %pf.next = add i64 %pf, {64 * PREFETCH_LINES}"]
    lines.append(f"  %wo = mul i64 %g, {4 * lanes}")
    for h in range(halves):
        lines += [f"  %wp{h} = getelementptr i8, ptr %w, i64 %wo",
                  f"  %wq{h} = getelementptr i8, ptr %wp{h}, i64 {64 * h}",
                  f"  %w{h} = load {vec}, ptr %wq{h}, align 1"]
    lines.append("  %xo = mul i64 %g, 4")
    for r in range(rows):
        lines += [
            f"  %xp{r} = getelementptr i8, ptr %row{r}, i64 %xo",
            f"  %x{r} = load i32, ptr %xp{r}, align 1",
            f"  %xi{r} = insertelement {vec} poison, i32 %x{r}, i64 0",
            f"  %xb{r} = shufflevector {vec} %xi{r}, {vec} poison, <16 x i32> zeroinitializer",
        ]
        for h in range(halves):
            lines.append(f"  %sum{r}.{h} = call {vec} @llvm.x86.avx512.vpdpbusd.512("
                         f"{vec} %acc{r}.{h}, {vec} %xb{r}, {vec} %w{h})")
    lines += ["  %g.next = add i64 %g, 1", "  %more = icmp ult i64 %g.next, %g1",
              "  br i1 %more, label %group, label %store.0"]
    for r in range(rows):
        nxt = f"store.{r + 1}" if r + 1 < rows else "block.end"
        lines += [f"store.{r}:", f"  %live{r} = icmp ult i64 %i{r}, %n_live",
                  f"  br i1 %live{r}, label %write.{r}, label %{nxt}", f"write.{r}:"]
        # concatenate the halves into one (lanes x i32) vector
        parts = [f"%sum{r}.{h}" for h in range(halves)]
        width = 16
        level = 0
        while len(parts) > 1:
            merged = []
            for k in range(0, len(parts), 2):
                name = f"%cat{r}.{level}.{k}"
                if k + 1 < len(parts):
                    mask = ", ".join(f"i32 {m}" for m in range(2 * width))
                    lines.append(f"  {name} = shufflevector <{width} x i32> {parts[k]}, "
                                 f"<{width} x i32> {parts[k + 1]}, <{2 * width} x i32> <{mask}>")
                else:  # odd count: pad with zeros
                    mask = ", ".join(f"i32 {m}" for m in range(2 * width))
                    lines.append(f"  {name} = shufflevector <{width} x i32> {parts[k]}, "
                                 f"<{width} x i32> zeroinitializer, <{2 * width} x i32> <{mask}>")
                merged.append(name)
            parts, width, level = merged, 2 * width, level + 1
        full = parts[0]
        total = None
        for p in range(n_digits):
            mask = ", ".join(f"i32 {p * n_out + j}" for j in range(n_out))
            lines.append(f"  %d{r}.{p} = shufflevector <{width} x i32> {full}, <{width} x i32> "
                         f"poison, <{n_out} x i32> <{mask}>")
            term = f"%d{r}.{p}"
            if p:
                lines.append(f"  %t{r}.{p} = shl {out_vec} {term}, {_splat(n_out, digit_bits * p)}")
                term = f"%t{r}.{p}"
            if total is None:
                total = term
            else:
                lines.append(f"  %s{r}.{p} = add {out_vec} {total}, {term}")
                total = f"%s{r}.{p}"
        lines += [
            f"  %rnd{r} = add {out_vec} {total}, {_splat(n_out, 1 << 21)}",
            f"  %shr{r} = ashr {out_vec} %rnd{r}, {_splat(n_out, 22)}",
            f"  %lo{r} = call {out_vec} @llvm.smax.v{n_out}i32({out_vec} %shr{r}, {out_vec} zeroinitializer)",
            f"  %hi{r} = call {out_vec} @llvm.smin.v{n_out}i32({out_vec} %lo{r}, {out_vec} {_splat(n_out, 255)})",
            f"  %u8.{r} = trunc {out_vec} %hi{r} to <{n_out} x i8>",
            f"  %s8.{r} = xor <{n_out} x i8> %u8.{r}, {_splat(n_out, 128, 'i8')}",
            f"  %y.p{r} = getelementptr i64, ptr %rowid, i64 %i{r}",
            f"  %y{r} = load i64, ptr %y.p{r}",
        ]
        for j in range(n_out):
            lines += [f"  %e{r}.{j} = extractelement <{n_out} x i8> %s8.{r}, i64 {j}",
                      f"  %off{r}.{j}.a = mul i64 %dst_stride, {j}",
                      f"  %off{r}.{j} = add i64 %off{r}.{j}.a, %y{r}",
                      f"  %dp{r}.{j} = getelementptr i8, ptr %dst, i64 %off{r}.{j}",
                      f"  store i8 %e{r}.{j}, ptr %dp{r}.{j}"]
        lines.append(f"  br label %{nxt}")
    lines += ["block.end:", "  %b.next = add i64 %b, 1", "  br label %block",
              "exit:", "  ret void", "}"]
    return "\n".join(lines)


def _splat(n: int, value: int, kind: str = "i32") -> str:
    return "<" + ", ".join(f"{kind} {value}" for _ in range(n)) + ">"


@lru_cache(maxsize=32)
def hpass_kernel(n_out: int, n_digits: int, digit_bits: int):
    """Compile (once per process and shape) and return ``(kernel, halves)``: the ctypes function
    of ``_kernel_ir`` and the number of 16-lane accumulators per row."""
    import llvmlite.binding as ll

    halves = -(-(n_out * n_digits) // 16)
    rows = ROWS_PER_BLOCK if halves <= 2 else 4  # 32 zmm registers: accumulators + weights
    with _LOCK:
        _initialise(ll)
        module = ll.parse_assembly(_kernel_ir(n_out, n_digits, digit_bits, halves, rows))
        module.verify()
        target = ll.Target.from_default_triple().create_target_machine(
            cpu=ll.get_host_cpu_name(), features=ll.get_host_cpu_features().flatten(), opt=3)
        builder = ll.create_pass_builder(target, ll.create_pipeline_tuning_options(speed_level=3))
        builder.getModulePassManager().run(module, builder)
        engine = ll.create_mcjit_compiler(module, target)
        engine.finalize_object()
        _ENGINES.append(engine)
        i64 = ctypes.c_int64
        kernel = ctypes.CFUNCTYPE(None, *[i64] * 10)(
            engine.get_function_address("hpass"))
    return kernel, halves, rows


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


@lru_cache(maxsize=32)
def horizontal_pass(n_out: int, n_digits: int, digit_bits: int):
    """Compile (once per process and shape) the numba driver of ``hpass`` for a batch.

    Returns ``run(flat, words, packed, rowoff, rowid, stacked)``: for each image of the batch
    it finds the live rows (any non-zero byte) and the 4-byte column groups outside which every
    live row is zero, then calls ``hpass`` on them; ``stacked`` becomes the vertical pass's
    input, as ``digit_kernels``' ``round_scatter`` writes it (-128 where a row is all zero).
    Not cached on disk: the compiled code holds the address of this process's ``hpass``.

    Shape:
        flat: (N * H, W) uint8 with W a multiple of 8; words: flat viewed as (N * H, W // 8)
        uint64; packed: ``pack_digits`` output; rowoff: (H + rows,) int64 and rowid: (H,)
        int64 scratch; stacked: (N * n_out, H) int8.
    """
    from polyclr._optional import require

    numba = require("numba", "selection")
    kernel, _, rows = hpass_kernel(n_out, n_digits, digit_bits)

    @numba.njit(nogil=True, inline="always")
    def _close_block(union, granges, block):  # pragma: no cover - compiled
        """The block's 4-byte column groups: from its first to its last non-zero word (the OR
        of its rows, ``union``, which is then cleared)."""
        lo = 0
        while union[lo] == 0:
            lo += 1
        hi = union.shape[0] - 1
        while union[hi] == 0:
            hi -= 1
        granges[2 * block] = 2 * lo
        granges[2 * block + 1] = 2 * (hi + 1)
        union[:] = 0

    @numba.njit(nogil=True)
    def run(flat, words, packed, rowoff, rowid, granges, stacked):  # pragma: no cover - compiled
        width = flat.shape[1]
        height = stacked.shape[1]
        n_words = words.shape[1]
        stacked[:] = -128
        base = flat.ctypes.data
        union = np.zeros(n_words, dtype=np.uint64)
        n_images = flat.shape[0] // height
        image_bytes = height * width
        for image in range(n_images):
            n_live = 0
            union[:] = 0
            for y in range(height):
                m = image * height + y
                acc = np.uint64(0)
                for k in range(n_words):  # OR-reduction without early exit: vectorises
                    acc |= words[m, k]
                if acc != 0:
                    for k in range(n_words):
                        union[k] |= words[m, k]
                    rowoff[n_live] = m * width
                    rowid[n_live] = y
                    n_live += 1
                    if n_live % rows == 0:  # a block of live rows is complete
                        _close_block(union, granges, n_live // rows - 1)
            if n_live == 0:
                continue
            if n_live % rows:
                _close_block(union, granges, n_live // rows)
                for i in range(n_live, -(-n_live // rows) * rows):
                    rowoff[i] = rowoff[n_live - 1]  # padding rows are computed, not written
            kernel(base, rowoff.ctypes.data, rowid.ctypes.data, n_live, granges.ctypes.data,
                   packed.ctypes.data, stacked.ctypes.data + image * n_out * height, height,
                   base + (image + 1) * image_bytes, image_bytes if image + 1 < n_images else 0)

    return run
