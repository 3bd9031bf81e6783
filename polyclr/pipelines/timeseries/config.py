"""The typed config of the time-series pipeline (``--config`` YAML / ``--set`` override it)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from polyclr.engine.config import EngineConfig
from polyclr.selection.config import SelectionConfig
from polyclr.splits import SplitConfig


@dataclass
class DataConfig(SplitConfig):
    """Reading and splitting (the split fields come from :class:`polyclr.splits.SplitConfig`:
    ``test_size`` / ``val_size`` are fractions of *patients*).

    Attributes:
        window_length: cut series into windows of this many timestamps (0 = keep whole series).
        window_stride: stride of the windows (0 = ``window_length``).
        normalize: per-channel z-scoring fitted on the training split only.
        window_seconds, stride_seconds: windows of recordings (WFDB / EDF / BDF / signal tables)
            in seconds (stride 0 = no overlap).
        sampling_rate: resample recordings to this rate in Hz (0 = their own, shared rate). The
            defaults (5 s windows at 100 Hz: 500 steps, enough for a few heart beats or EEG up to
            50 Hz; recordings are scored per recording over all their windows) keep the default
            ``run`` within a 2-core CPU budget.
        channels: channel names to use, in order (empty = all; recordings must then agree).
        max_gap_seconds: NaN runs up to this long stay in a window, masked in encoder and loss;
            longer runs split the recording.
        labels: labels table of a recordings folder ("" = ``labels.csv``, ``REFERENCE.csv`` or
            header ``# Dx:`` codes); labels are optional (unlabelled recordings are pre-trained on).
        record_column, label_column, patient_column, label_separator: labels-table columns
            (patient "" = ``patient``/``patient_id``/``subject`` if present); a separator makes
            the labels multi-label.
        table_rate: sampling rate of CSV/Parquet signal tables without a ``time`` column.
    """

    window_length: int = 0
    window_stride: int = 0
    normalize: bool = True
    window_seconds: float = 5.0
    stride_seconds: float = 0.0
    sampling_rate: float = 100.0
    channels: list[str] = field(default_factory=list)
    max_gap_seconds: float = 1.0
    labels: str = ""
    record_column: str = "record"
    label_column: str = "label"
    patient_column: str = ""
    label_separator: str = ""
    table_rate: float = 0.0

    def recording_options(self):
        """The reader options of recordings folders."""
        from polyclr.modalities.timeseries.folder import RecordingOptions
        from polyclr.modalities.timeseries.windows import WindowSpec

        window = WindowSpec(self.window_seconds, self.stride_seconds, self.sampling_rate,
                            list(self.channels), self.max_gap_seconds)
        # the labels-table keys have the reader's names: copy every one this section declares
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(RecordingOptions)
                  if f.name != "window" and hasattr(self, f.name)}
        return RecordingOptions(window=window, **shared)


@dataclass
class EncoderConfig:
    """Encoder: ``ts2vec`` (dilated CNN) or a tsai backbone (InceptionTimePlus, ResNetPlus, TSTPlus...).

    ``output_dims``/``hidden_dims``/``depth`` apply to ``ts2vec`` only.
    """

    name: str = "ts2vec"
    output_dims: int = 320
    hidden_dims: int = 64
    depth: int = 10


@dataclass
class ObjectiveConfig:
    """Pre-training objective: ``ts2vec``, ``comet`` or ``autotcl`` (+ optional DBPM).

    Attributes:
        name: objective.
        alpha, temporal_unit: TS2Vec hierarchical loss settings.
        max_train_length: as TS2Vec, training series at least twice this long are cut into
            sections, and longer batches are cropped to a random window of this length.
        average: evaluate/save a uniform weight average (SWA) of the encoder, as TS2Vec does.
        comet_weights: per-level weights lambda (any subset of observation/sample/trial/patient).
        temperature: InfoNCE temperature for COMET / AutoTCL.
        augmentations: fixed augmentations making COMET's views.
        per_trial: samples per trial drawn together by the hierarchical batch sampler (COMET).
        aug_every, mask_weight: AutoTCL alternation period and weight of the mask budget
            (sparsity) penalty.
        aug_adv_weight, aug_keep_ratio, aug_smooth_weight: AutoTCL adversarial-term weight, kept
            fraction above which the budget penalty acts, temporal-consistency weight.
        checkpoint_every_n_steps: spacing of the resumable pre-training checkpoints in optimiser
            steps, rounded to whole epochs (small data sets have a few steps per epoch, and a
            checkpoint every epoch would slow them); 0 = ``engine.checkpoint_every_n_epochs``.
        dbpm, dbpm_warmup, dbpm_beta, dbpm_down_weight: dynamic bad pair mining.
        fast_path: TS2Vec with the ts2vec encoder encodes both crops in one exact fused pass
            (see ``TS2VecEncoder.forward_segments``); ``false`` runs one encoder call per crop.
    """

    name: str = "ts2vec"
    alpha: float = 0.5
    temporal_unit: int = 0
    max_train_length: int = 3000
    average: bool = True
    comet_weights: dict[str, float] = field(default_factory=lambda: {
        "observation": 0.25, "sample": 0.25, "trial": 0.25, "patient": 0.25})
    temperature: float = 0.1
    augmentations: list[str] = field(default_factory=lambda: ["jitter", "scaling", "masking"])
    per_trial: int = 2
    aug_every: int = 2
    mask_weight: float = 0.1
    aug_adv_weight: float = 0.5
    aug_keep_ratio: float = 0.7
    aug_smooth_weight: float = 0.1
    checkpoint_every_n_steps: int = 100
    dbpm: bool = False
    dbpm_warmup: int = 5
    dbpm_beta: float = 2.0
    dbpm_down_weight: float = 0.1
    fast_path: bool = True


@dataclass
class DownstreamConfig:
    """Probe and fine-tuning at label fractions.

    Attributes:
        label_fractions: fractions of the training labels (stratified within training patients).
        seeds: seeds of the label subsets and fine-tuning runs (mean ± std over them).
        methods: ``linear_probe`` (frozen), ``pretrained`` (fine-tune the pre-trained encoder),
            ``random_init`` (same encoder, random weights), ``supervised`` (a tsai baseline).
        finetune_steps: most optimiser steps of one fine-tuning run.
        finetune_epochs: passes over the labelled subset per fine-tuning run, capped by
            ``finetune_steps`` (0 = always ``finetune_steps``): 1 % of the labels needs far fewer
            steps than 100 %.
        finetune_lr: learning rate of fine-tuning (of the head, and of random-init and
            supervised encoders).
        encoder_lr_scale: learning-rate multiplier of a pre-trained encoder during fine-tuning
            (smaller steps keep the pre-trained features the head was fitted on).
        finetune_dropout: keep the encoders' dropout active while fine-tuning (off: the head
            initialised by the probe starts at the features it was fitted on; dropout before the
            max-pool shifts them).
        class_weight: ``balanced`` (classes weighted by inverse frequency in the labelled subset,
            in the head's probe and the loss: the scores are macro averages) or ``none``.
        finetune_batch_size: batch size of fine-tuning.
        supervised_arch: tsai architecture of the supervised baseline.
        head_init: ``linear_probe`` (LP-FT: head starts at a probe on the frozen features, for
            the pre-trained and random-init encoders alike; the supervised baseline always
            starts from a random head) or ``random``.
        plots: write figures and report.md in ``run``.
    """

    label_fractions: list[float] = field(default_factory=lambda: [0.01, 0.1, 1.0])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    methods: list[str] = field(default_factory=lambda: ["linear_probe", "pretrained", "random_init", "supervised"])
    finetune_steps: int = 150
    finetune_epochs: int = 10
    finetune_lr: float = 1e-3
    encoder_lr_scale: float = 1.0
    class_weight: str = "none"
    finetune_dropout: bool = False
    finetune_batch_size: int = 16
    supervised_arch: str = "InceptionTimePlus"
    head_init: str = "linear_probe"
    plots: bool = True


def _ts2vec_engine() -> EngineConfig:
    # TS2Vec's settings: batch 8, lr 1e-3, AdamW (weight decay 0.01, torch's default, as TS2Vec),
    # and its budget rule: max_steps/max_epochs unset (-1) means 200 iterations for a training
    # set of at most 100,000 values (n x length x channels), 600 above (train.pretraining_budget);
    # setting engine.max_steps (or max_epochs) overrides it.
    return EngineConfig(max_epochs=-1, max_steps=-1, batch_size=8, lr=1e-3, weight_decay=0.01)


@dataclass
class TimeSeriesConfig:
    """Everything ``polyclr ... timeseries`` needs."""

    engine: EngineConfig = field(default_factory=_ts2vec_engine)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    data: DataConfig = field(default_factory=DataConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    downstream: DownstreamConfig = field(default_factory=DownstreamConfig)
