"""TS2Vec objective on UCR datasets shipped with aeon: linear-probe accuracy vs the TS2Vec paper,
pre-training wall time and peak memory; optionally the public TS2Vec code on the same machine.

Protocol (as TS2Vec): the archive's TRAIN/TEST split, 200 iterations, batch 8, lr 1e-3, 320-d
representations, max-pooled full-series embeddings; probes fitted on TRAIN, scored on TEST:
``linear_probe`` (polyclr.evaluation, logistic regression) and ``svm_rbf`` (TS2Vec's protocol:
RBF SVM, C by 5-fold CV on TRAIN).

    .venv/bin/python benchmarks/timeseries_ucr.py [--reference /path/to/ts2vec] [--threads 1]

Both sides run at ``--threads`` (polyclr: torch.set_num_threads in this process; the public code:
its init_dl_program(max_threads=...) and OMP/MKL_NUM_THREADS in its subprocess); each row records
its thread count.

``--reference`` runs the public TS2Vec code (github.com/yuezhihan/ts2vec, unmodified; its
``TS2Vec`` class with train.py's defaults and its own SVM evaluation) beside ours, alternating runs so both see the same machine load.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from polyclr.evaluation import linear_probe

try:
    from benchmarks.timeseries_common import pretrain_and_embed, stamp, write_csv
except ImportError:
    from timeseries_common import pretrain_and_embed, stamp, write_csv

PAPER = {"GunPoint": "0.987", "ItalyPowerDemand": "0.925-0.960", "ArrowHead": "0.817"}


def svm_probe(tr_x, tr_y, te_x, te_y) -> float:
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    grid = {"C": [1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000, 1e4]}
    counts = np.bincount(tr_y)
    model = GridSearchCV(SVC(kernel="rbf", gamma="scale"), grid, cv=min(5, int(counts[counts > 0].min())))
    model.fit(tr_x, tr_y)
    return float((model.predict(te_x) == te_y).mean())


def train_cv_accuracy(tr_x, tr_y) -> float:
    """Model-selection score that never sees TEST: mean accuracy of the standardised
    logistic-regression probe under 3× repeated stratified 5-fold CV on the TRAIN embeddings."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import RepeatedStratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    k = int(min(5, np.bincount(tr_y)[np.bincount(tr_y) > 0].min()))
    cv = RepeatedStratifiedKFold(n_splits=k, n_repeats=3, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(cross_val_score(model, tr_x, tr_y, cv=cv).mean())


def ours(path: Path, seed: int, steps: int | None = None, lr: float | None = None) -> dict:
    prep, pre, tr, te = pretrain_and_embed(path, seed, steps, lr, prefix="polyclr_ucr_")
    d = prep.data
    lp = linear_probe(tr, d.y[prep.train], te, d.y[prep.test], seed=seed)
    return {"implementation": "polyclr", "lr": pre["lr"], "pretrain_seconds": pre["pretrain_seconds"],
            "pretrain_steps": pre["pretrain_steps"], "peak_rss_mb": pre["peak_rss_mb"],
            "linear_probe_accuracy": lp["accuracy"], "linear_probe_macro_f1": lp["macro_f1"],
            "svm_rbf_accuracy": svm_probe(tr, d.y[prep.train], te, d.y[prep.test]),
            "train_cv_accuracy": train_cv_accuracy(tr, d.y[prep.train]), "load_avg": os.getloadavg()[0]}


def reference(repo: Path, name: str, ts_path: Path, seed: int, threads: int = 1) -> dict:
    """Run the public TS2Vec code (unmodified) on the same data; parse its printed results."""
    from polyclr.modalities.timeseries.io import load_dataset

    d = load_dataset(ts_path)
    ucr = repo / "datasets" / "UCR" / name
    ucr.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        ix = d.indices(split)
        table = np.concatenate([np.array(d.classes, dtype=float)[d.y[ix]][:, None], d.X[ix, 0]], axis=1)
        np.savetxt(ucr / f"{name}_{split.upper()}.tsv", table, delimiter="\t")
    # The public train.py asserts CUDA for its --gpu argument, so on a CPU machine its Python API
    # is driven instead, with train.py's defaults (batch 8, lr 1e-3, 320-d, max_train_length 3000,
    # 200 iterations for small data) and its own SVM evaluation. Its code is used unmodified.
    driver = (
        "import sys, time, torch, datautils, tasks\n"
        "from ts2vec import TS2Vec\n"
        "from utils import init_dl_program\n"
        f"init_dl_program('cpu', seed={seed}, max_threads={int(threads)})\n"
        f"tr, trl, te, tel = datautils.load_UCR('{name}')\n"
        "m = TS2Vec(input_dims=tr.shape[-1], device='cpu', batch_size=8, lr=0.001, output_dims=320,"
        " max_train_length=3000)\n"
        "t = time.time(); m.fit(tr, verbose=False); t = time.time() - t\n"
        "_, res = tasks.eval_classification(m, tr, trl, te, tel, eval_protocol='svm')\n"
        "print('TRAIN_SECONDS', t); print('ACC', res['acc'])\n"
    )
    cmd = [sys.executable, "-c", driver]
    t0 = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if os.environ.get("TS2VEC_EXTRA_PATH"):  # e.g. a --target dir holding 'bottleneck' for it
        env["PYTHONPATH"] = os.environ["TS2VEC_EXTRA_PATH"]
    res = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=3600, env=env)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-2000:])
    train_s = float(re.search(r"TRAIN_SECONDS ([\d.]+)", res.stdout).group(1))
    acc = re.search(r"ACC ([\d.]+)", res.stdout)
    return {"implementation": "ts2vec_public_b0088e1", "pretrain_seconds": round(train_s, 3),
            "pretrain_steps": 200, "svm_rbf_accuracy": float(acc.group(1)) if acc else float("nan"),
            "process_seconds": round(wall, 1), "peak_rss_mb": float("nan")}


def main() -> None:
    import aeon

    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=list(PAPER))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=None, help="default: the pipeline's budget (TS2Vec's rule unless engine.max_steps is set)")
    ap.add_argument("--lr", type=float, default=None, help="default: the pipeline's engine.lr")
    ap.add_argument("--reference", type=Path, default=None, help="checkout of yuezhihan/ts2vec")
    ap.add_argument("--reference-seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--out", default="timeseries_ucr.csv")
    ap.add_argument("--threads", type=int, default=1, help="threads of both implementations")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    root = Path(os.path.dirname(aeon.__file__)) / "datasets" / "data"
    rows = []
    for seed in args.seeds:  # seed-major, so a partial run already covers every dataset
        for name in args.datasets:
            path = root / name / f"{name}_TRAIN.ts"
            runs = [ours(path, seed, args.steps, args.lr)]
            if args.reference is not None and seed in args.reference_seeds:
                runs.append(reference(args.reference, name, path, seed, args.threads))
            for r in runs:
                rows.append({"dataset": name, "seed": seed, "paper_accuracy": PAPER.get(name, ""), **r,
                             **stamp(), "threads": args.threads})  # the run's threads, not stamp()'s
                print(rows[-1], flush=True)
            write_csv(args.out, rows)


if __name__ == "__main__":
    main()
