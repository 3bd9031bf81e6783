"""The typed config of the audio–text pipeline (``--config`` YAML / ``--set`` override it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from polyclr.engine.config import EngineConfig
from polyclr.errors import ConfigError
from polyclr.modalities.audio.features import FrontEndConfig
from polyclr.selection.config import SelectionConfig
from polyclr.splits import SplitConfig

OBJECTIVES = ("clip", "cwcl", "clip+order", "cwcl+order")


@dataclass
class DataConfig(SplitConfig):
    """Reading, cropping and splitting (the split fields come from
    :class:`polyclr.splits.SplitConfig`; groups are ``patient_id``, default the file, and a
    ``split`` column in ``captions.csv`` is used as given).

    Attributes:
        clip_seconds: training / evaluation crop length (short clips are repeat-padded).
        eval_crops: deterministic evaluation windows per file, embeddings averaged (1 = centre).
        cache_max_seconds: files up to this long are kept in memory during training; longer ones
            are read window by window from disk (bounded memory for hour-long recordings).
    """

    clip_seconds: float = 2.0
    eval_crops: int = 1
    cache_max_seconds: float = 30.0


@dataclass
class ModelConfig:
    """Encoders.

    Attributes:
        channels: conv-block widths of the compact CNN14-style audio CNN.
        convs_per_block: 3x3 convs per block (CNN14: 2).
        embed_dim: audio feature size (before projection; used by the linear probe).
        proj_dim: joint audio–text space size.
        text_tower: ``frozen`` (packaged all-MiniLM-L6-v2, cached, trainable projection) or
            ``small`` (light trainable transformer over a caption vocabulary).
        text_head: ``frozen`` tower only (ignored for ``small``): ``mlp`` (trainable projection of the sentence
            embedding into a ``proj_dim`` space) or ``locked`` (no text parameters on the
            sentence path: the joint space is the frozen 384-d MiniLM space and only the audio
            tower learns, as in LiT / the CWCL paper; ``proj_dim`` is then 384).
        text_order_head: ``frozen`` tower only: add the order-aware token head (a small transformer over MiniLM's
            cached contextual token outputs with positions; zero at initialisation) to the
            frozen text tower.
        time_bins: ordered time bins pooled besides global pooling (order awareness).
        freq_mask, time_mask, n_masks: SpecAugment (training only).
    """

    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    convs_per_block: int = 1
    embed_dim: int = 256
    proj_dim: int = 128
    text_tower: str = "frozen"
    text_head: str = "locked"
    text_order_head: bool = True
    time_bins: int = 2
    freq_mask: int = 8
    time_mask: int = 20
    n_masks: int = 2


@dataclass
class ObjectiveConfig:
    """Contrastive objectives on :class:`polyclr.losses.CrossModalInfoNCE`.

    Attributes:
        runs: objectives trained and compared by ``run`` (``clip``, ``cwcl``, ``clip+order``,
            ``cwcl+order``); ``pretrain`` uses ``name``.
        name: objective of ``pretrain``.
        temperature: initial temperature (learnable logit scale, clamped).
        max_logit_scale: clamp of the logit scale.
        learnable_temperature: learn the logit scale (CLAP).
        cwcl_power: exponent applied to the CWCL weights ``w_ij = (1 + <q_i, q_j>) / 2``. The
            paper's weights (power 1) are nearly uniform for sentence-encoder embeddings (their
            cosines mostly lie in 0–0.6, so w in 0.5–0.8), which makes the target close to
            uniform and can collapse the audio embeddings (docs/results_audio.md). A power keeps
            the diagonal at 1 and the order of the weights and sharpens them
            (8 ≈ exp(4 (cos − 1)) near cos = 1). The default was chosen on validation groups.
        cwcl_center: subtract the mean frozen embedding of the training captions before the
            CWCL cosines (removes the direction every caption shares,
            ``benchmarks/audio_caption_similarity.py``). Off by default: it did not help on
            validation groups (docs/results_audio.md).
        zero_swapped_weights: ``cwcl+order`` only: CWCL weight 0 between captions whose two
            events are each other's reversal (the frozen encoder's cosine for them is ~0.97,
            i.e. the paper's weights call the order-swapped caption a positive).
    """

    runs: list[str] = field(default_factory=lambda: ["clip", "cwcl", "cwcl+order"])
    name: str = "cwcl+order"
    temperature: float = 0.07
    max_logit_scale: float = 100.0
    learnable_temperature: bool = True
    cwcl_power: float = 16.0
    cwcl_center: bool = False
    zero_swapped_weights: bool = True


@dataclass
class EvalConfig:
    """Evaluation.

    Attributes:
        templates: zero-shot prompt templates (``{}`` = class label); scores are averaged over
            the templates' normalised text embeddings.
        long_form_clips: clips concatenated into each synthetic long recording for the long-form
            retrieval test (0 = off).
        fusion_temperature: attention temperature of the text-conditioned fusion.
        random_init: also evaluate an untrained model (``random_init`` row).
    """

    templates: list[str] = field(
        default_factory=lambda: ["{}", "the sound of {}", "a recording of {}", "an audio clip of {}"]
    )
    long_form_clips: int = 4
    fusion_temperature: float = 0.1
    random_init: bool = True


@dataclass
class AudioConfig:
    """Audio–text pipeline config."""

    engine: EngineConfig = field(
        default_factory=lambda: EngineConfig(max_epochs=30, batch_size=64, lr=2e-3)
    )
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    features: FrontEndConfig = field(default_factory=FrontEndConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        for name in [*self.objective.runs, self.objective.name]:
            if name not in OBJECTIVES:
                raise ConfigError(f"unknown audio objective {name!r}; choose from {OBJECTIVES}")
        if self.model.text_tower not in ("frozen", "small"):
            raise ConfigError("model.text_tower must be 'frozen' or 'small'")
        if self.model.text_head not in ("mlp", "locked"):
            raise ConfigError("model.text_head must be 'mlp' or 'locked'")
        if self.objective.cwcl_power <= 0:
            raise ConfigError("objective.cwcl_power must be positive")
        if self.data.clip_seconds <= 0:
            raise ConfigError("data.clip_seconds must be positive")
