"""Fast exact kernels for TS2Vec pre-training on CPU: segment-aware dilated convolution as one
GEMM and a Gram matrix with a one-GEMM backward.

Why hand-written:

- TS2Vec crops have a new random length every step. oneDNN (behind ``F.conv1d``) builds a new
  primitive for every new shape, and its convolution backward dominates a CPU step on short
  series. :class:`SegmentConv` computes the same "same"-padded dilated convolution as one matrix product
  ``Y = X W`` (all taps at once) followed by shifted adds, and its backward as two matrix products.
- The two crops of TS2Vec are encoded together as *segments* of one sequence: the shifted adds
  never cross a segment boundary, so every segment is convolved exactly as if alone (zero
  padding at its ends), with half the number of kernel launches and no padding waste.
- ``logits = z z^T`` backpropagates as ``(G + G^T) z``: one batched product instead of two.

Each is an exact rewrite (same arithmetic up to float summation order); ``tests/timeseries``
compares values and gradients with ``F.conv1d`` / ``matmul``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

Segments = Sequence[tuple[int, int]]  # (start, length) along time

try:  # oneDNN's fp32 GEMM (what PyTorch's CPU convolutions run on), without a conv wrapper
    _ONEDNN_LINEAR = torch.ops.mkldnn._linear_pointwise if torch.backends.mkldnn.is_available() else None
except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
    _ONEDNN_LINEAR = None
_ONEDNN_MIN_MACS = 1_500_000  # below this MKL's sgemm was as fast or faster (launch overhead)


def _mm(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``a @ b (+ bias)``. On CPU, products of the sizes TS2Vec runs go to oneDNN's fp32 GEMM,
    faster there than ``torch.mm`` (MKL) with the same fp32 arithmetic up to summation order.
    Elsewhere (GPU, small products) ``torch.mm`` / ``torch.addmm``.

    Shape:
        a: ``(N, K)``; b: ``(K, M)``; bias: ``(M,)``; returns ``(N, M)``.
    """
    if (_ONEDNN_LINEAR is not None and a.device.type == "cpu" and a.dtype == torch.float32
            and b.dtype == torch.float32 and a.shape[0] * a.shape[1] * b.shape[1] >= _ONEDNN_MIN_MACS):
        # oneDNN takes row- or column-major operands; other strides fall to a reference kernel
        a = a if (a.is_contiguous() or a.t().is_contiguous()) else a.contiguous()
        w = b.t() if (b.is_contiguous() or b.t().is_contiguous()) else b.t().contiguous()
        return _ONEDNN_LINEAR(a, w, bias, "none", [], "")
    return torch.mm(a, b) if bias is None else torch.addmm(bias, a, b)


def tap_shifts(kernel_size: int, dilation: int) -> list[int]:
    """Time offset read by each tap of a "same"-padded dilated convolution.

    Output ``t`` is ``sum_k W_k x[t + s_k]`` with ``s_k = k*dilation - pad`` and
    ``pad = ((kernel_size-1)*dilation + 1) // 2`` (PyTorch padding, output trimmed to the
    input length when the receptive field is even).
    """
    pad = ((kernel_size - 1) * dilation + 1) // 2
    return [k * dilation - pad for k in range(kernel_size)]


def _ranges(shift: int, segments: Segments) -> list[tuple[int, int]]:
    """Output ranges ``[t0, t1)`` where tap ``shift`` reads inside the same segment."""
    out = []
    for a, n in segments:
        if abs(shift) < n:
            out.append((a + max(0, -shift), a + n - max(0, shift)))
    return out


def _pack(weight: torch.Tensor, taps: tuple[int, ...]) -> torch.Tensor:
    """``(C_out, C_in, K)`` conv weight → ``(C_in, n_taps * C_out)`` GEMM operand (taps contiguous)."""
    c_out, c_in, _ = weight.shape
    return weight[:, :, taps[0] : taps[-1] + 1].permute(1, 2, 0).reshape(c_in, len(taps) * c_out).contiguous()


def _unpack(g: torch.Tensor, taps: tuple[int, ...], wshape: torch.Size) -> torch.Tensor:
    """Gradient of :func:`_pack`: ``(C_in, n_taps * C_out)`` → ``(C_out, C_in, K)``."""
    c_out, c_in, k = wshape
    g = g.view(c_in, len(taps), c_out).permute(2, 0, 1)
    if len(taps) == k:
        return g.contiguous()
    full = g.new_zeros(wshape)
    full[:, :, taps[0] : taps[-1] + 1] = g
    return full


