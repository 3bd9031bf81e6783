"""Typed config of the volume pipeline (defaults < YAML < ``--set``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from polyclr.engine.config import EngineConfig
from polyclr.modalities.volume.transforms import PreprocessConfig
from polyclr.selection.config import SelectionConfig
from polyclr.splits import SplitConfig


@dataclass
class NetConfig:
    """Network: MONAI ``BasicUNet`` or ``UNet``, 2D slices or 3D patches.

    Attributes:
        spatial_dims: 2 (slices, as in the paper) or 3 (patches).
        architecture: ``BasicUNet`` (uses ``features``), ``UNet`` (uses ``channels``,
            ``num_res_units``; strides 2) or ``auto`` (the plan's: BasicUNet when four 2x
            down-samplings fit the slices, else a UNet with as many levels as fit).
        in_channels: image channels (0: the data's).
        features: BasicUNet channel counts (6 numbers).
        channels: UNet channels per level (>= 3 numbers; sizes must be multiples of
            2^(len - 1)).
        num_res_units: UNet residual units per block.
        proj_dim: global projection size.
        local_dim: local projection size.
    """

    spatial_dims: int = 2
    architecture: str = "auto"
    in_channels: int = 0
    features: list[int] = field(default_factory=lambda: [16, 16, 32, 64, 128, 16])
    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 128, 256])
    num_res_units: int = 2
    proj_dim: int = 128
    local_dim: int = 64


@dataclass
class PretrainConfig:
    """Contrastive pre-training.

    Attributes:
        strategy: what ``polyclr pretrain`` trains: ``GR``, ``GD-``, ``GD`` or ``GD+LD`` (or
            ``GR+L`` etc.: global strategy + ``L`` / ``LD`` local).
        strategies: the rows ``polyclr run`` compares (``random_init`` is always added).
        num_partitions: S, partitions along ``data.axis`` by physical position (0: the plan's).
        volumes_per_batch: volumes per batch (each contributes S images, two views each).
        global_steps: optimiser steps of the global stage.
        local_steps: steps of the local stage (staged) / extra steps in joint.
        schedule: ``staged`` (encoder global, then decoder local; the paper) or ``joint``.
        local_weight: weight of the local loss in ``joint``.
        temperature: InfoNCE temperature.
        decoder_stage: decoder output for the local loss (1 coarsest .. 4 full resolution for
            BasicUNet; 1 .. len(channels) - 2 for UNet).
        region_size: local region side (feature-map voxels).
        num_regions: local regions per image.
        region_sampling: ``grid`` or ``random``.
        within_image_negatives: L^l negatives only from the same image.
        lr: learning rate of pre-training.
    """

    strategy: str = "GD+LD"
    strategies: list[str] = field(default_factory=lambda: ["GR", "GD-", "GD", "GD+LD"])
    num_partitions: int = 0
    volumes_per_batch: int = 4
    global_steps: int = 150
    local_steps: int = 100
    schedule: str = "staged"
    local_weight: float = 1.0
    temperature: float = 0.1
    decoder_stage: int = 3
    region_size: int = 3
    num_regions: int = 13
    region_sampling: str = "grid"
    within_image_negatives: bool = True
    lr: float = 1e-3


@dataclass
class FinetuneConfig:
    """Segmentation fine-tuning and evaluation.

    Attributes:
        labeled_volumes: the K values ``run`` uses.
        combinations: fixed, different sets of K training volumes per K (drawn with
            ``split.split_seed``). 1 by default: a plain ``run`` fine-tunes every initialisation
            (random init + 4 strategies) at every K once, and each further combination (or seed)
            repeats all of those fine-tunes; raise it for spreads and paired margins.
        seeds: training seeds per combination.
        steps: optimiser steps per fine-tune.
        batch_size: slices (2D) / patches (3D) per step.
        lr: learning rate.
        pretrained_encoder_lr_scale: learning-rate multiplier of the encoder when fine-tuning
            from a pre-trained checkpoint (1 = every layer at ``lr``); random init and the
            fully supervised reference always train every layer at ``lr``.
        write_predictions: write predicted NIfTI masks of the test volumes.
        classification: also run volume-level classification (probe, and fine-tuning per
            ``classify.finetune``; needs class labels).
        sw_batch_size: sliding-window batch for 3D inference.
        fully_supervised: ``run`` also fine-tunes a random init on every training volume
            (method ``fully_supervised``, one row per seed): the upper reference.
    """

    labeled_volumes: list[int] = field(default_factory=lambda: [1, 2, 8])
    combinations: int = 1
    seeds: list[int] = field(default_factory=lambda: [0])
    steps: int = 150
    batch_size: int = 16
    lr: float = 1e-3
    pretrained_encoder_lr_scale: float = 1.0
    write_predictions: bool = True
    classification: bool = True
    sw_batch_size: int = 4
    fully_supervised: bool = True


@dataclass
class ClassifyConfig:
    """Volume-level classification (needs ``volume_labels.csv`` or a manifest ``class_label``).

    Attributes:
        finetune: also fine-tune encoder + head per initialisation (the probe always runs
            when ``finetune.classification`` is on).
        pooling: volume descriptor: ``mean`` or ``mean_max`` over slices and positions.
        steps: optimiser steps of classification fine-tuning.
        lr: its learning rate (the encoder's is scaled by
            ``finetune.pretrained_encoder_lr_scale`` for pre-trained initialisations).
        batch_volumes: volumes per step (2D; 3D uses 1, volumes differ in size).
        slices: 2D: slices drawn per volume per step, one per equal-width stratum.
    """

    finetune: bool = True
    pooling: str = "mean_max"
    steps: int = 150
    lr: float = 1e-3
    batch_volumes: int = 4
    slices: int = 24


@dataclass
class VolumeConfig:
    """Everything the volume pipeline needs (sections: engine, selection, split, data, net,
    pretrain, finetune, classify). ``split.test_size`` is the share of labelled volumes (by
    patient) held out for testing; the volume pipeline has no validation step."""

    RENAMED_KEYS: ClassVar[dict[str, str]] = {"finetune.test_fraction": "split.test_size",
                                              "finetune.split_seed": "split.split_seed"}

    engine: EngineConfig = field(default_factory=EngineConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    data: PreprocessConfig = field(default_factory=PreprocessConfig)
    net: NetConfig = field(default_factory=NetConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    classify: ClassifyConfig = field(default_factory=ClassifyConfig)


def parse_strategy(name: str) -> tuple[str | None, str | None]:
    """``"GD+LD"`` -> ``("GD", "LD")``; ``"GR"`` -> ``("GR", None)``; ``"LD"`` -> ``(None, "LD")``.

    Raises:
        ValueError: unknown parts.
    """
    glob, loc = None, None
    for part in name.split("+"):
        part = part.strip()
        if part in ("GR", "GD-", "GD"):
            glob = part
        elif part in ("L", "LD"):
            loc = part
        else:
            raise ValueError(f"unknown strategy part {part!r} in {name!r} (use GR, GD-, GD, L, LD)")
    return glob, loc


def build_net(cfg: VolumeConfig, out_channels: int) -> Any:
    """The segmentation network of the config (``net.architecture``): a ``SegUNet`` or
    ``SegMonaiUNet`` with ``out_channels`` classes."""
    from polyclr.modalities.volume.networks import build_network

    n = cfg.net
    # before a dataset's plan resolves them: the single-channel BasicUNet
    arch = "BasicUNet" if n.architecture == "auto" else n.architecture
    return build_network(n.spatial_dims, arch, max(1, n.in_channels), out_channels, tuple(n.features),
                         tuple(n.channels), n.num_res_units)


def validate_config(cfg: VolumeConfig) -> None:
    """Raise ConfigError naming the key of the first invalid setting (before any data is read)."""
    from polyclr.errors import ConfigError
    from polyclr.modalities.volume.networks import POOLINGS, check_spatial_size

    for s in [cfg.pretrain.strategy, *cfg.pretrain.strategies]:
        try:
            parse_strategy(s)
        except ValueError as exc:
            raise ConfigError(f"config key 'pretrain.strategies': {exc}") from exc
    if cfg.net.spatial_dims not in (2, 3):
        raise ConfigError("config key 'net.spatial_dims': must be 2 or 3")
    if cfg.split.val_size:
        raise ConfigError("config key 'split.val_size': the volume pipeline has no validation step; "
                          "leave it at 0")
    if cfg.finetune.combinations < 1 or not cfg.finetune.seeds:
        raise ConfigError("finetune.combinations must be >= 1 and finetune.seeds non-empty")
    if not cfg.finetune.pretrained_encoder_lr_scale > 0:
        raise ConfigError("config key 'finetune.pretrained_encoder_lr_scale': must be > 0, got "
                          f"{cfg.finetune.pretrained_encoder_lr_scale}")
    k = cfg.classify
    if k.pooling not in POOLINGS:
        raise ConfigError(f"config key 'classify.pooling': must be one of {POOLINGS}, got {k.pooling!r}")
    if k.steps < 1 or k.batch_volumes < 1 or k.slices < 1 or not k.lr > 0:
        raise ConfigError("config section 'classify': steps, batch_volumes and slices must be >= 1 "
                          "and lr > 0")
    try:
        net = build_net(cfg, 2)
    except ValueError as exc:
        raise ConfigError(f"config section 'net': {exc}") from exc
    key, size = (("data.slice_size", cfg.data.slice_size) if cfg.net.spatial_dims == 2
                 else ("data.patch_size", cfg.data.patch_size))
    try:
        check_spatial_size(size, net.divisor, cfg.net.architecture)
    except ValueError as exc:
        raise ConfigError(f"config key {key!r}: {exc}") from exc
    stages = len(net.decoder_channels)
    if any(parse_strategy(s)[1] for s in [cfg.pretrain.strategy, *cfg.pretrain.strategies]) and not (
            1 <= cfg.pretrain.decoder_stage <= stages):
        raise ConfigError(f"config key 'pretrain.decoder_stage': must be in 1..{stages} for "
                          f"{cfg.net.architecture}, got {cfg.pretrain.decoder_stage}")
