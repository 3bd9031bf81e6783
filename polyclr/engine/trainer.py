"""Build and run Lightning trainers from :class:`EngineConfig` (devices, DDP, AMP, resume)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from polyclr.engine.checkpoint import safe_torch_load, save_torch_atomic
from polyclr.engine.config import EngineConfig
from polyclr.engine.memory import HeapTrim
from polyclr.engine.options import make_loggers
from polyclr.engine.progress import progress_mode
from polyclr.engine.seed import quiet_lightning, seed_everything  # noqa: F401  (re-exported)
from polyclr.engine.step_progress import StepProgress
from polyclr.errors import ConfigError


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that writes atomically and loads with ``weights_only=True``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        save_torch_atomic(checkpoint, path)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: Any = None) -> dict[str, Any]:
        return safe_torch_load(path, map_location=map_location or "cpu")


class StopAtStep(L.Callback):
    """Stop after ``max_steps`` optimiser steps without telling Lightning it is step-based.

    Lightning treats any run with ``max_steps`` set as iteration-based and then resumes every
    checkpoint as "mid-epoch", which replays a different data order unless the loader is
    stateful. Counting steps here keeps Lightning's epoch-based resume (checkpoints at epoch
    end, exact on CPU) while still honouring ``max_steps``.
    """

    def __init__(self, max_steps: int) -> None:
        self.max_steps = max_steps

    def _check(self, trainer: L.Trainer) -> None:
        if trainer.global_step >= self.max_steps:
            trainer.should_stop = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check(trainer)

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._check(trainer)


class TrimHeapCallback(L.Callback):
    """:class:`polyclr.engine.memory.HeapTrim` after every training batch (bounded RSS growth
    when tensor sizes change from step to step)."""

    def __init__(self, budget_mb: float = 256) -> None:
        self.heap = HeapTrim(budget_mb)

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.heap.step_end()


def _devices(value: str) -> Any:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, str) and "," in value:
        return [int(v) for v in value.split(",") if v.strip()]
    return value


def build_trainer(
    cfg: EngineConfig,
    out: str | Path | None,
    max_epochs: int | None = None,
    checkpoints: bool = True,
    extra_callbacks: list[Any] | None = None,
    log_version: str = "",
    desc: str = "train",
    log_name: str = "logs",
    log_dir: str | Path | None = None,
    **overrides: Any,
) -> L.Trainer:
    """A Lightning ``Trainer`` configured from ``cfg``.

    ``accelerator="auto"`` picks a GPU when there is one; ``devices``, ``num_nodes`` and
    ``strategy`` pass through (torchrun / SLURM set the process environment). Checkpoints go to
    ``out/checkpoints/last.ckpt`` (atomic writes, ``weights_only`` loads); loggers
    (``engine.logger``) to ``out/<log_name>``, or to ``log_dir`` when given. A step budget (``cfg.max_steps`` or a
    ``max_steps=`` override) runs epochs until :class:`StopAtStep` ends it, and the progress
    callback (``desc``) shows that budget as its total.
    """
    quiet_lightning()
    callbacks: list[Any] = []
    if checkpoints and out is not None:
        callbacks.append(
            ModelCheckpoint(
                dirpath=Path(out) / "checkpoints",
                filename="{epoch:03d}",
                save_last=True,
                save_top_k=1,  # with monitor=None: keep only the newest epoch file
                every_n_epochs=max(1, cfg.checkpoint_every_n_epochs),
                save_on_train_epoch_end=True,
            )
        )
    callbacks.extend(extra_callbacks or [])
    steps = int(overrides.pop("max_steps", cfg.max_steps) or -1)
    epochs = cfg.max_epochs if max_epochs is None else max_epochs
    if steps > 0:
        callbacks.append(StopAtStep(steps))
        epochs = -1  # unbounded: StopAtStep ends the run at the step budget
    show = cfg.progress_bar and progress_mode() != "off"
    if show:
        callbacks.append(StepProgress(desc, steps if steps > 0 else None))
    logger: Any = overrides.pop("logger", None)
    if logger is None and log_dir is not None:  # a run without checkpoints that still logs
        logger = make_loggers(cfg, Path(log_dir).parent, Path(log_dir).name, name="") or False
    if logger is None:
        logger = make_loggers(cfg, out, log_version, log_name) or False
    kwargs: dict[str, Any] = dict(
        accelerator=cfg.accelerator,
        devices=_devices(cfg.devices),
        num_nodes=cfg.num_nodes,
        strategy=cfg.strategy,
        precision=cfg.precision,
        max_epochs=epochs,
        max_steps=-1,  # enforced by StopAtStep (see its docstring)
        deterministic=True if cfg.deterministic and cfg.accelerator == "cpu" else ("warn" if cfg.deterministic else False),
        enable_progress_bar=show,
        enable_model_summary=False,
        enable_checkpointing=checkpoints and out is not None,
        callbacks=callbacks,
        logger=logger,
        log_every_n_steps=cfg.log_every_n_steps,
        gradient_clip_val=cfg.gradient_clip_val or None,
        plugins=[AtomicCheckpointIO()],
        default_root_dir=str(out) if out is not None else None,
        num_sanity_val_steps=0,
    )
    kwargs.update(overrides)
    try:
        return L.Trainer(**kwargs)
    except (MisconfigurationException, ValueError) as exc:
        raise ConfigError(f"engine settings refused by Lightning: {' '.join(str(exc).split())[:300]}") from exc


def fit(
    module: L.LightningModule,
    train_loader: Any,
    cfg: EngineConfig,
    out: str | Path | None,
    resume: bool = False,
    val_loader: Any = None,
    max_epochs: int | None = None,
    checkpoints: bool = True,
    extra_callbacks: list[Any] | None = None,
    desc: str = "train",
    **overrides: Any,
) -> L.Trainer:
    """Train ``module``; with ``resume`` continue from ``out/checkpoints/last.ckpt`` if present.

    ``desc`` labels the progress output. A loader whose batch sampler shards itself across
    processes (``shards_itself``, see :mod:`polyclr.engine.data`) is not re-wrapped in
    Lightning's ``DistributedSampler``, which would pad an epoch with repeated samples.
    """
    ckpt = None
    log_version = ""
    if resume and out is not None:
        last = Path(out) / "checkpoints" / "last.ckpt"
        ckpt = str(last) if last.is_file() else None
        # keep the interrupted run's log; the resumed part logs beside it
        n = 1
        while (Path(out) / "logs" / f"resume{n}").exists():
            n += 1
        log_version = f"resume{n}" if (Path(out) / "logs" / "metrics.csv").exists() else ""
    if getattr(getattr(train_loader, "batch_sampler", None), "shards_itself", False):
        overrides.setdefault("use_distributed_sampler", False)
    objective = getattr(module, "objective", module)
    if cfg.strategy == "ddp" and getattr(objective, "ddp_find_unused_parameters", False):
        # stages that train part of a network (a frozen encoder, decoder stages past the one
        # used) leave parameters without gradients; DDP must be told to look for them
        overrides.setdefault("strategy", "ddp_find_unused_parameters_true")
    trainer = build_trainer(
        cfg, out, max_epochs=max_epochs, checkpoints=checkpoints, extra_callbacks=extra_callbacks,
        log_version=log_version, desc=desc, **overrides,
    )
    os.environ.setdefault("PYTHONHASHSEED", str(cfg.seed))
    trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader, ckpt_path=ckpt)
    return trainer