def _conv(x2: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, b: int, length: int,
          shifts: tuple[int, ...], segments: Segments) -> torch.Tensor:
    """Segment-wise "same" convolution of ``x2`` ``(R, C_in)`` → ``(R, C_out)``: its first
    ``B*L`` rows are the ``(B, L)`` series; rows beyond (GEMM row padding) are computed but
    never read by a real row."""
    if shifts == (0,):  # per-timestamp linear map
        return _mm(x2, w, bias)
    nt, n = len(shifts), b * length
    c_out = w.shape[1] // nt
    y = _mm(x2, w)
    if 0 in shifts:  # the zero-shift tap covers every segment whole: start from it
        j0 = shifts.index(0)
        yc = y[:, j0 * c_out : (j0 + 1) * c_out]
        out = yc + bias if bias is not None else yc.clone()
    else:
        j0 = -1
        out = (bias.expand(x2.shape[0], c_out).clone() if bias is not None
               else x2.new_zeros(x2.shape[0], c_out))
    o3, y4 = out[:n].view(b, length, c_out), y[:n].view(b, length, nt, c_out)
    for j, s in enumerate(shifts):
        if j != j0:
            for t0, t1 in _ranges(s, segments):
                o3[:, t0:t1] += y4[:, t0 + s : t1 + s, j]
    return out


def _grad_y(g: torch.Tensor, b: int, length: int, shifts: tuple[int, ...],
            segments: Segments) -> torch.Tensor:
    """Gradient w.r.t. the GEMM output ``y`` of :func:`_conv` from the output gradient ``g``
    ``(R, C_out)`` (zero on padding rows); returns ``(R, n_taps * C_out)``."""
    if shifts == (0,):
        return g
    nt, c_out, n = len(shifts), g.shape[1], b * length
    g3 = g[:n].view(b, length, c_out)
    gy = g.new_zeros(g.shape[0], nt, c_out)
    gy4 = gy[:n].view(b, length, nt, c_out)
    for j, s in enumerate(shifts):
        if s == 0:
            gy4[:, :, j] = g3
            continue
        for t0, t1 in _ranges(s, segments):
            gy4[:, t0 + s : t1 + s, j] = g3[:, t0:t1]
    return gy.view(g.shape[0], nt * c_out)


