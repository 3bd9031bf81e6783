"""MONAI ``BasicUNet`` and ``UNet`` (2D / 3D) exposed as encoder and decoder stages, plus
projection heads.

Both wrappers share one interface (``encode``, ``decode``, ``*_parameters``, ``divisor``) so the
global loss can use the bottleneck and the local loss a chosen decoder stage of either network.
``VolumeClassifier`` pools an encoder's bottleneck over a whole volume for a class per volume.
"""

from __future__ import annotations

from typing import Any

import numpy as np
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
        self.divisor = 16  # four 2x poolings: every spatial size must be a multiple of 16

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

    def head_parameters(self) -> list[nn.Parameter]:
        """The output layer (kept out of contrastive pre-training)."""
        return list(self.unet.final_conv.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_spatial_size(x.shape[2:], self.divisor, self.config["architecture"])
        return self.unet.final_conv(self.decode(self.encode(x))[-1])


def check_spatial_size(size: Any, divisor: int, name: str = "network") -> None:
    """Raise ValueError with a usable message unless every size is a positive multiple of
    ``divisor`` (the product of the network's down-sampling strides)."""
    bad = [int(s) for s in size if int(s) < divisor or int(s) % divisor]
    if bad:
        fix = [max(divisor, -(-int(s) // divisor) * divisor) for s in size]
        raise ValueError(f"spatial size {tuple(int(s) for s in size)} does not fit {name}: every size "
                         f"must be a multiple of {divisor} (its total down-sampling); e.g. {fix}")


class SegMonaiUNet(nn.Module):
    """MONAI ``UNet`` (residual units, strided convolutions) with callable encoder/decoder stages.

    MONAI builds ``UNet`` recursively: level ``i`` is ``Sequential(down_i, SkipConnection(
    level_{i+1}), up_i)`` and the deepest level's inner module is the bottom layer. This wrapper
    walks that structure and calls the same layers in the same order, exposing the encoder
    outputs and the decoder outputs; it holds no layers of its own.

    Args:
        spatial_dims: 2 or 3.
        in_channels, out_channels: image channels and segmentation classes.
        channels: channels per level (>= 3 entries); strides: one per down-sampling (default 2s).
        num_res_units: residual units per block (0 = plain convolutions).
        dropout: dropout in the blocks.

    Shape:
        x: ``(B, C, *spatial)``, each size a multiple of ``divisor`` = prod(strides); returns
        ``(B, out_channels, *spatial)``.
    """

    def __init__(self, spatial_dims: int, in_channels: int = 1, out_channels: int = 3,
                 channels: tuple[int, ...] = (16, 32, 64, 128, 256), strides: tuple[int, ...] | None = None,
                 num_res_units: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if len(channels) < 3 or min(channels) < 1:
            raise ValueError(f"channels must have >= 3 positive entries, got {channels}")
        strides = tuple(strides) if strides is not None else (2,) * (len(channels) - 1)
        if len(strides) != len(channels) - 1 or min(strides) < 1:
            raise ValueError(f"strides needs {len(channels) - 1} positive entries, got {strides}")
        if in_channels < 1 or out_channels < 1 or num_res_units < 0:
            raise ValueError("in_channels, out_channels must be >= 1 and num_res_units >= 0")
        nets = require("monai.networks.nets", "volume")
        self.config: dict[str, Any] = {
            "architecture": "monai.networks.nets.UNet", "spatial_dims": spatial_dims,
            "in_channels": in_channels, "out_channels": out_channels, "channels": list(channels),
            "strides": list(strides), "num_res_units": num_res_units, "dropout": dropout,
        }
        self.spatial_dims = spatial_dims
        self.unet = nets.UNet(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels,
                              channels=tuple(channels), strides=strides, num_res_units=num_res_units,
                              dropout=dropout)
        self.levels: list[nn.Sequential] = []  # plain list: the modules stay registered in self.unet
        block = self.unet.model
        while True:
            self.levels.append(block)
            inner = block[1].submodule
            if isinstance(inner, nn.Sequential) and len(inner) == 3 and type(inner[1]) is type(block[1]):
                block = inner
            else:
                self._bottom = [inner]  # a list, so it is not registered (and saved) twice
                break
        self.bottleneck_channels = channels[-1]
        # decoder outputs of the levels below the top (coarse to fine); the top level's up block
        # produces the logits and is the head
        self.decoder_channels = [channels[i - 1] for i in range(len(channels) - 2, 0, -1)]
        self.divisor = int(np.prod(strides))

    @property
    def bottom(self) -> nn.Module:
        return self._bottom[0]

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Down-sampling outputs of every level, then the bottom layer's output (bottleneck)."""
        outs = []
        for level in self.levels:
            x = level[0](x)
            outs.append(x)
        outs.append(self.bottom(x))
        return outs

    def _up(self, i: int, skip: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.levels[i][2](torch.cat([skip, h], dim=self.levels[i][1].dim))

    def decode(self, skips: list[torch.Tensor], upto: int | None = None) -> list[torch.Tensor]:
        """Decoder outputs below the top level, coarse to fine (the first ``upto`` only)."""
        n = len(self.decoder_channels) if upto is None else upto
        h, outs = skips[-1], []
        for i in range(len(self.levels) - 1, len(self.levels) - 1 - n, -1):
            h = self._up(i, skips[i], h)
            outs.append(h)
        return outs

    def encoder_parameters(self) -> list[nn.Parameter]:
        return [p for m in [lv[0] for lv in self.levels] + [self.bottom] for p in m.parameters()]

    def decoder_parameters(self) -> list[nn.Parameter]:
        return [p for lv in self.levels[1:] for p in lv[2].parameters()]

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.levels[0][2].parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_spatial_size(x.shape[2:], self.divisor, self.config["architecture"])
        skips = self.encode(x)
        h = self.decode(skips)[-1] if self.decoder_channels else skips[-1]
        return self._up(0, skips[0], h)


ARCHITECTURES = ("BasicUNet", "UNet")


def build_network(spatial_dims: int, architecture: str = "BasicUNet", in_channels: int = 1,
                  out_channels: int = 3, features: tuple[int, ...] = DEFAULT_FEATURES,
                  channels: tuple[int, ...] = (16, 32, 64, 128, 256), num_res_units: int = 2
                  ) -> SegUNet | SegMonaiUNet:
    """``BasicUNet`` (``features``, 6 numbers) or ``UNet`` (``channels``, ``num_res_units``)."""
    if architecture == "BasicUNet":
        return SegUNet(spatial_dims, in_channels, out_channels, tuple(features))
    if architecture == "UNet":
        return SegMonaiUNet(spatial_dims, in_channels, out_channels, tuple(channels),
                            num_res_units=num_res_units)
    raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")


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


POOLINGS = ("mean", "mean_max")


def pool_positions(feats: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool bottleneck features over their last (slice x position) axis: ``mean``, or
    ``mean_max`` (mean and maximum side by side; the maximum keeps a small focal finding, a
    lesion a few voxels wide, from being averaged away).

    Shape:
        feats: ``(..., C, N)`` -> ``(..., C)`` (mean) or ``(..., 2C)`` (mean_max).
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    mean = feats.mean(-1)
    return mean if pooling == "mean" else torch.cat([mean, feats.amax(-1)], dim=-1)


@torch.no_grad()
def volume_bottleneck(net: nn.Module, x: torch.Tensor, spatial_dims: int, chunk: int = 32) -> torch.Tensor:
    """Bottleneck features of a whole volume, slices encoded ``chunk`` at a time (2D): a whole
    volume's full-resolution encoder activations at once can take gigabytes; the bottleneck
    is small.

    Shape:
        x: ``(Z, 1, H, W)`` (2D) or ``(1, X, Y, Z)`` (3D) -> ``(C_bottleneck, N)``, N = slices x
        positions (2D) or positions (3D).
    """
    if spatial_dims == 3:
        return net.encode(x[None])[-1][0].flatten(1)
    bottom = torch.cat([net.encode(x[i:i + chunk])[-1] for i in range(0, x.shape[0], chunk)])
    return bottom.movedim(1, 0).flatten(1)


class VolumeClassifier(nn.Module):
    """Encoder + pooling over slices/positions + linear head.

    Args:
        net: a polyclr segmentation network (``encode`` returns the skip features, last =
            bottleneck); only its encoder is used.
        num_classes: number of volume classes.
        spatial_dims: 2 (volumes as stacks of slices) or 3.
        pooling: ``mean`` or ``mean_max``.

    Shape:
        x: 2D ``(B, S, 1, H, W)`` (S slices per volume), 3D ``(B, 1, X, Y, Z)`` -> ``(B, num_classes)``.
    """

    def __init__(self, net: nn.Module, num_classes: int, spatial_dims: int, pooling: str = "mean_max") -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self.net, self.spatial_dims, self.pooling = net, spatial_dims, pooling
        width = net.bottleneck_channels * (2 if pooling == "mean_max" else 1)
        self.head = nn.Linear(width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled bottleneck features, ``(B, C)`` or ``(B, 2C)``."""
        if self.spatial_dims == 2:
            b, s = x.shape[:2]
            bottom = self.net.encode(x.flatten(0, 1))[-1]  # (B*S, C, h, w)
            flat = bottom.reshape(b, s, bottom.shape[1], -1).movedim(2, 1).flatten(2)  # (B, C, S*h*w)
        else:
            flat = self.net.encode(x)[-1].flatten(2)
        return pool_positions(flat, self.pooling)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def predict_volume(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of one whole volume (``volume_bottleneck``: slices encoded in chunks).

        Shape:
            x: ``(Z, 1, H, W)`` (2D) or ``(1, X, Y, Z)`` (3D) -> ``(num_classes,)``.
        """
        return self.head(pool_positions(volume_bottleneck(self.net, x, self.spatial_dims), self.pooling))
