"""Audio encoder (compact CNN14-style CNN over log-mel) and projection head.

Reference: Kong et al., "PANNs: Large-Scale Pretrained Audio Neural Networks for Audio Pattern
Recognition", 2020 (CNN14: stacked 3x3 conv blocks with batch norm and 2x2 average pooling,
global mean+max pooling over time). Sized here for CPU: fewer channels, one or two convs per
block. Written by hand because torchaudio ships no compact audio-tagging CNN.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from polyclr.modalities.audio.features import FrontEndConfig, LogMel, SpecAugment


class ConvBlock(nn.Module):
    """``convs`` × (3x3 conv → BN → ReLU), then 2x2 average pooling.

    Shape:
        x: ``(B, C_in, F, T)``; returns ``(B, C_out, F // 2, T // 2)``.
    """

    def __init__(self, c_in: int, c_out: int, convs: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(convs):
            layers += [
                nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.body(x), 2)


class AudioCNN(nn.Module):
    """Compact CNN14-style log-mel encoder.

    Args:
        n_mels: mel bands of the input.
        channels: output channels of each conv block.
        convs_per_block: 3x3 convolutions per block (CNN14 uses 2).
        out_dim: embedding size (linear layer after global pooling).
        dropout: dropout before the last linear layer.
        time_bins: besides CNN14's global mean+max pooling, average-pool the time axis into this
            many ordered bins and concatenate them, so the embedding can encode *when* events
            happen (needed for "A then B" vs "B then A"; 0 = plain CNN14 pooling).

    Shape:
        spec: ``(B, n_mels, frames)``; returns ``(B, out_dim)``.
    """

    def __init__(
        self,
        n_mels: int = 64,
        channels: tuple[int, ...] = (16, 32, 64, 128),
        convs_per_block: int = 1,
        out_dim: int = 256,
        dropout: float = 0.1,
        time_bins: int = 2,
    ) -> None:
        super().__init__()
        if time_bins < 0:
            raise ValueError(f"time_bins must be >= 0, got {time_bins}")
        if n_mels < 2 ** len(channels):
            raise ValueError(f"n_mels={n_mels} too small for {len(channels)} pooling blocks")
        if convs_per_block < 1 or out_dim < 1 or not channels:
            raise ValueError("convs_per_block, out_dim and channels must be positive/non-empty")
        self.bn0 = nn.BatchNorm1d(n_mels)
        blocks, c_in = [], 1
        for c in channels:
            blocks.append(ConvBlock(c_in, int(c), convs_per_block))
            c_in = int(c)
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.time_bins = time_bins
        self.fc = nn.Linear(c_in * (1 + time_bins), out_dim)
        self.out_dim = out_dim

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        x = self.bn0(spec).unsqueeze(1)
        x = self.blocks(x).mean(dim=2)  # (B, C, T') after averaging frequency
        pooled = [x.mean(dim=2) + x.amax(dim=2)]  # CNN14 global pooling over time
        if self.time_bins:
            pooled.append(F.adaptive_avg_pool1d(x, self.time_bins).flatten(1))
        return F.relu(self.fc(self.dropout(torch.cat(pooled, dim=1))))


class ProjectionHead(nn.Module):
    """Two-layer MLP into the joint space (CLAP-style projection).

    Shape:
        x: ``(B, in_dim)``; returns ``(B, out_dim)``.
    """

    def __init__(self, in_dim: int, out_dim: int = 128, hidden: int | None = None) -> None:
        super().__init__()
        if in_dim < 1 or out_dim < 1:
            raise ValueError("in_dim and out_dim must be positive")
        hidden = hidden or max(in_dim, out_dim)
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class AudioEncoder(nn.Module):
    """Waveform → joint-space embedding: log-mel front end, CNN, projection head.

    ``encoder_kwargs()`` gives the JSON-safe constructor arguments saved with the weights so
    ``polyclr export`` / ``embed`` rebuild the model without pickles.

    Shape:
        wave: ``(B, T)`` at ``frontend.sample_rate``; returns ``(B, proj_dim)`` (not normalised;
        :meth:`features` returns the ``(B, embed_dim)`` pre-projection features).
    """

    def __init__(
        self,
        frontend: dict[str, Any] | None = None,
        channels: tuple[int, ...] = (16, 32, 64, 128),
        convs_per_block: int = 1,
        embed_dim: int = 256,
        proj_dim: int = 128,
        specaugment: dict[str, int] | None = None,
        time_bins: int = 2,
    ) -> None:
        super().__init__()
        self._kwargs = {
            "frontend": dict(frontend or {}),
            "channels": [int(c) for c in channels],
            "convs_per_block": int(convs_per_block),
            "embed_dim": int(embed_dim),
            "proj_dim": int(proj_dim),
            "specaugment": dict(specaugment or {}),
            "time_bins": int(time_bins),
        }
        fcfg = FrontEndConfig(**(frontend or {}))
        self.frontend = LogMel(fcfg)
        self.specaugment = SpecAugment(**(specaugment or {}))
        self.cnn = AudioCNN(fcfg.n_mels, tuple(channels), convs_per_block, embed_dim, time_bins=time_bins)
        self.head = ProjectionHead(embed_dim, proj_dim)
        self.sample_rate = fcfg.sample_rate

    def encoder_kwargs(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe)."""
        return dict(self._kwargs)

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        spec = self.specaugment(self.frontend(wave))
        return self.cnn(spec)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(wave))
