"""Accuracy vs pre-training budget and weight averaging for the TS2Vec objective (UCR, aeon).

One training run per (data set, seed) in a plain PyTorch loop with the pipeline's settings
(TS2Vec encoder and objective, AdamW lr 1e-3, batch 8); at each budget in ``--budgets`` the
encoder is scored under several weight-averaging schemes:

- ``raw``: the current weights;
- ``swa_all``: uniform average of every iterate from initialisation (the public TS2Vec code);
- ``swa_half``: uniform average over the second half of the budget (steps ``B/2 .. B``);
- ``ema``: exponential moving average (decay ``--ema``).

Columns: ``test_accuracy`` (linear probe fitted on TRAIN, scored on TEST) and
``train_cv_accuracy`` (the same probe under repeated 5-fold CV on TRAIN — the only score used to
choose a default; TEST never is).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/timeseries_budget.py
"""

from __future__ import annotations

import argparse
import copy
import os
from pathlib import Path

import numpy as np
import torch

from polyclr.engine import seed_everything
from polyclr.evaluation import linear_probe
from polyclr.modalities.timeseries.encoders import TS2VecEncoder
from polyclr.modalities.timeseries.objectives import TS2VecObjective
from polyclr.pipelines.timeseries import data as D
from polyclr.pipelines.timeseries import train as T
from polyclr.pipelines.timeseries.config import TimeSeriesConfig

try:
    from benchmarks.timeseries_common import stamp, write_csv
    from benchmarks.timeseries_ucr import train_cv_accuracy
except ImportError:
    from timeseries_common import stamp, write_csv
    from timeseries_ucr import train_cv_accuracy


class _Mean:
    """Running uniform or exponential average of a module's parameters."""

    def __init__(self, module: torch.nn.Module, decay: float | None = None) -> None:
        self.avg = [p.detach().clone() for p in module.parameters()]
        self.n, self.decay = 1, decay

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        w = (1 - self.decay) if self.decay is not None else 1.0 / (self.n + 1)
        torch._foreach_lerp_(self.avg, [p.detach() for p in module.parameters()], w)
        self.n += 1

    def encoder(self, like: torch.nn.Module) -> torch.nn.Module:
        enc = copy.deepcopy(like)
        with torch.no_grad():
            for p, a in zip(enc.parameters(), self.avg, strict=True):
                p.copy_(a)
        return enc


def run(name: str, path: Path, seed: int, budgets: list[int], lr: float, ema: float) -> list[dict]:
    cfg = TimeSeriesConfig()
    seed_everything(seed)
    prep = D.prepare(cfg, path)
    d = prep.data
    x = torch.from_numpy(d.X[prep.train])
    enc = TS2VecEncoder(d.n_channels)
    obj = TS2VecObjective(enc, average=False).train()
    opt = torch.optim.AdamW(enc.parameters(), lr=lr, weight_decay=cfg.engine.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    bs = min(8, len(x))
    means = {"swa_all": _Mean(enc), "ema": _Mean(enc, ema)}
    half: dict[int, _Mean] = {}
    rows, step = [], 0
    while step < max(budgets):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x) - bs + 1, bs):  # drop_last, as TS2Vec
            loss = obj({"x": x[perm[i : i + bs]], "index": perm[i : i + bs]})["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            for m in list(means.values()) + list(half.values()):
                m.update(enc)
            for b in budgets:
                if step == b // 2:
                    half[b] = _Mean(enc)
            if step in budgets:
                variants = {"raw": enc, **{k: m.encoder(enc) for k, m in means.items()},
                            "swa_half": half[step].encoder(enc)}
                for kind, e in variants.items():
                    tr, te = T.embed(e, d.X[prep.train]), T.embed(e, d.X[prep.test])
                    ytr, yte = d.y[prep.train], d.y[prep.test]
                    rows.append({"dataset": name, "seed": seed, "iterations": step, "averaging": kind,
                                 "lr": lr, "test_accuracy": round(linear_probe(tr, ytr, te, yte, seed=seed)["accuracy"], 4),
                                 "train_cv_accuracy": round(train_cv_accuracy(tr, ytr), 4),
                                 "load_avg": round(os.getloadavg()[0], 2), **stamp()})
                    print(rows[-1], flush=True)
                enc.train()
            if step >= max(budgets):
                break
    return rows


def main() -> None:
    import aeon

    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["ArrowHead", "GunPoint", "ItalyPowerDemand"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--budgets", type=int, nargs="+", default=[50, 100, 150, 200, 300])
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.99)
    ap.add_argument("--out", default="timeseries_budget.csv")
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = Path(os.path.dirname(aeon.__file__)) / "datasets" / "data"
    rows: list[dict] = []
    for seed in args.seeds:
        for name in args.datasets:
            rows += run(name, root / name / f"{name}_TRAIN.ts", seed, sorted(args.budgets), args.lr, args.ema)
            write_csv(args.out, rows)
    print(np.mean([r["test_accuracy"] for r in rows]))


if __name__ == "__main__":
    main()
