"""Volume-level classification: fine-tune the segmentation network's encoder with a pooled head.

The second downstream task of the volume pipeline (a class per volume, e.g. lesion present).
``VolumeClassifier`` runs the encoder over the slices of a volume (2D) or the whole volume (3D),
pools the bottleneck over slices and positions (mean, optionally with max so that a focal
finding a few voxels wide is not averaged away) and maps it to class logits. Fine-tuning uses
the engine's ``FinetuneModule`` (Lightning) with cross-entropy; a pre-trained encoder's step
is scaled by ``finetune.pretrained_encoder_lr_scale`` as in segmentation fine-tuning.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from polyclr.engine import FinetuneModule, fit, make_loader, seed_everything
from polyclr.modalities.volume.data import seed_from_torch
from polyclr.pipelines.volume.config import VolumeConfig
from polyclr.pipelines.volume.prepare import Case
from polyclr.pipelines.volume.train import (
    POOLINGS,
    _engine,
    pool_positions,
    volume_bottleneck,
    volume_input,
)


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


class VolumeLabelDataset(Dataset):
    """One item per volume: 2D, ``slices`` slices drawn one per equal-width stratum along the
    slice axis (a random slice in each, so every part of the volume is represented in each
    step); 3D, the whole volume (batch size 1, volumes differ in size).

    Shape:
        item: ``(x, y)``: x ``(slices, 1, H, W)`` or ``(1, X, Y, Z)``, y scalar long.
    """

    def __init__(self, cfg: VolumeConfig, cases: list[Case], slices: int) -> None:
        if slices < 1:
            raise ValueError(f"slices must be >= 1, got {slices}")
        self.cfg, self.cases, self.slices = cfg, cases, slices

    def __len__(self) -> int:
        return len(self.cases)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        case = self.cases[i]
        x = volume_input(self.cfg, case)
        if self.cfg.net.spatial_dims == 2:
            rng = np.random.default_rng(seed_from_torch())
            edges = np.linspace(0, x.shape[0], self.slices + 1)
            lo, hi = np.floor(edges[:-1]), np.maximum(np.floor(edges[1:]), np.floor(edges[:-1]) + 1)
            idx = np.minimum((lo + rng.random(self.slices) * (hi - lo)).astype(np.int64), x.shape[0] - 1)
            x = x[torch.from_numpy(idx)]
        return x, torch.tensor(int(case.item.class_label), dtype=torch.long)


def finetune_classifier(cfg: VolumeConfig, net: nn.Module, train: list[Case], num_classes: int,
                        seed: int, pretrained: bool = False) -> VolumeClassifier:
    """Fine-tune encoder + head on the class labels of ``train`` (``cfg.classify``)."""
    c = cfg.classify
    seed_everything(seed)
    model = VolumeClassifier(net, num_classes, cfg.net.spatial_dims, c.pooling)
    batch = c.batch_volumes if cfg.net.spatial_dims == 2 else 1
    loader = make_loader(VolumeLabelDataset(cfg, train, c.slices), batch, seed=seed, shuffle=True,
                         drop_last=len(train) > batch, num_workers=cfg.engine.num_workers)
    encoder = list(net.encoder_parameters())
    trainable = encoder + list(model.head.parameters())
    scales = [(encoder, cfg.finetune.pretrained_encoder_lr_scale)] if pretrained else None
    module = FinetuneModule(model, nn.CrossEntropyLoss(), trainable=trainable, lr=c.lr,
                            weight_decay=cfg.engine.weight_decay, meta={"modality": "volume"},
                            lr_scales=scales)
    fit(module, loader, _engine(cfg, c.steps, c.lr), None, checkpoints=False, logger=False)
    return model.cpu().eval()


@torch.no_grad()
def predict_proba(cfg: VolumeConfig, model: VolumeClassifier, cases: list[Case]) -> np.ndarray:
    """Class probabilities of each volume from all of its slices (2D) or the whole volume.

    Shape:
        returns ``(len(cases), num_classes)``.
    """
    model.eval()
    out = [torch.softmax(model.predict_volume(volume_input(cfg, c)), dim=0) for c in cases]
    return torch.stack(out).numpy()