class SegmentConv(torch.autograd.Function):
    """Dilated convolution of channels-last segments, one GEMM forward, two backward.

    Shape:
        x: ``(B, L, C_in)`` contiguous; weight: ``(C_out, C_in, K)`` (an ``nn.Conv1d`` weight);
        bias: ``(C_out,)``; returns ``(B, L, C_out)``.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                taps: tuple[int, ...], shifts: tuple[int, ...], segments: tuple[tuple[int, int], ...]):
        b, length, c_in = x.shape
        w = _pack(weight, taps)
        x2 = x.reshape(b * length, c_in)
        out = _conv(x2, w, bias, b, length, shifts, segments)
        ctx.save_for_backward(x2, w)
        ctx.meta = (b, length, taps, shifts, segments, weight.shape, bias is not None)
        return out.view(b, length, -1)

    @staticmethod
    def backward(ctx, gout: torch.Tensor):
        x2, w = ctx.saved_tensors
        b, length, taps, shifts, segments, wshape, has_bias = ctx.meta
        g = gout.reshape(b * length, -1)
        gy = _grad_y(g, b, length, shifts, segments)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = _mm(gy, w.t()).view(b, length, -1)
        if ctx.needs_input_grad[1]:
            gw = _unpack(_mm(x2.t(), gy), taps, wshape)
        if has_bias and ctx.needs_input_grad[2]:
            gb = g.sum(dim=0)
        return gx, gw, gb, None, None, None


class SegmentBlock(torch.autograd.Function):
    """TS2Vec's residual block ``conv2(gelu(conv1(gelu(x)))) + proj(x)`` as one autograd node
    with a hand-written backward (GELU's via ``aten.gelu_backward``): ~40 tiny kernels and
    their autograd bookkeeping per block become one node, which is most of a step on short
    series. ``proj`` is ``None`` for the identity residual.

    Shape:
        x: ``(R, C_in)``, rows ``B*L`` and more (padding, see :func:`row_bucket`); returns
        ``(R, C_out)``.
    """

    @staticmethod
    def forward(ctx, x2, w1, b1, w2, b2, wp, bp, taps, shifts, segments, b, length):
        p1, p2 = _pack(w1, taps), _pack(w2, taps)
        a = F.gelu(x2)
        h1 = _conv(a, p1, b1, b, length, shifts, segments)
        c = F.gelu(h1)
        out = _conv(c, p2, b2, b, length, shifts, segments)
        pp = None
        if wp is not None:
            pp = wp[:, :, 0].t()
            out = out.add_(_mm(x2, pp, bp))
        else:
            out = out.add_(x2)
        ctx.save_for_backward(x2, a, h1, c, p1, p2, pp)
        ctx.meta = (b, length, taps, shifts, segments, w1.shape, w2.shape,
                    None if wp is None else wp.shape, b1 is not None, b2 is not None, bp is not None)
        return out

    @staticmethod
    def backward(ctx, gout):
        x2, a, h1, c, p1, p2, pp = ctx.saved_tensors
        b, length, taps, shifts, segments, s1, s2, sp, hb1, hb2, hbp = ctx.meta
        g = gout.contiguous()
        gy2 = _grad_y(g, b, length, shifts, segments)
        gw2 = _unpack(_mm(c.t(), gy2), taps, s2)
        gh1 = torch.ops.aten.gelu_backward(_mm(gy2, p2.t()), h1)
        gy1 = _grad_y(gh1, b, length, shifts, segments)
        gw1 = _unpack(_mm(a.t(), gy1), taps, s1)
        gx = torch.ops.aten.gelu_backward(_mm(gy1, p1.t()), x2)
        gwp = gbp = None
        if pp is not None:
            gx.add_(_mm(g, pp.t()))
            gwp = _mm(g.t(), x2).unsqueeze(-1)
            gbp = g.sum(dim=0) if hbp else None
        else:
            gx.add_(g)
        gb2 = g.sum(dim=0) if hb2 else None
        gb1 = gh1.sum(dim=0) if hb1 else None
        return gx, gw1, gb1, gw2, gb2, gwp, gbp, None, None, None, None, None


def active_taps(kernel_size: int, dilation: int, longest: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(taps, shifts)``: the taps that can read inside a segment of at most ``longest`` steps
    (the others only ever see zero padding) and their time offsets."""
    shifts = tap_shifts(kernel_size, dilation)
    taps = tuple(k for k, s in enumerate(shifts) if abs(s) < longest)
    return taps, tuple(shifts[k] for k in taps)


def row_bucket(n: int, device: torch.device) -> int:
    """Rows to allocate for ``n`` rows of GEMM input: a multiple of 64 where products go to
    oneDNN, which JIT-compiles a kernel for every new shape — random crop
    lengths would otherwise make nearly every step's shapes new; ``n`` elsewhere."""
    return -(-n // 64) * 64 if (_ONEDNN_LINEAR is not None and device.type == "cpu") else n


def segment_block(x: torch.Tensor, conv1: torch.nn.Conv1d, conv2: torch.nn.Conv1d,
                  proj: torch.nn.Conv1d | None, dilation: int, segments: Segments,
                  longest: int, b: int, length: int) -> torch.Tensor:
    """``conv2(gelu(conv1(gelu(x)))) + (proj(x) or x)`` on every segment on its own
    (:class:`SegmentBlock`); ``conv1``/``conv2`` share kernel size and dilation.

    Shape:
        x: ``(R, C_in)`` whose first ``b*length`` rows are the ``(b, length)`` series (rows
        beyond are padding, finite, with zero gradient) → ``(R, C_out)``.
    """
    taps, shifts = active_taps(conv1.kernel_size[0], dilation, longest)
    if not taps:  # even kernels: every tap reads only padding, each conv outputs its bias
        res = x if proj is None else F.linear(x, proj.weight[:, :, 0], proj.bias)
        return res if conv2.bias is None else res + conv2.bias
    seg = tuple((int(a), int(n)) for a, n in segments)
    wp, bp = (None, None) if proj is None else (proj.weight, proj.bias)
    return SegmentBlock.apply(x, conv1.weight, conv1.bias, conv2.weight, conv2.bias, wp, bp,
                              taps, shifts, seg, b, length)


def segment_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, dilation: int,
                 segments: Segments, longest: int | None = None) -> torch.Tensor:
    """"Same"-padded dilated convolution of every segment on its own (zero padding at each
    segment's ends), equal to ``F.conv1d`` applied to each segment separately.

    Taps that read ``>= longest`` steps away only ever see padding and are skipped; with only
    the centre tap left this is a per-timestamp linear map.

    Shape:
        x: ``(B, L, C_in)``; weight ``(C_out, C_in, K)``; returns ``(B, L, C_out)``.
    """
    longest = max(n for _, n in segments) if longest is None else longest
    taps, shifts = active_taps(weight.shape[-1], dilation, longest)
    if not taps:
        return (bias if bias is not None else x.new_zeros(weight.shape[0])).expand(
            *x.shape[:-1], weight.shape[0]).clone()
    if shifts == (0,):
        return F.linear(x, weight[:, :, taps[0]], bias)
    seg = tuple((int(a), int(n)) for a, n in segments)
    return SegmentConv.apply(x.contiguous(), weight, bias, taps, shifts, seg)


def is_pointwise(kernel_size: int, dilation: int, longest: int) -> bool:
    """Whether every tap except a zero-shift one reads only padding on series of ``longest``."""
    return all(s == 0 or abs(s) >= longest for s in tap_shifts(kernel_size, dilation))


class Gram(torch.autograd.Function):
    """Batched ``z @ z^T`` whose backward is the single product ``(G + G^T) z``.

    Shape:
        z: ``(G, M, D)``; returns ``(G, M, M)``.
    """

    @staticmethod
    def forward(ctx, z: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(z)
        return torch.bmm(z, z.transpose(1, 2))

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:
        (z,) = ctx.saved_tensors
        return torch.bmm(g + g.transpose(1, 2), z)


def gram(z: torch.Tensor) -> torch.Tensor:
    """``z @ z.transpose(1, 2)`` with the cheaper backward of :class:`Gram`. Shape: ``(G, M, D)``."""
    return Gram.apply(z)
