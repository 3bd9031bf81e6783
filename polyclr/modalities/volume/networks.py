"""MONAI BasicUNet (2D / 3D) exposed as encoder and decoder stages, plus projection heads."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from polyclr._optional import require

DEFAULT_FEATURES = (16, 16, 32, 64, 128, 16)


class SegUNet(nn.Module):
    """MONAI ``BasicUNet`` whose encoder and decoder stages are callable separately.

    The layers are MONAI's; this wrapper only calls them in BasicUNet's order so the global loss
    can use the bottleneck and the local loss a chosen decoder stage.

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels.
        out_channels: segmentation classes.
        features: six channel counts, as BasicUNet takes them.
        dropout: dropout in the conv blocks.

    Shape:
        x: ``(B, C, *spatial)`` with each spatial size a multiple of 16; returns logits
        ``(B, out_channels, *spatial)``.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int = 1,
        out_channels: int = 3,
        features: tuple[int, ...] = DEFAULT_FEATURES,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if len(features) != 6:
            raise ValueError(f"features must have 6 entries, got {features}")
        if in_channels < 1 or out_channels < 1:
            raise ValueError("in_channels and out_channels must be >= 1")
        nets = require("monai.networks.nets", "volume")
        self.config: dict[str, Any] = {
            "architecture": "monai.networks.nets.BasicUNet", "spatial_dims": spatial_dims,
            "in_channels": in_channels, "out_channels": out_channels,
            "features": list(features), "dropout": dropout,
        }
        self.spatial_dims = spatial_dims
        self.unet = nets.BasicUNet(
            spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels,
            features=tuple(features), dropout=dropout,
        )
        self.bottleneck_channels = features[4]
        # channels of the decoder stage outputs u4, u3, u2, u1 (stage 1 = deepest)
        self.decoder_channels = [features[3], features[2], features[1], features[5]]

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder outputs ``[x0, x1, x2, x3, x4]`` (x4 = bottleneck)."""
        u = self.unet
        x0 = u.conv_0(x)
        x1 = u.down_1(x0)
        x2 = u.down_2(x1)
        x3 = u.down_3(x2)
        x4 = u.down_4(x3)
        return [x0, x1, x2, x3, x4]

    def decode(self, skips: list[torch.Tensor], upto: int = 4) -> list[torch.Tensor]:
        """Decoder stage outputs ``[u4, u3, u2, u1]`` (coarse to fine), the first ``upto`` only."""
        u = self.unet
        x0, x1, x2, x3, x4 = skips
        ups = (u.upcat_4, u.upcat_3, u.upcat_2, u.upcat_1)
        outs, h = [], x4
        for block, skip in list(zip(ups, (x3, x2, x1, x0), strict=True))[:upto]:
            h = block(h, skip)
            outs.append(h)
        return outs

    def encoder_parameters(self) -> list[nn.Parameter]:
        u = self.unet
        return [p for m in (u.conv_0, u.down_1, u.down_2, u.down_3, u.down_4) for p in m.parameters()]

    def decoder_parameters(self) -> list[nn.Parameter]:
        u = self.unet
        return [p for m in (u.upcat_4, u.upcat_3, u.upcat_2, u.upcat_1) for p in m.parameters()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unet.final_conv(self.decode(self.encode(x))[-1])


class GlobalHead(nn.Module):
    """Global average pool of the bottleneck -> MLP projection (as in SimCLR / Chaitanya).

    Shape:
        x: ``(B, C, *spatial)``; returns ``(B, out_dim)``.
    """

    def __init__(self, in_channels: int, hidden: int = 256, out_dim: int = 128) -> None:
        super().__init__()
        if min(in_channels, hidden, out_dim) < 1:
            raise ValueError("GlobalHead sizes must be >= 1")
        self.mlp = nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x.flatten(2).mean(-1))


class LocalHead(nn.Module):
    """Two 1x1 convolutions on a decoder feature map (per-position projection).

    Shape:
        x: ``(B, C, *spatial)``; returns ``(B, out_dim, *spatial)``.
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_dim: int = 64) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        self.net = nn.Sequential(conv(in_channels, out_dim, 1), nn.ReLU(inplace=True), conv(out_dim, out_dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
