"""Training engine on PyTorch Lightning: devices, DDP, AMP, atomic checkpoints, exact resume."""

from polyclr.engine.checkpoint import (
    AtomicCheckpointIO,
    load_encoder,
    safe_torch_load,
    save_encoder,
    save_torch_atomic,
)
from polyclr.engine.config import EngineConfig
from polyclr.engine.data import EpochSeededSampler, make_loader, seed_worker
from polyclr.engine.modules import FinetuneModule, PretrainModule
from polyclr.engine.trainer import build_trainer, fit, quiet_lightning, seed_everything

__all__ = [
    "AtomicCheckpointIO",
    "EngineConfig",
    "EpochSeededSampler",
    "FinetuneModule",
    "PretrainModule",
    "build_trainer",
    "fit",
    "load_encoder",
    "make_loader",
    "quiet_lightning",
    "safe_torch_load",
    "save_encoder",
    "save_torch_atomic",
    "seed_everything",
    "seed_worker",
]
