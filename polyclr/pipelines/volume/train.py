"""Training for volumes: contrastive pre-training (staged or joint), segmentation fine-tuning,
and classification fine-tuning of the encoder with a pooled head."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from polyclr.config import to_dict
from polyclr.engine import (
    FinetuneModule,
    PretrainModule,
    fit,
    load_encoder,
    make_loader,
    safe_torch_load,
    save_torch_atomic,
    seed_everything,
)
from polyclr.errors import CheckpointError
from polyclr.modalities.volume.augment import AugmentCollate
from polyclr.modalities.volume.data import LabelledDataset, PartitionDataset
from polyclr.modalities.volume.networks import SegMonaiUNet, SegUNet, VolumeClassifier
from polyclr.modalities.volume.objectives import VolumeContrastive
from polyclr.pipelines.volume.config import VolumeConfig, build_net, parse_strategy
from polyclr.pipelines.volume.data import Case, CaseField, VolumeLabelDataset
from polyclr.rundir import atomic_write_text

Net = SegUNet | SegMonaiUNet


def _engine(cfg: VolumeConfig, steps: int, lr: float) -> Any:
    # the step budget ends the run (engine.trainer.StopAtStep); epochs are unbounded
    return dataclasses.replace(cfg.engine, max_steps=int(steps), max_epochs=-1, lr=lr)


def encoder_meta(cfg: VolumeConfig, net: Net, strategy: str, trained: list[str]) -> dict[str, Any]:
    """Metadata stored with the weights so fine-tuning / export rebuild the network."""
    return {
        "modality": "volume",
        "encoder": net.config,
        "input": {
            "channels": cfg.net.in_channels, "spacing_mm": list(cfg.data.spacing), "orientation": "RAS",
            "intensity": cfg.data.normalisation,
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
        proj_dim=cfg.net.proj_dim, local_dim=cfg.net.local_dim, seed=cfg.engine.seed,
    )
    images = CaseField(cases, "image")  # lazy: volumes stay in the bounded cache
    affines = [c.affine for c in cases]
    info: dict[str, Any] = {"strategy": strategy, "volumes": len(images), "stages": []}
    for i, (phase, steps) in enumerate(stages):
        if steps <= 0:
            continue
        # each phase starts from its own seed, so a run resumed after a finished phase draws
        # what an uninterrupted run draws
        seed_everything(cfg.engine.seed + i)
        stage_out = None if out is None else out / f"stage_{phase}"
        done = None if stage_out is None else stage_out / "done.json"
        objective.set_phase(phase)
        ds = PartitionDataset(cfg.net.spatial_dims, images, affines, p.num_partitions, cfg.data.axis,
                              cfg.data.patch_size, keep=keep,
                              length=max(len(images), p.volumes_per_batch) * 4, seed=cfg.engine.seed + i)
        # items keyed by (index, epoch): a global batch is the same however DDP splits it
        loader = make_loader(ds, p.volumes_per_batch, seed=cfg.engine.seed, shuffle=True,
                             drop_last=True, num_workers=cfg.engine.num_workers, epoch_keys=True)
        module = PretrainModule(objective, lr=p.lr, weight_decay=cfg.engine.weight_decay,
                                meta={"modality": "volume", "strategy": strategy, "phase": phase})
        if done is not None and resume and done.is_file():
            state = safe_torch_load(stage_out / "objective.pt")
            objective.load_state_dict(state)
            info["stages"].append(json.loads(done.read_text()))
            continue
        t0 = time.perf_counter()
        trainer = fit(module, loader, _engine(cfg, steps, p.lr), stage_out, resume=resume,
                      desc=f"pretrain {strategy} {phase}",
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
    cfg: VolumeConfig, net: Net, train: list[Case], seed: int, pretrained: bool = False,
    desc: str = "finetune", log_dir: Path | None = None,
) -> Net:
    """Supervised fine-tuning with MONAI DiceCELoss on the labelled ``train`` cases (all layers;
    a ``pretrained`` encoder's step is scaled by ``finetune.pretrained_encoder_lr_scale``);
    ``desc`` labels the progress, ``log_dir`` receives the loss curve (``engine.logger``)."""
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
    fit(module, loader, _engine(cfg, f.steps, f.lr), None, checkpoints=False, desc=desc, log_dir=log_dir,
        **({} if log_dir is not None else {"logger": False}))
    return net.cpu().eval()


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
    fit(module, loader, _engine(cfg, c.steps, c.lr), None, checkpoints=False, logger=False,
        desc=f"finetune classifier seed {seed}")
    return model.cpu().eval()


def load_init(checkpoint: Path | None) -> tuple[dict[str, torch.Tensor] | None, dict[str, Any]]:
    """Weights and metadata of a volume checkpoint (a run dir, its ``model.ckpt`` or a
    ``.safetensors`` file);
    ``(None, {})`` for random init."""
    if checkpoint is None:
        return None, {}
    p = Path(checkpoint)
    if p.is_dir():
        for name in ("model.ckpt", "model.safetensors", "encoder.safetensors"):
            if (p / name).is_file():
                p = p / name
                break
        else:
            raise CheckpointError(checkpoint, "run directory holds no encoder.safetensors")
    state, meta = load_encoder(p)
    if meta.get("modality") != "volume":
        raise CheckpointError(p, f"not a volume checkpoint (modality {meta.get('modality')!r})")
    return state, meta


def check_compatible(cfg: VolumeConfig, meta: dict[str, Any], n_cls: int, path: Any) -> None:
    """Refuse a checkpoint whose classes or network differ from the data and the config."""
    enc = meta.get("encoder", {})
    if enc.get("out_channels") != n_cls:
        raise CheckpointError(path, f"checkpoint has {enc.get('out_channels')} classes, data {n_cls}")
    want = build_net(cfg, n_cls).config
    if {k: enc.get(k) for k in want} != want:
        raise CheckpointError(path, f"checkpoint network {enc} does not match the net config {want}")
