"""LLVM IR text of the fused VNNI horizontal pass (compiled by ``_vnni_kernel``).

Two functions per (width, outputs, digits): ``hpass`` multiplies blocks of live rows by the
coefficient digits with ``vpdpbusd`` and rounds like Pillow; ``hbatch`` walks a batch of images,
finds each image's live rows and column groups and calls ``hpass``. Written as IR because the
product needs ``vpdpbusd`` on the raw uint8 rows, which neither numba nor NumPy can emit, and
one compiled function per batch keeps the GIL released for the whole batch.
"""

from __future__ import annotations

PREFETCH_LINES = 2  # cache lines of the next image prefetched per group step
PREFETCH_LOCALITY = 2  # llvm.prefetch locality 2: prefetcht1, into L2


def row_kernel_ir(n_out: int, n_digits: int, digit_bits: int, halves: int, rows: int) -> str:
    """LLVM IR of ``hpass``: digit products, recombination, rounding and scatter of live rows.

    ``void hpass(ptr src, ptr rowoff, ptr rowid, i64 n_live, ptr granges, ptr w, ptr dst,
    i64 dst_stride, ptr pf_base, i64 pf_end)``: live row i starts ``rowoff[i]`` bytes after
    ``src`` and is image row ``rowid[i]``; ``rowoff`` is padded to a multiple of ``rows``
    entries. For block b of ``rows`` live rows, the 4-byte column groups
    [granges[2b], granges[2b + 1]) are multiplied by the packed digits ``w`` ((groups,
    16 * halves, 4) int8, lane ``p * n_out + j`` = digit p of output j) with ``vpdpbusd``, one
    accumulator set per row. Output j of a row, recombined from its digits in int32 (exact:
    Pillow's own int32 sum fits, so the wrap-around arithmetic is exact), rounded and clipped like
    Pillow and shifted to int8, is stored at ``dst[j * dst_stride + rowid[i]]``. Meanwhile
    ``PREFETCH_LINES`` cache lines per group step of [pf_base, pf_base + pf_end) are prefetched.
    """
    lanes = 16 * halves
    vec = "<16 x i32>"
    out_vec = f"<{n_out} x i32>"
    lines = [
        f"declare {vec} @llvm.x86.avx512.vpdpbusd.512({vec}, {vec}, {vec})",
        "declare void @llvm.prefetch.p0(ptr, i32, i32, i32)",
        f"declare {out_vec} @llvm.smax.v{n_out}i32({out_vec}, {out_vec})",
        f"declare {out_vec} @llvm.smin.v{n_out}i32({out_vec}, {out_vec})",
        "define void @hpass(ptr %src, ptr noalias %rowoff, ptr noalias %rowid, i64 %n_live, "
        "ptr noalias %granges, ptr noalias %w, ptr noalias %dst, i64 %dst_stride, ptr %pf_base, "
        "i64 %pf_end) {",
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


def _chunks(width: int) -> list[tuple[int, str]]:
    """(byte offset, IR type) of the loads that cover a row: 64-byte vectors, then 8-byte words
    (written out, because LLVM left the equivalent loop as scalar code)."""
    return ([(64 * v, "<8 x i64>") for v in range(width // 64)]
            + [(8 * k, "i64") for k in range(width // 64 * 8, width // 8)])


def _row_or_ir(width: int) -> str:
    """``i64 row_or(ptr p)``: non-zero iff the row has a non-zero byte."""
    lines = ["define internal i64 @row_or(ptr noalias %p) alwaysinline {", "entry:"]
    vec_acc, word_acc = None, None
    for n, (offset, kind) in enumerate(_chunks(width)):
        lines += [f"  %q{n} = getelementptr i8, ptr %p, i64 {offset}",
                  f"  %v{n} = load {kind}, ptr %q{n}, align 1"]
        previous = vec_acc if kind != "i64" else word_acc
        if previous is not None:
            lines.append(f"  %o{n} = or {kind} {previous}, %v{n}")
        name = f"%o{n}" if previous is not None else f"%v{n}"
        if kind == "i64":
            word_acc = name
        else:
            vec_acc = name
    total = "0"
    if vec_acc is not None:
        lines.append(f"  %r = call i64 @llvm.vector.reduce.or.v8i64(<8 x i64> {vec_acc})")
        total = "%r"
    if word_acc is not None:
        lines.append(f"  %t = or i64 {total}, {word_acc}")
        total = "%t"
    lines += [f"  ret i64 {total}", "}"]
    return "\n".join(lines)


def _or_into_ir(width: int) -> str:
    """``void or_into(ptr u, ptr p)``: u |= p over one row."""
    lines = ["define internal void @or_into(ptr noalias %u, ptr noalias %p) alwaysinline {",
             "entry:"]
    for n, (offset, kind) in enumerate(_chunks(width)):
        lines += [f"  %q{n} = getelementptr i8, ptr %p, i64 {offset}",
                  f"  %v{n} = load {kind}, ptr %q{n}, align 1",
                  f"  %uq{n} = getelementptr i8, ptr %u, i64 {offset}",
                  f"  %uv{n} = load {kind}, ptr %uq{n}, align 8",
                  f"  %o{n} = or {kind} %uv{n}, %v{n}",
                  f"  store {kind} %o{n}, ptr %uq{n}, align 8"]
    lines += ["  ret void", "}"]
    return "\n".join(lines)


def batch_ir(width: int, n_out: int, rows: int) -> str:
    """LLVM IR of ``hbatch``, the per-batch driver of ``hpass``.

    ``void hbatch(ptr src, i64 n_images, i64 height, ptr w, ptr dst, ptr rowoff, ptr rowid,
    ptr granges, ptr union)``: ``src`` holds ``n_images`` images of ``height`` rows of
    ``width`` bytes. For each image, the rows with a non-zero byte are listed (``rowoff``: byte
    offset, ``rowid``: row), and for every block of ``rows`` of them, ``granges`` gets the
    4-byte column groups from the first to the last non-zero 8-byte word of the block (the OR
    of its rows, accumulated in ``union``); then ``hpass`` writes the image's outputs to
    ``dst + image * n_out * height`` (rows of ``height`` bytes) while it prefetches the next
    image. Scratch sizes: rowoff height + rows, rowid height, granges 2 * (height // rows + 1),
    union width bytes.
    """
    n_words = width // 8
    return "\n".join([
        "declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)",
        "declare i64 @llvm.vector.reduce.or.v8i64(<8 x i64>)",
        _row_or_ir(width),
        _or_into_ir(width),
        # a block's column groups from its union (which has a non-zero word), then clear it
        "define internal void @close_block(ptr noalias %u, ptr noalias %granges, i64 %block) {",
        "entry:", "  br label %lo", "lo:",
        "  %a = phi i64 [0, %entry], [%a.next, %lo]",
        "  %ap = getelementptr i64, ptr %u, i64 %a",
        "  %av = load i64, ptr %ap, align 8",
        "  %a.next = add i64 %a, 1",
        "  %azero = icmp eq i64 %av, 0",
        "  br i1 %azero, label %lo, label %hi.start",
        "hi.start:", "  br label %hi", "hi:",
        f"  %z = phi i64 [{n_words - 1}, %hi.start], [%z.next, %hi]",
        "  %zp = getelementptr i64, ptr %u, i64 %z",
        "  %zv = load i64, ptr %zp, align 8",
        "  %z.next = sub i64 %z, 1",
        "  %zzero = icmp eq i64 %zv, 0",
        "  br i1 %zzero, label %hi, label %store",
        "store:",
        "  %g0 = shl i64 %a, 1",
        "  %z1 = add i64 %z, 1",
        "  %g1 = shl i64 %z1, 1",
        "  %slot = shl i64 %block, 1",
        "  %g0p = getelementptr i64, ptr %granges, i64 %slot",
        "  store i64 %g0, ptr %g0p",
        "  %g1p = getelementptr i64, ptr %g0p, i64 1",
        "  store i64 %g1, ptr %g1p",
        f"  call void @llvm.memset.p0.i64(ptr %u, i8 0, i64 {width}, i1 false)",
        "  ret void", "}",
        "define void @hbatch(ptr noalias %src, i64 %n_images, i64 %height, ptr noalias %w, "
        "ptr noalias %dst, ptr noalias %rowoff, ptr noalias %rowid, ptr noalias %granges, "
        "ptr noalias %u) {",
        "entry:",
        f"  %image_bytes = mul i64 %height, {width}",
        f"  %dst_image = mul i64 %height, {n_out}",
        f"  call void @llvm.memset.p0.i64(ptr %u, i8 0, i64 {width}, i1 false)",
        "  br label %image",
        "image:",
        "  %img = phi i64 [0, %entry], [%img.next, %image.next]",
        "  %img.done = icmp uge i64 %img, %n_images",
        "  br i1 %img.done, label %exit, label %image.start",
        "image.start:",
        "  %img.base = mul i64 %img, %image_bytes",
        "  br label %row",
        "row:",
        "  %y = phi i64 [0, %image.start], [%y.next, %row.next]",
        "  %live = phi i64 [0, %image.start], [%live.next, %row.next]",
        "  %y.done = icmp uge i64 %y, %height",
        "  br i1 %y.done, label %rows.done, label %row.body",
        "row.body:",
        f"  %roff.y = mul i64 %y, {width}",
        "  %roff = add i64 %img.base, %roff.y",
        "  %rp = getelementptr i8, ptr %src, i64 %roff",
        "  %any = call i64 @row_or(ptr %rp)",
        "  %nz = icmp ne i64 %any, 0",
        "  br i1 %nz, label %row.live, label %row.next",
        "row.live:",
        "  call void @or_into(ptr %u, ptr %rp)",
        "  %ro.p = getelementptr i64, ptr %rowoff, i64 %live",
        "  store i64 %roff, ptr %ro.p",
        "  %ri.p = getelementptr i64, ptr %rowid, i64 %live",
        "  store i64 %y, ptr %ri.p",
        "  %live1 = add i64 %live, 1",
        f"  %rem = urem i64 %live1, {rows}",
        "  %full = icmp eq i64 %rem, 0",
        "  br i1 %full, label %row.close, label %row.next",
        "row.close:",
        f"  %blk1 = udiv i64 %live1, {rows}",
        "  %blk = sub i64 %blk1, 1",
        "  call void @close_block(ptr %u, ptr %granges, i64 %blk)",
        "  br label %row.next",
        "row.next:",
        "  %live.next = phi i64 [%live, %row.body], [%live1, %row.live], [%live1, %row.close]",
        "  %y.next = add i64 %y, 1",
        "  br label %row",
        "rows.done:",
        "  %none = icmp eq i64 %live, 0",
        "  br i1 %none, label %image.next, label %image.tail",
        "image.tail:",
        f"  %trem = urem i64 %live, {rows}",
        "  %partial = icmp ne i64 %trem, 0",
        "  br i1 %partial, label %image.pad, label %image.run",
        "image.pad:",  # close the last, partial block; repeat its last row as padding
        f"  %tb = udiv i64 %live, {rows}",
        "  call void @close_block(ptr %u, ptr %granges, i64 %tb)",
        "  %lastrow = sub i64 %live, 1",
        "  %lastp = getelementptr i64, ptr %rowoff, i64 %lastrow",
        "  %last = load i64, ptr %lastp",
        "  %tb1 = add i64 %tb, 1",
        f"  %pend = mul i64 %tb1, {rows}",
        "  br label %pad",
        "pad:",
        "  %pi = phi i64 [%live, %image.pad], [%pi.next, %pad]",
        "  %pp = getelementptr i64, ptr %rowoff, i64 %pi",
        "  store i64 %last, ptr %pp",
        "  %pi.next = add i64 %pi, 1",
        "  %pmore = icmp ult i64 %pi.next, %pend",
        "  br i1 %pmore, label %pad, label %image.run",
        "image.run:",
        "  %dsto = mul i64 %img, %dst_image",
        "  %dp = getelementptr i8, ptr %dst, i64 %dsto",
        "  %nimg = add i64 %img, 1",
        "  %has_next = icmp ult i64 %nimg, %n_images",
        "  %pf_end = select i1 %has_next, i64 %image_bytes, i64 0",
        "  %pf_off = mul i64 %nimg, %image_bytes",
        "  %pf_at = select i1 %has_next, i64 %pf_off, i64 0",
        "  %pf_base = getelementptr i8, ptr %src, i64 %pf_at",
        "  call void @hpass(ptr %src, ptr %rowoff, ptr %rowid, i64 %live, ptr %granges, ptr %w, "
        "ptr %dp, i64 %height, ptr %pf_base, i64 %pf_end)",
        "  br label %image.next",
        "image.next:",
        "  %img.next = add i64 %img, 1",
        "  br label %image",
        "exit:", "  ret void", "}",
    ])
