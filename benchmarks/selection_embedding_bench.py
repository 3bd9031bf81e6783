"""Embedding-similarity selection on 100,000 items: wall time on CPU.

Features: 20,000 random unit "centres" in D=128 with 5 noisy near-copies each (cosine to the
centre about 0.99), shuffled, so the right answer is known: about 20,000 kept. Runs
``select_items(..., method="embedding", threshold=0.95)`` with scope ``global`` (faiss
inverted-file index; and scikit-learn NearestNeighbors when faiss is hidden) and scope ``group``
(1,000 groups of 100); the scikit-learn fallback runs on --sklearn-n items. Writes benchmarks/results/selection_embedding.csv.

    .venv/bin/python benchmarks/selection_embedding_bench.py [--n 100000] [--no-sklearn]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np

from polyclr.rundir import git_commit, machine_description, thread_count, write_csv
from polyclr.selection import select_items

OUT = Path(__file__).parent / "results" / "selection_embedding.csv"


def features(n: int, d: int = 128, copies: int = 5, seed: int = 0) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n // copies, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = np.repeat(centres, copies, axis=0) + 0.01 * rng.normal(size=(n, d)).astype(np.float32)
    perm = rng.permutation(n)
    return x[perm], len(centres)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--no-sklearn", action="store_true")
    ap.add_argument("--sklearn-n", type=int, default=20_000,
                    help="items for the scikit-learn fallback run (brute-force kNN)")
    args = ap.parse_args()
    common = {"machine": machine_description(), "threads": thread_count(), "commit": git_commit(),
              "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"), "threshold": 0.95}
    groups = np.repeat(np.arange(args.n // 100), 100)[: args.n]
    runs = [("global", "faiss IVF range search", None, args.n),
            ("group", "dense per group (100 items)", groups, args.n)]
    if not args.no_sklearn:
        runs.append(("global", "scikit-learn NearestNeighbors (k=32)", "sklearn", args.sklearn_n))
    rows = []
    for scope, index, g, n in runs:
        x, n_true = features(n)
        saved = None
        if isinstance(g, str):
            saved = sys.modules.get("faiss")
            sys.modules["faiss"] = None  # hide faiss: scikit-learn fallback
            g = None
        t0 = time.perf_counter()
        res = select_items(x, g, None, "embedding", 0.95, scope=scope)
        sec = time.perf_counter() - t0
        if sys.modules.get("faiss", 0) is None:
            del sys.modules["faiss"]
            if saved is not None:
                sys.modules["faiss"] = saved
        kept = int(res.kept_mask.sum())
        rows.append({**common, "n_items": n, "dim": x.shape[1], "true_distinct": n_true,
                     "scope": scope, "index": index, "seconds": round(sec, 2), "items_kept": kept})
        print(f"{scope:6s} {index:40s} {sec:7.1f} s kept {kept} (true distinct {n_true})")
    write_csv(OUT, rows)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
