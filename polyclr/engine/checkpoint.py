"""Safe, atomic checkpoints: ``weights_only`` loading, safetensors encoders, temp-file + rename.

Lightning's side (``AtomicCheckpointIO``) is in :mod:`polyclr.engine.trainer`, so reading and
writing encoders needs no Lightning import."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any

import torch

from polyclr.errors import CheckpointError
from polyclr.rundir import atomic_write_bytes


def safe_torch_load(path: str | Path, map_location: Any = "cpu") -> Any:
    """``torch.load(weights_only=True)``: tensors and plain containers only, never arbitrary code.

    Raises:
        CheckpointError: the file is missing, corrupt, or carries objects that need unpickling
            code (a pickle payload is refused, not run).
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(p, "checkpoint file not found")
    try:
        return torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = " ".join(str(exc).split())[:160]
        raise CheckpointError(p, f"refused: not a plain weights file ({first})") from exc
    except Exception as exc:  # torch raises many types on garbage (KeyError, SafetensorError...)
        raise CheckpointError(p, f"unreadable checkpoint ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})") from exc


def save_torch_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file renamed over ``path``: a run cut off mid-write leaves
    the previous file (or none), never a truncated one that a resume would then load."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def save_encoder(path: str | Path, state_dict: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write an encoder's weights as safetensors with a JSON metadata header (atomic).

    Under DDP every rank calls this at the same point; rank zero writes, and all ranks wait for
    it (the others often load the encoder next)."""
    from safetensors.torch import save

    from polyclr.engine.dist import barrier

    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    data = save(tensors, metadata={"polyclr": json.dumps(meta, default=str)})
    written = atomic_write_bytes(path, data)
    barrier()
    return written


def load_encoder(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read weights and metadata written by :func:`save_encoder`."""
    from safetensors import SafetensorError, safe_open

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(p, "encoder file not found")
    try:
        with safe_open(str(p), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {}).get("polyclr", "{}"))
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(p, f"not a safetensors encoder file ({exc})") from exc
    return tensors, meta
