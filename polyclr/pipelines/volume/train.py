"""Pre-training (staged or joint) and segmentation fine-tuning / evaluation for volumes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polyclr.config import to_dict
from polyclr.engine import (
    FinetuneModule,
    PretrainModule,
    fit,
    make_loader,
    safe_torch_load,
    save_torch_atomic,
    seed_everything,
)
from polyclr.modalities.volume.augment import AugmentCollate
from polyclr.modalities.volume.data import LabelledDataset, PartitionDataset
from polyclr.modalities.volume.networks import SegMonaiUNet, SegUNet, build_network
from polyclr.modalities.volume.objectives import VolumeContrastive
from polyclr.pipelines.volume.config import VolumeConfig, parse_strategy
from polyclr.pipelines.volume.prepare import Case, CaseField
from polyclr.rundir import atomic_write_text

Net = SegUNet | SegMonaiUNet


def build_net(cfg: VolumeConfig, out_channels: int) -> Net:
    """The segmentation network of the config (``net.architecture``)."""
    n = cfg.net
    return build_network(n.spatial_dims, n.architecture, 1, out_channels, tuple(n.features),
                         tuple(n.channels), n.num_res_units)


def _engine(cfg: VolumeConfig, steps: int, lr: float) -> Any:
    return dataclasses.replace(cfg.engine, max_steps=int(steps), max_epochs=100_000, lr=lr)


def encoder_meta(cfg: VolumeConfig, net: Net, strategy: str, trained: list[str]) -> dict[str, Any]:
    """Metadata stored with the weights so fine-tuning / export rebuild the network."""
    return {
        "modality": "volume",
        "encoder": net.config,
        "input": {
            "channels": 1, "spacing_mm": list(cfg.data.spacing), "orientation": "RAS",
            "intensity": f"percentiles {list(cfg.data.percentiles)} -> [0, 1], clipped",
            "slice_size": list(cfg.data.slice_size), "patch_size": list(cfg.data.patch_size),
            "axis": cfg.data.axis, "spatial_dims": cfg.net.spatial_dims,
        },
        "objective": {"strategy": strategy, "schedule": cfg.pretrain.schedule,
                      "num_partitions": cfg.pretrain.num_partitions, "trained_parts": trained,
                      "reference": "Chaitanya et al., NeurIPS 2020"},
        "config": to_dict(cfg),
    }


def pretrain_net(
    cfg: VolumeConfig, cases: list[Case], strategy: str, out: Path | None, out_channels: int,
    resume: bool = False, keep: list[np.ndarray] | None = None,
) -> tuple[Net, dict[str, Any]]:
    """Pre-train a SegUNet with ``strategy`` (``GD+LD``, ``GR``, ...) on ``cases`` (images only).

    Staged schedule: global stage (encoder + global head), then local stage (decoder + local
    head, encoder frozen). Joint: one stage with ``global + local_weight * local``.

    Args:
        keep: optional per-volume masks of planes that may be sampled (dataset selection).

    Returns:
        ``(net, info)`` with ``info`` holding the final losses and timings.
    """
    import time

    p = cfg.pretrain
    glob, loc = parse_strategy(strategy)
    seed_everything(cfg.engine.seed)
    net = build_net(cfg, out_channels)
    if p.schedule not in ("staged", "joint"):
        raise ValueError(f"pretrain.schedule must be staged or joint, got {p.schedule!r}")
    if glob is None and loc is None:
        raise ValueError("empty strategy")
    if p.schedule == "joint" and glob and loc:
        stages = [("joint", p.global_steps + p.local_steps)]
    else:
        stages = ([("global", p.global_steps)] if glob else []) + ([("local", p.local_steps)] if loc else [])
    objective = VolumeContrastive(
        net, glob, loc, phase=stages[0][0], temperature=p.temperature, decoder_stage=p.decoder_stage,
        region_size=p.region_size, num_regions=p.num_regions, region_sampling=p.region_sampling,
        within_image_negatives=p.within_image_negatives, local_weight=p.local_weight,
        proj_dim=cfg.net.proj_dim, local_dim=cfg.net.local_dim,
    )
    images = CaseField(cases, "image")  # lazy: volumes stay in the bounded cache
    affines = [c.affine for c in cases]
    info: dict[str, Any] = {"strategy": strategy, "volumes": len(images), "stages": []}
    for phase, steps in stages:
        if steps <= 0:
            continue
        stage_out = None if out is None else out / f"stage_{phase}"
        done = None if stage_out is None else stage_out / "done.json"
        objective.set_phase(phase)
        ds = PartitionDataset(cfg.net.spatial_dims, images, affines, p.num_partitions, cfg.data.axis,
                              cfg.data.patch_size, keep=keep,
                              length=max(len(images), p.volumes_per_batch) * 4)
        loader = make_loader(ds, p.volumes_per_batch, seed=cfg.engine.seed, shuffle=True,
                             drop_last=True, num_workers=cfg.engine.num_workers)
        module = PretrainModule(objective, lr=p.lr, weight_decay=cfg.engine.weight_decay,
                                meta={"modality": "volume", "strategy": strategy, "phase": phase})
        if done is not None and resume and done.is_file():
            state = safe_torch_load(stage_out / "objective.pt")
            objective.load_state_dict(state)
            info["stages"].append(json.loads(done.read_text()))
            continue
        t0 = time.perf_counter()
        trainer = fit(module, loader, _engine(cfg, steps, p.lr), stage_out, resume=resume,
                      checkpoints=stage_out is not None)
        seconds = time.perf_counter() - t0
        logged = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
        n_images = steps * p.volumes_per_batch * p.num_partitions
        stage_info = {"phase": phase, "steps": steps, "seconds": round(seconds, 2),
                      "images_per_second": round(n_images / max(seconds, 1e-9), 2), **logged}
        info["stages"].append(stage_info)
        if stage_out is not None:
            # weights first, then the marker that a resume trusts, each written atomically
            save_torch_atomic(objective.state_dict(), stage_out / "objective.pt")
            atomic_write_text(done, json.dumps(stage_info))
    objective.cpu()
    return net.cpu(), info


def finetune_net(
    cfg: VolumeConfig, net: Net, train: list[Case], seed: int, pretrained: bool = False
) -> Net:
    """Supervised fine-tuning with MONAI DiceCELoss on the labelled ``train`` cases (all layers;
    a ``pretrained`` encoder's step is scaled by ``finetune.pretrained_encoder_lr_scale``)."""
    from monai.losses import DiceCELoss

    seed_everything(seed)
    f = cfg.finetune
    ds = LabelledDataset(cfg.net.spatial_dims, CaseField(train, "image"), CaseField(train, "label"),
                         axis=cfg.data.axis, patch_size=cfg.data.patch_size)
    loader = make_loader(ds, f.batch_size, seed=seed, shuffle=True, drop_last=len(ds) > f.batch_size,
                         num_workers=cfg.engine.num_workers,
                         collate_fn=AugmentCollate(cfg.net.spatial_dims))
    scales = [(net.encoder_parameters(), f.pretrained_encoder_lr_scale)] if pretrained else None
    module = FinetuneModule(net, DiceCELoss(to_onehot_y=True, softmax=True), lr=f.lr,
                            weight_decay=cfg.engine.weight_decay, meta={"modality": "volume"},
                            lr_scales=scales)
    fit(module, loader, _engine(cfg, f.steps, f.lr), None, checkpoints=False, logger=False)
    return net.cpu().eval()


@torch.no_grad()
def predict(cfg: VolumeConfig, net: Net, case: Case) -> torch.Tensor:
    """Label map on the preprocessed grid: slice by slice (2D) or sliding window (3D).

    Shape:
        returns ``(X, Y, Z)`` long.
    """
    net.eval()
    device = next(net.parameters()).device
    img = case.image.to(device)
    if cfg.net.spatial_dims == 2:
        axis = cfg.data.axis + 1
        slices = img.movedim(axis, 0)  # (Z, 1, X, Y) for axis 2
        logits = torch.cat([net(slices[i:i + 32]) for i in range(0, slices.shape[0], 32)])
        pred = logits.argmax(1).movedim(0, cfg.data.axis)
    else:
        from monai.inferers import sliding_window_inference

        logits = sliding_window_inference(img[None], tuple(cfg.data.patch_size),
                                          cfg.finetune.sw_batch_size, net, overlap=0.25)
        pred = logits.argmax(1)[0]
    return pred.cpu()


def dice_per_class(pred: torch.Tensor, label: torch.Tensor, n_classes: int) -> np.ndarray:
    """MONAI DiceMetric per foreground class (NaN where a class is absent from both).

    Shape:
        pred, label: ``(X, Y, Z)`` integer; returns ``(n_classes - 1,)``.
    """
    from monai.metrics import DiceMetric
    from monai.networks.utils import one_hot

    metric = DiceMetric(include_background=False, reduction="none", ignore_empty=True)
    p = one_hot(pred[None, None].long(), n_classes)
    y = one_hot(label.reshape(pred.shape)[None, None].long(), n_classes)
    return metric(p, y)[0].cpu().numpy().astype(np.float64)


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


def volume_input(cfg: VolumeConfig, case: Case) -> torch.Tensor:
    """All slices of a preprocessed volume, ``(Z, 1, H, W)`` (2D), or the volume ``(1, X, Y, Z)``."""
    img = case.image.float()
    return img.movedim(cfg.data.axis + 1, 0) if cfg.net.spatial_dims == 2 else img


@torch.no_grad()
def volume_bottleneck(net: Net, x: torch.Tensor, spatial_dims: int, chunk: int = 32) -> torch.Tensor:
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


@torch.no_grad()
def volume_features(cfg: VolumeConfig, net: Net, case: Case, pooling: str = "mean") -> np.ndarray:
    """Frozen-encoder volume descriptor: ``pool_positions`` of ``volume_bottleneck``.

    Shape:
        returns ``(C_bottleneck,)`` (``"mean"``) or ``(2 * C_bottleneck,)`` (``"mean_max"``).
    """
    net.eval()
    feats = volume_bottleneck(net, volume_input(cfg, case), cfg.net.spatial_dims)
    return pool_positions(feats, pooling).numpy()
