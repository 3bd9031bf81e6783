"""Per-iteration pre-training speed: public TS2Vec code vs polyclr, interleaved in one process.

Same data (a UCR dataset from aeon), batch 8, 320-d, lr 1e-3, ``--iters`` iterations, one thread;
three timings per repetition, run back to back so they see the same machine load:
``ts2vec_public`` (its ``TS2Vec.fit``), ``polyclr_loop`` (our objective in a plain PyTorch loop),
``polyclr_pipeline`` (the full pre-training path: Lightning, checkpoints, SWA copy, encoder file).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/timeseries_speed.py --reference /path/to/ts2vec
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from polyclr.modalities.timeseries.encoders import TS2VecEncoder
from polyclr.modalities.timeseries.io import load_dataset
from polyclr.modalities.timeseries.objectives import TS2VecObjective
from polyclr.pipelines.timeseries import TimeSeriesConfig
from polyclr.pipelines.timeseries import train as T

try:
    from benchmarks.timeseries_common import stamp, write_csv
except ImportError:
    from timeseries_common import stamp, write_csv


def main() -> None:
    import aeon

    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", type=Path, required=True, help="checkout of yuezhihan/ts2vec")
    ap.add_argument("--extra-path", default=os.environ.get("TS2VEC_EXTRA_PATH", ""))
    ap.add_argument("--dataset", default="GunPoint")
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    sys.path[:0] = [str(args.reference)] + ([args.extra_path] if args.extra_path else [])
    from ts2vec import TS2Vec  # the public code, unmodified

    path = Path(os.path.dirname(aeon.__file__)) / "datasets" / "data" / args.dataset / f"{args.dataset}_TRAIN.ts"
    d = load_dataset(path)
    X = d.X[d.indices("train")]
    n = args.iters

    def public() -> float:
        m = TS2Vec(input_dims=X.shape[1], device="cpu", batch_size=8, lr=0.001, output_dims=320, max_train_length=3000)
        t = time.perf_counter()
        m.fit(X.transpose(0, 2, 1).astype(np.float64), n_iters=n)
        return time.perf_counter() - t

    def loop() -> float:
        obj = TS2VecObjective(TS2VecEncoder(X.shape[1])).train()
        opt = torch.optim.AdamW(obj.parameters(), lr=1e-3)
        xt = torch.from_numpy(X)
        t = time.perf_counter()
        for _ in range(n):
            idx = torch.randperm(len(xt))[:8]
            loss = obj({"x": xt[idx], "index": idx})["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
        return time.perf_counter() - t

    def pipeline() -> float:
        cfg = TimeSeriesConfig()
        cfg.engine.max_steps, cfg.engine.logger = n, "none"
        prep = T.prepare(cfg, path)
        return float(T.pretrain_encoder(cfg, prep, Path(tempfile.mkdtemp()))["pretrain_seconds"])

    rows = []
    for rep in range(args.reps):
        for impl, fn in (("ts2vec_public_b0088e1", public), ("polyclr_loop", loop), ("polyclr_pipeline", pipeline)):
            s = fn()
            rows.append({"dataset": args.dataset, "rep": rep, "implementation": impl, "iterations": n,
                         "seconds": round(s, 3), "ms_per_iteration": round(1000 * s / n, 1), **stamp()})
            print(rows[-1], flush=True)
    write_csv("timeseries_speed.csv", rows)


if __name__ == "__main__":
    main()
