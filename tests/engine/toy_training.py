"""A small real training script for engine tests (run as a subprocess, may SIGKILL itself).

Usage: python toy_training.py OUT MAX_EPOCHS [--max-steps N] [--drop-last] [--resume] [--kill-at-step N]
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import lightning as L
import torch
from torch import nn
from torch.utils.data import TensorDataset

from polyclr.engine import (
    EngineConfig,
    PretrainModule,
    fit,
    make_loader,
    save_encoder,
    seed_everything,
)
from polyclr.losses import NTXentLoss


class TwoViewObjective(nn.Module):
    """Noise-jitter two views of each row, NT-Xent on a small MLP encoder."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 8))
        self.loss = NTXentLoss(temperature=0.5)

    def forward(self, batch):
        (x,) = batch
        v1 = x + 0.1 * torch.randn_like(x)  # uses the global RNG: restored on resume
        v2 = x + 0.1 * torch.randn_like(x)
        return self.loss(self.encoder(v1), self.encoder(v2))


class KillAt(L.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    out, max_epochs = Path(sys.argv[1]), int(sys.argv[2])
    resume = "--resume" in sys.argv
    callbacks = []
    if "--kill-at-step" in sys.argv:
        callbacks.append(KillAt(int(sys.argv[sys.argv.index("--kill-at-step") + 1])))
    max_steps = int(sys.argv[sys.argv.index("--max-steps") + 1]) if "--max-steps" in sys.argv else -1
    drop_last = "--drop-last" in sys.argv
    cfg = EngineConfig(max_epochs=max_epochs, max_steps=max_steps, batch_size=16, accelerator="cpu", seed=7)
    seed_everything(cfg.seed)
    data = TensorDataset(torch.randn(70 if drop_last else 64, 8, generator=torch.Generator().manual_seed(0)))
    module = PretrainModule(TwoViewObjective(), lr=1e-2, meta={"modality": "toy"})
    loader = make_loader(data, cfg.batch_size, seed=cfg.seed, shuffle=True, drop_last=drop_last)
    fit(module, loader, cfg, out, resume=resume, extra_callbacks=callbacks)
    save_encoder(out / "encoder.safetensors", module.objective.encoder.state_dict(), {"modality": "toy"})


if __name__ == "__main__":
    main()
