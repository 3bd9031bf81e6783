"""Encoders returning per-timestamp representations ``(B, T, D)``: the TS2Vec dilated CNN
(default) and tsai backbones selected by name.

TS2Vec architecture (Yue et al., "TS2Vec: Towards Universal Representation of Time Series",
AAAI 2022, sec. 3.1): a linear input projection, timestamp masking during training, a stack of
residual blocks of two dilated same-padded convolutions (dilation ``2**i``), and max-pooling over
time for instance vectors. Written here (≈60 lines) because no installed library ships it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from polyclr.modalities.timeseries.segconv import Segments, is_pointwise, row_bucket, segment_block
from polyclr.sample_rng import SampleRandom


def bernoulli_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout with a keep mask drawn from 32 random bits per element (one 64-bit
    draw per two elements); distributed as ``F.dropout`` (drop probability ``p`` up to
    ``2**-32``) but cheaper on CPU than ``F.dropout``'s per-element ``bernoulli_``.

    Shape:
        x: any; returns the same shape.
    """
    if not training or p == 0:
        return x
    n = x.numel()
    bits = torch.empty((n + 1) // 2, dtype=torch.int64, device=x.device).random_(-(2**63), 2**63 - 1)
    u = bits.view(torch.int32)[:n].view(x.shape)  # uniform over the int32 range
    keep = (u >= int(-(2**31) + round(p * 2**32))).to(x.dtype)
    return x * keep.mul_(1.0 / (1.0 - p))


def keyed_dropout(x: torch.Tensor, p: float, training: bool, rng: SampleRandom | None) -> torch.Tensor:
    """Inverted dropout whose keep mask comes from per-sample generators (``rng``; see
    :mod:`polyclr.sample_rng`), or :func:`bernoulli_dropout` without one.

    Shape:
        x: ``(B, *)``; returns the same shape.
    """
    if rng is None or not training or p == 0:
        return bernoulli_dropout(x, p, training)
    keep = (rng.rand(*x.shape[1:]) >= p).to(device=x.device, dtype=x.dtype)
    return x * keep.mul_(1.0 / (1.0 - p))


def _timestamp_keep(valid: torch.Tensor, prob: float, training: bool, rng: SampleRandom | None) -> torch.Tensor:
    """TS2Vec's training-time binomial timestamp mask (all True in eval). Shape: ``(B, T)`` bool."""
    if not training:
        return torch.ones_like(valid)
    if rng is None:
        return torch.rand(valid.shape, device=valid.device) < prob
    return rng.rand(valid.shape[1]).to(valid.device) < prob


TSAI_BACKBONES = ("InceptionTimePlus", "ResNetPlus", "TSTPlus", "XceptionTimePlus", "FCNPlus")


class _DilatedBlock(nn.Module):
    """GELU → dilated conv → GELU → dilated conv, plus a (1×1-projected) residual.

    Shape:
        x: ``(B, C_in, T)`` → ``(B, C_out, T)``.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int, final: bool) -> None:
        super().__init__()
        field = (kernel_size - 1) * dilation + 1  # receptive field; "same" output length
        self.trim = 1 if field % 2 == 0 else 0
        self.dilation, self.center = dilation, (kernel_size - 1) // 2 if kernel_size % 2 else None
        self.conv1 = nn.Conv1d(c_in, c_out, kernel_size, dilation=dilation, padding=field // 2)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel_size, dilation=dilation, padding=field // 2)
        self.proj = nn.Conv1d(c_in, c_out, 1) if (c_in != c_out or final) else None

    def _same(self, conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
        if self.center is not None and x.shape[-1] <= self.dilation:
            # Every off-centre tap sits >= dilation >= T steps away, i.e. it only ever reads the
            # zero padding: the convolution is exactly a 1x1 convolution with the centre tap.
            # TS2Vec's deep blocks (dilation 256..1024, the 320-wide last one holding ~3/4 of the
            # encoder's FLOPs) hit this on every series shorter than their dilation.
            c = self.center
            return F.conv1d(x, conv.weight[:, :, c : c + 1].contiguous(), conv.bias)
        out = conv(x)
        return out[..., : out.shape[-1] - self.trim] if self.trim else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = x if self.proj is None else self.proj(x)
        h = self._same(self.conv1, F.gelu(x))
        h = self._same(self.conv2, F.gelu(h))
        return h + res

    def pointwise(self, longest: int) -> bool:
        """Whether the block acts per timestamp on series of at most ``longest`` steps."""
        return is_pointwise(self.conv1.kernel_size[0], self.dilation, longest)

    def forward_segments(self, x: torch.Tensor, segments: Segments, longest: int, b: int,
                         length: int) -> torch.Tensor:
        """The same block on channels-last rows, each time segment convolved on its own.

        Shape:
            x: ``(R, C_in)`` whose first ``b*length`` rows are ``(b, length)`` series (the rest
            is GEMM row padding) → ``(R, C_out)``.
        """
        return segment_block(x, self.conv1, self.conv2, self.proj, self.dilation, segments, longest,
                             b, length)


class TS2VecEncoder(nn.Module):
    """The TS2Vec dilated-convolution encoder.

    Args:
        in_channels: input channels ``C``.
        output_dims: representation size ``D`` (TS2Vec default 320).
        hidden_dims: width of the residual blocks (default 64).
        depth: number of residual blocks (default 10; dilations 1, 2, 4, ...).
        kernel_size: convolution kernel size.
        mask_prob: probability of keeping a timestamp under training-time binomial masking
            (TS2Vec uses 0.5); 1.0 disables masking.
        dropout: dropout on the output representation (TS2Vec uses 0.1).

    Shape:
        x: ``(B, C, T)`` (NaN marks missing / padded timestamps); output ``(B, T, D)``.
    """

    def __init__(self, in_channels: int, output_dims: int = 320, hidden_dims: int = 64, depth: int = 10,
                 kernel_size: int = 3, mask_prob: float = 0.5, dropout: float = 0.1) -> None:
        super().__init__()
        for name, v in (("in_channels", in_channels), ("output_dims", output_dims),
                        ("hidden_dims", hidden_dims), ("depth", depth), ("kernel_size", kernel_size)):
            if v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        if not 0 < mask_prob <= 1 or not 0 <= dropout < 1:
            raise ValueError(f"mask_prob must be in (0, 1] and dropout in [0, 1), got {mask_prob}, {dropout}")
        self.output_dims = output_dims
        self.mask_prob = mask_prob
        self.input_fc = nn.Linear(in_channels, hidden_dims)
        widths = [hidden_dims] * depth + [output_dims]
        self.blocks = nn.Sequential(*[
            _DilatedBlock(widths[i - 1] if i > 0 else hidden_dims, widths[i], kernel_size, 2**i, i == depth)
            for i in range(len(widths))
        ])
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                rng: SampleRandom | None = None) -> torch.Tensor:
        """Per-timestamp representations; ``mask`` (B, T) bool overrides the random mask;
        ``rng`` draws the mask and dropout per sample (:mod:`polyclr.sample_rng`)."""
        x = x.transpose(1, 2)  # (B, T, C)
        valid = ~torch.isnan(x).any(dim=-1)
        x = torch.nan_to_num(x, nan=0.0)
        h = self.input_fc(x)
        if mask is None:
            mask = _timestamp_keep(valid, self.mask_prob, self.training, rng)
        h = h * (mask & valid).unsqueeze(-1).to(h.dtype)
        h = self.blocks(h.transpose(1, 2))
        if rng is not None:
            return keyed_dropout(h.transpose(1, 2), self.dropout.p, self.training, rng)
        return self.dropout(h.transpose(1, 2))

    def forward_segments(self, x: torch.Tensor, lengths: tuple[int, ...], keep: tuple[int, int],
                         mask: torch.Tensor | None = None, rng: SampleRandom | None = None) -> torch.Tensor:
        """Encode consecutive time segments of ``x`` as separate series in one pass (the fast
        path of TS2Vec training) and return the representations of the time range ``keep``.

        Equal to ``forward`` applied to each segment ``x[..., a : a + n]`` on its own,
        concatenated along time and sliced to ``keep`` (tests compare values and gradients),
        but: the segments share every kernel call; convolutions are channels-last GEMMs
        (:func:`.segconv.segment_block`); and the trailing blocks that act per timestamp
        (dilation >= the longest segment: TS2Vec's widest, 320-d, block and often more) run
        on the kept timestamps only.

        Args:
            x: ``(B, C, L)`` with ``L = sum(lengths)``; NaN marks missing timestamps.
            lengths: segment lengths along time.
            keep: ``(start, stop)`` time range to return.
            mask: optional ``(B, L)`` bool timestamp mask (default: random when training).
            rng: per-sample generators for the mask and dropout (:mod:`polyclr.sample_rng`).

        Shape:
            returns ``(B, stop - start, D)``.
        """
        if sum(lengths) != x.shape[-1] or min(lengths) < 1:
            raise ValueError(f"segment lengths {lengths} do not tile a series of length {x.shape[-1]}")
        start, stop = keep
        xt = x.transpose(1, 2)
        valid = ~torch.isnan(xt).any(dim=-1)
        h = self.input_fc(torch.nan_to_num(xt, nan=0.0))
        if mask is None:
            mask = _timestamp_keep(valid, self.mask_prob, self.training, rng)
        h = h * (mask & valid).unsqueeze(-1).to(h.dtype)
        b, length = h.shape[:2]
        segments = [(sum(lengths[:i]), n) for i, n in enumerate(lengths)]
        longest = max(lengths)
        blocks = list(self.blocks)
        # first block from which every block acts per timestamp (dilations grow with depth)
        tail = next((i for i in range(len(blocks)) if all(k.pointwise(longest) for k in blocks[i:])),
                    len(blocks))

        def rows(t: torch.Tensor) -> torch.Tensor:  # (b, n, C) → (R, C), zero padding rows
            t = t.reshape(-1, t.shape[-1])
            return F.pad(t, (0, 0, 0, row_bucket(t.shape[0], t.device) - t.shape[0]))

        h2 = rows(h)
        for blk in blocks[:tail]:
            h2 = blk.forward_segments(h2, segments, longest, b, length)
        keep = stop - start
        h2 = rows(h2[: b * length].view(b, length, -1)[:, start:stop])
        for blk in blocks[tail:]:
            h2 = blk.forward_segments(h2, [(0, keep)], longest, b, keep)
        return keyed_dropout(h2[: b * keep].view(b, keep, -1), self.dropout.p, self.training, rng)


class TsaiBackbone(nn.Module):
    """A tsai model's backbone (its feature extractor before the head) as per-timestamp encoder.

    Args:
        name: tsai model class, e.g. ``InceptionTimePlus``, ``ResNetPlus``, ``TSTPlus``.
        in_channels: input channels.
        seq_len: series length (needed by transformer models).
        kwargs: passed to the tsai constructor.

    Shape:
        x: ``(B, C, T)``; output ``(B, T', D)`` (``T' = T`` for the convolutional models).
    """

    def __init__(self, name: str, in_channels: int, seq_len: int, **kwargs: Any) -> None:
        super().__init__()
        if name not in TSAI_BACKBONES:
            raise ValueError(f"unknown tsai backbone '{name}'; choose one of {', '.join(TSAI_BACKBONES)}")
        from polyclr._optional import require

        module = require(f"tsai.models.{name}", "timeseries")
        model = getattr(module, name)(in_channels, 2, seq_len=seq_len, **kwargs)
        self.backbone = model.backbone
        with torch.no_grad():
            self.output_dims = int(self.backbone(torch.zeros(1, in_channels, seq_len)).shape[1])

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = torch.nan_to_num(x, nan=0.0)
        return self.backbone(x).transpose(1, 2)


def build_encoder(name: str, in_channels: int, seq_len: int, **kwargs: Any) -> nn.Module:
    """Encoder by name: ``ts2vec`` or a tsai backbone name (see :data:`TSAI_BACKBONES`)."""
    if name.lower() == "ts2vec":
        return TS2VecEncoder(in_channels, **kwargs)
    return TsaiBackbone(name, in_channels, seq_len, **kwargs)


def instance_embedding(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Instance vector: max-pool of the per-timestamp representation over real timestamps.

    Shape:
        x: ``(B, C, T)``; returns ``(B, D)``.
    """
    valid = ~torch.isnan(x).any(dim=1)
    z = encoder(x, mask=torch.ones_like(valid))  # no random timestamp masking for embeddings
    if z.shape[1] == x.shape[-1]:
        z = z.masked_fill(~valid.unsqueeze(-1), float("-inf"))
    return z.amax(dim=1)


class Classifier(nn.Module):
    """Encoder + linear head on the max-pooled instance vector (fine-tuning model).

    Shape:
        x: ``(B, C, T)``; output logits ``(B, n_classes)``.
    """

    def __init__(self, encoder: nn.Module, n_classes: int) -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        self.encoder = encoder
        self.head = nn.Linear(int(encoder.output_dims), n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(instance_embedding(self.encoder, x))

