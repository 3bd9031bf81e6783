"""Checks of the ``engine:`` settings before anything runs, and the experiment loggers.

Every check raises :class:`~polyclr.errors.ConfigError` naming the setting, so the CLI stops
with one line and exit code 2 before it creates the output directory. A logger that is not
installed is an error, never silently replaced by another one.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from polyclr.engine.config import EngineConfig
from polyclr.errors import ConfigError

# logger name -> (module that must be importable, pip package to install)
LOGGERS = {
    "csv": (None, None),
    "tensorboard": ("tensorboard", "tensorboard"),
    "mlflow": ("mlflow", "mlflow"),
    "wandb": ("wandb", "wandb"),
}
PRECISIONS = ("32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true", "64")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


def logger_names(value: str) -> list[str]:
    """``engine.logger`` as a list: ``"csv"``, ``"csv,tensorboard"`` or ``"none"`` (= [])."""
    names = [v.strip().lower() for v in str(value).split(",") if v.strip()]
    return [] if names in ([], ["none"], ["false"]) else names


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _device_count(value: Any) -> int | None:
    """Processes asked for by ``engine.devices`` (None for ``auto``/``-1``)."""
    text = str(value).strip()
    if text in ("auto", "-1", ""):
        return None
    if "," in text or text.startswith("["):
        ids = [t for t in text.strip("[]").split(",") if t.strip()]
        if not all(t.strip().isdigit() for t in ids):
            raise ConfigError(f"engine.devices={value!r}: expected auto, a count or a list of ids")
        return len(ids)
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"engine.devices={value!r}: expected auto, a positive count or a list of ids")
    return int(text)


def _check_devices(cfg: EngineConfig) -> None:
    import torch

    accelerator = str(cfg.accelerator).lower()
    if accelerator not in ACCELERATORS:
        raise ConfigError(f"engine.accelerator={cfg.accelerator!r}: expected one of {', '.join(ACCELERATORS)}")
    n = _device_count(cfg.devices)
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if accelerator in ("gpu", "cuda") and gpus == 0:
        raise ConfigError(f"engine.accelerator={cfg.accelerator!r}: no GPU on this machine")
    if n is None:
        return
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and gpus > 0):
        if n > gpus:
            raise ConfigError(f"engine.devices={cfg.devices}: this machine has {gpus} GPU(s)")
    elif n > _cpu_count():
        raise ConfigError(f"engine.devices={cfg.devices}: no GPU here and only {_cpu_count()} CPU "
                          f"core(s) for {n} CPU processes")
    if cfg.num_nodes < 1:
        raise ConfigError(f"engine.num_nodes={cfg.num_nodes}: must be >= 1")


def _check_strategy(cfg: EngineConfig) -> None:
    """Refuse a strategy name Lightning's registry does not know."""
    from lightning.pytorch.strategies import StrategyRegistry

    strategies = {"auto", *StrategyRegistry.available_strategies()}
    if str(cfg.strategy) not in strategies:
        known = ", ".join(s for s in sorted(strategies) if "_" not in s or s.startswith("ddp"))
        raise ConfigError(f"engine.strategy={cfg.strategy!r}: unknown; choose one of {known}")


def validate_engine(cfg: EngineConfig) -> None:
    """Refuse unusable engine settings (devices, strategy, precision, logger) by name."""
    _check_devices(cfg)
    if str(cfg.strategy) not in ("auto", "ddp", "ddp_spawn", "ddp_find_unused_parameters_true"):
        _check_strategy(cfg)  # the registry imports Lightning: only for other names
    if str(cfg.precision) not in PRECISIONS:
        raise ConfigError(f"engine.precision={cfg.precision!r}: expected one of {', '.join(PRECISIONS)}")
    if str(cfg.precision).startswith("16") and str(cfg.accelerator).lower() == "cpu":
        raise ConfigError(f"engine.precision={cfg.precision!r}: float16 needs a GPU; use bf16-mixed on the CPU")
    for name in logger_names(cfg.logger):
        if name not in LOGGERS:
            raise ConfigError(f"engine.logger={cfg.logger!r}: unknown logger {name!r}; "
                              f"choose from {', '.join(LOGGERS)} or none")
        module, package = LOGGERS[name]
        if module is not None and importlib.util.find_spec(module) is None:
            raise ConfigError(f"engine.logger={cfg.logger!r}: the {package} package is not installed "
                              f"(pip install {package}), or choose csv")
    if cfg.log_every_n_steps < 1:
        raise ConfigError(f"engine.log_every_n_steps={cfg.log_every_n_steps}: must be >= 1")


def make_loggers(cfg: EngineConfig, out: str | Path | None, version: str = "", name: str = "logs") -> list[Any]:
    """The Lightning loggers of ``engine.logger`` writing under ``out/<name>/<version>``.

    CSV and TensorBoard write files; MLflow logs to ``MLFLOW_TRACKING_URI`` (default
    ``out/mlruns``); W&B follows its own ``WANDB_*`` settings (``WANDB_MODE=offline`` on machines
    without network).
    """
    if out is None:
        return []
    unknown = [n for n in logger_names(cfg.logger) if n not in LOGGERS]
    if unknown:
        raise ConfigError(f"engine.logger={cfg.logger!r}: unknown logger {unknown[0]!r}")
    loggers: list[Any] = []
    for n in logger_names(cfg.logger):
        if n == "csv":
            from lightning.pytorch.loggers import CSVLogger

            loggers.append(CSVLogger(str(out), name=name, version=version))
        elif n == "tensorboard":
            from lightning.pytorch.loggers import TensorBoardLogger

            loggers.append(TensorBoardLogger(str(out), name=name, version=version or None,
                                             default_hp_metric=False))
        elif n == "mlflow":
            from lightning.pytorch.loggers import MLFlowLogger

            uri = os.environ.get("MLFLOW_TRACKING_URI") or (Path(out).resolve() / "mlruns").as_uri()
            loggers.append(MLFlowLogger(experiment_name="polyclr", run_name=f"{Path(out).name}/{name}",
                                        tracking_uri=uri))
        elif n == "wandb":
            from lightning.pytorch.loggers import WandbLogger

            loggers.append(WandbLogger(project=os.environ.get("WANDB_PROJECT", "polyclr"),
                                       name=f"{Path(out).name}/{name}", save_dir=str(out)))
    return loggers
