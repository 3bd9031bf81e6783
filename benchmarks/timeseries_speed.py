"""Time to accuracy: the public TS2Vec code vs the polyclr pipeline, side by side in one process.

For each repetition and data set (UCR, shipped with aeon), run back to back with the same thread
count so both see the same machine load:

- ``ts2vec_public`` at each budget of ``--public-iters`` (its default is 200 iterations): its
  ``TS2Vec.fit`` (unmodified code, train.py's settings: batch 8, lr 1e-3, 320-d), then its
  ``encode(..., encoding_window="full_series")`` embeddings;
- ``polyclr`` at each budget of ``--ours-iters`` (default: the pipeline's budget rule): the full
  pre-training path (``pretrain_encoder``: Lightning, checkpoints, weight average, encoder file).

Both are scored with the same probes on the archive's TEST split (fitted on TRAIN only): the
standardised logistic-regression linear probe (``polyclr.evaluation.linear_probe``) and the RBF
SVM of the TS2Vec protocol. ``seconds`` is the training call alone (no data loading, no
evaluation). Rows carry ``load_avg`` (1-minute load average when the row finished).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/timeseries_speed.py --reference /path/to/ts2vec \
        --public-iters 100 200 --ours-iters 100 200
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from polyclr.engine import seed_everything
from polyclr.evaluation import linear_probe
from polyclr.modalities.timeseries.io import load_dataset

try:
    from benchmarks.timeseries_common import pretrain_and_embed, stamp, write_csv
    from benchmarks.timeseries_ucr import svm_probe
except ImportError:
    from timeseries_common import pretrain_and_embed, stamp, write_csv
    from timeseries_ucr import svm_probe


def _scores(tr, te, d) -> dict:
    ytr, yte = d.y[d.indices("train")], d.y[d.indices("test")]
    return {"linear_probe_accuracy": round(linear_probe(tr, ytr, te, yte, seed=0)["accuracy"], 4),
            "svm_rbf_accuracy": round(svm_probe(tr, ytr, te, yte), 4)}


def main() -> None:
    import aeon

    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", type=Path, required=True, help="checkout of yuezhihan/ts2vec")
    ap.add_argument("--extra-path", default=os.environ.get("TS2VEC_EXTRA_PATH", ""))
    ap.add_argument("--datasets", nargs="+", default=["ItalyPowerDemand", "GunPoint"])
    ap.add_argument("--public-iters", type=int, nargs="+", default=[200])
    ap.add_argument("--ours-iters", type=int, nargs="+", default=[None],
                    help="default: the pipeline's budget (TS2Vec's rule unless engine.max_steps is set)")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="timeseries_speed.csv")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sys.path[:0] = [str(args.reference)] + ([args.extra_path] if args.extra_path else [])
    from ts2vec import TS2Vec  # the public code, unmodified

    root = Path(os.path.dirname(aeon.__file__)) / "datasets" / "data"
    rows = []

    def record(name: str, rep: int, impl: str, iters: int, seconds: float, scores: dict) -> None:
        rows.append({"dataset": name, "rep": rep, "implementation": impl, "iterations": iters,
                     "threads": args.threads, "seconds": round(seconds, 3),
                     "ms_per_iteration": round(1000 * seconds / iters, 1), **scores,
                     "load_avg": round(os.getloadavg()[0], 2), **stamp()})
        print(rows[-1], flush=True)
        write_csv(args.out, rows)

    for rep in range(args.reps):
        for name in args.datasets:
            path = root / name / f"{name}_TRAIN.ts"
            d = load_dataset(path)
            xtr = d.X[d.indices("train")].transpose(0, 2, 1).astype(np.float64)
            xte = d.X[d.indices("test")].transpose(0, 2, 1).astype(np.float64)
            for iters in args.public_iters:
                seed_everything(rep)
                m = TS2Vec(input_dims=xtr.shape[-1], device="cpu", batch_size=8, lr=0.001,
                           output_dims=320, max_train_length=3000)
                t0 = time.perf_counter()
                m.fit(xtr, n_iters=iters)
                seconds = time.perf_counter() - t0
                tr, te = (m.encode(x, encoding_window="full_series") for x in (xtr, xte))
                record(name, rep, "ts2vec_public_b0088e1", iters, seconds, _scores(tr, te, d))

            for iters in args.ours_iters:
                prep, pre, tr, te = pretrain_and_embed(path, rep, iters, prefix="polyclr_speed_")
                record(name, rep, "polyclr_pipeline", pre["pretrain_steps"], pre["pretrain_seconds"],
                       _scores(tr, te, prep.data))


if __name__ == "__main__":
    main()
