"""Training engine on PyTorch Lightning: devices, DDP, AMP, atomic checkpoints, exact resume.

The names below are loaded on first use (PEP 562), so the light submodules (``progress``,
``dist``, ``options``, ``config``) can be imported without importing torch or Lightning: a long
command prints its first progress line before those multi-second imports.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "AtomicCheckpointIO": "trainer",
    "load_encoder": "checkpoint",
    "safe_torch_load": "checkpoint",
    "save_encoder": "checkpoint",
    "save_torch_atomic": "checkpoint",
    "EngineConfig": "config",
    "EpochSeededSampler": "data",
    "make_loader": "data",
    "seed_worker": "data",
    "FinetuneModule": "modules",
    "PretrainModule": "modules",
    "build_trainer": "trainer",
    "fit": "trainer",
    "quiet_lightning": "seed",
    "seed_everything": "seed",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"polyclr.engine.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'polyclr.engine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
