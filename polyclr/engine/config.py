"""Engine settings shared by every pipeline (the ``engine:`` section of a config)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EngineConfig:
    """Training-loop settings passed through to Lightning.

    Attributes:
        max_epochs: epochs of training (``max_steps`` wins when > 0).
        max_steps: optimiser steps; -1 means "use max_epochs".
        batch_size: per-process batch size (global batch = batch_size × devices × num_nodes).
        lr: learning rate (AdamW).
        weight_decay: AdamW weight decay.
        accelerator: ``auto`` uses a GPU when there is one; ``cpu``/``gpu`` force it.
        devices: ``auto``, a count (``2``) or a list of ids, as Lightning takes it.
        num_nodes: machines for multi-node DDP (torchrun / SLURM).
        strategy: ``auto``, ``ddp``, ``ddp_spawn``, ...
        precision: ``32-true``, ``bf16-mixed``, ``16-mixed``.
        seed: global seed (torch, numpy, python, data order).
        num_workers: data-loader worker processes (seeded).
        deterministic: ask torch for deterministic algorithms.
        progress_bar: show training progress (a bar on a terminal, a line every
            ``POLYCLR_PROGRESS_SECONDS`` s otherwise; the CLI's ``--quiet`` turns it off).
        logger: ``csv`` (default), ``tensorboard``, ``mlflow``, ``wandb`` (when installed), a
            comma-separated list of them, or ``none``.
        log_every_n_steps: logging interval.
        checkpoint_every_n_epochs: how often ``checkpoints/last.ckpt`` is refreshed.
        gradient_clip_val: clip gradients by norm (0 = off).
    """

    max_epochs: int = 10
    max_steps: int = -1
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    accelerator: str = "auto"
    devices: str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    seed: int = 0
    num_workers: int = 0
    deterministic: bool = True
    progress_bar: bool = True
    logger: str = "csv"
    log_every_n_steps: int = 10
    checkpoint_every_n_epochs: int = 1
    gradient_clip_val: float = 0.0
