"""Lightning modules for pre-training and fine-tuning.

The modality-specific work lives in a plain ``nn.Module`` (the *objective*), whose ``forward``
takes a batch and returns the loss (or a dict with ``loss`` and other scalars to log). These
modules add the optimiser, logging, RNG state in checkpoints (for exact resume) and metadata.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn


def _rng_state() -> dict[str, Any]:
    # numpy/python states are stored as tensors/lists so weights_only loading accepts them.
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), *n[2:]))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


class _RngCheckpointMixin:
    """Saves and restores torch/numpy/python RNG states so resumed runs match exactly."""

    meta: dict[str, Any]

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["polyclr_rng"] = _rng_state()
        checkpoint["polyclr"] = dict(self.meta)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "polyclr_rng" in checkpoint:
            _set_rng_state(checkpoint["polyclr_rng"])


class PretrainModule(_RngCheckpointMixin, L.LightningModule):
    """Contrastive pre-training around an objective module.

    Args:
        objective: ``nn.Module`` whose ``forward(batch)`` returns a loss tensor or a dict with
            ``"loss"``; it owns the encoder (as ``objective.encoder``), heads and the loss.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        meta: JSON-safe metadata stored in every checkpoint (modality, config, encoder args).
        optimizer_factory: optional ``params -> optimizer`` override.
    """

    def __init__(
        self,
        objective: nn.Module,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        meta: dict[str, Any] | None = None,
        optimizer_factory: Callable[[Any], torch.optim.Optimizer] | None = None,
    ) -> None:
        super().__init__()
        self.objective = objective
        self.lr = lr
        self.weight_decay = weight_decay
        self.meta = meta or {}
        self.optimizer_factory = optimizer_factory

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        out = self.objective(batch)
        logs = out if isinstance(out, dict) else {"loss": out}
        bs = _batch_size(batch)
        for key, value in logs.items():
            if torch.is_tensor(value) and value.numel() == 1:
                self.log(f"train/{key}", value.detach().float(), prog_bar=key == "loss", batch_size=bs)
        return logs["loss"]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for p in self.parameters() if p.requires_grad]
        if self.optimizer_factory is not None:
            return self.optimizer_factory(params)
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)


class FinetuneModule(_RngCheckpointMixin, L.LightningModule):
    """Supervised fine-tuning: ``model(x) -> prediction`` trained with ``loss_fn(pred, y)``.

    Args:
        model: encoder + task head as one module.
        loss_fn: ``(prediction, target) -> scalar``.
        trainable: parameters to train (``None`` = all); freezing is decided by the pipeline
            (frozen encoder = head only, partial, full).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        meta: metadata stored in checkpoints.
        lr_scales: learning-rate multipliers of some of the trained parameters (e.g. a smaller
            step for a pre-trained encoder than for a new head); the rest use ``lr``.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        trainable: list[nn.Parameter] | None = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        meta: dict[str, Any] | None = None,
        lr_scales: list[tuple[list[nn.Parameter], float]] | None = None,
    ) -> None:
        super().__init__()
        for _, scale in lr_scales or []:
            if not scale > 0:
                raise ValueError(f"learning-rate scales must be > 0, got {scale}")
        self.model = model
        self.loss_fn = loss_fn
        self._trainable = trainable
        self._lr_scales = lr_scales or []
        self.lr = lr
        self.weight_decay = weight_decay
        self.meta = meta or {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = _xy(batch)
        loss = self.loss_fn(self.model(x), y)
        self.log("train/loss", loss.detach().float(), prog_bar=True, batch_size=x.shape[0])
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = _xy(batch)
        loss = self.loss_fn(self.model(x), y)
        self.log("val/loss", loss.detach().float(), prog_bar=True, batch_size=x.shape[0])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = self._trainable if self._trainable is not None else list(self.parameters())
        params = [p for p in params if p.requires_grad]
        scale_of = {id(p): scale for group, scale in self._lr_scales for p in group}
        groups: dict[float, list[nn.Parameter]] = {}
        for p in params:
            groups.setdefault(scale_of.get(id(p), 1.0), []).append(p)
        return torch.optim.AdamW([{"params": ps, "lr": self.lr * scale} for scale, ps in groups.items()],
                                 lr=self.lr, weight_decay=self.weight_decay)


def _xy(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(batch, dict):
        return batch["x"], batch["y"]
    return batch[0], batch[1]


def _batch_size(batch: Any) -> int:
    if isinstance(batch, dict):
        for v in batch.values():
            if torch.is_tensor(v):
                return int(v.shape[0])
    if isinstance(batch, list | tuple) and batch and torch.is_tensor(batch[0]):
        return int(batch[0].shape[0])
    if torch.is_tensor(batch):
        return int(batch.shape[0])
    return 1
