"""Typed config of the volume pipeline (defaults < YAML < ``--set``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from polyclr.engine.config import EngineConfig
from polyclr.modalities.volume.transforms import PreprocessConfig
from polyclr.selection.config import SelectionConfig


@dataclass
class NetConfig:
    """Network: MONAI ``BasicUNet`` or ``UNet``, 2D slices or 3D patches.

    Attributes:
        spatial_dims: 2 (slices, as in the paper) or 3 (patches).
        architecture: ``BasicUNet`` (uses ``features``) or ``UNet`` (uses ``channels``,
            ``num_res_units``; strides 2).
        features: BasicUNet channel counts (6 numbers).
        channels: UNet channels per level (>= 3 numbers; sizes must be multiples of
            2^(len - 1)).
        num_res_units: UNet residual units per block.
        proj_dim: global projection size.
        local_dim: local projection size.
    """

    spatial_dims: int = 2
    architecture: str = "BasicUNet"
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
        num_partitions: S, partitions along ``data.axis`` by physical position.
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
    num_partitions: int = 4
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
        combinations: fixed, different sets of K training volumes per K.
        seeds: training seeds per combination.
        steps: optimiser steps per fine-tune.
        batch_size: slices (2D) / patches (3D) per step.
        lr: learning rate.
        pretrained_encoder_lr_scale: learning-rate multiplier of the encoder when fine-tuning
            from a pre-trained checkpoint (1 = every layer at ``lr``); random init and the
            fully supervised reference always train every layer at ``lr``.
        test_fraction: share of labelled volumes (by patient) held out for testing.
        split_seed: seed of the patient-disjoint split.
        write_predictions: write predicted NIfTI masks of the test volumes.
        classification: also run volume-level classification (probe, and fine-tuning per
            ``classify.finetune``; needs class labels).
        sw_batch_size: sliding-window batch for 3D inference.
        fully_supervised: ``run`` also fine-tunes a random init on every training volume
            (method ``fully_supervised``, one row per seed): the upper reference.
    """

    labeled_volumes: list[int] = field(default_factory=lambda: [1, 2, 8])
    combinations: int = 3
    seeds: list[int] = field(default_factory=lambda: [0])
    steps: int = 150
    batch_size: int = 16
    lr: float = 1e-3
    pretrained_encoder_lr_scale: float = 1.0
    test_fraction: float = 0.25
    split_seed: int = 0
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
    """Everything the volume pipeline needs (sections: engine, selection, data, net, pretrain,
    finetune, classify)."""

    engine: EngineConfig = field(default_factory=EngineConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
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
