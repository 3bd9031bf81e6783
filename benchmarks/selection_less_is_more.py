""""Less is more" on the time-series pipeline: pre-train on all training series vs on the
dHash-reduced set vs keep-every-N at (about) the same count; linear-probe accuracy on the test
split and pre-training time, for several seeds.

The volume pipeline (the experiment's original setting) does not accept a ``selection:`` method
in this version, so this runs the same comparison through the time-series pipeline's Python API
(``prepare`` / ``pretrain_encoder`` / ``embed``), where ``selection:`` is applied to the training
items before pre-training. Epoch-based training (same number of epochs for every condition), so
fewer items means fewer steps. Writes benchmarks/results/selection_less_is_more.csv.

    .venv/bin/python benchmarks/selection_less_is_more.py [--seeds 0 1 2] [--epochs 20]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import tempfile
from pathlib import Path

import numpy as np

from polyclr.rundir import git_commit, machine_description, thread_count, write_csv
from polyclr.selection import SelectionConfig

OUT = Path(__file__).parent / "results" / "selection_less_is_more.csv"


def run_one(data: Path, selection: SelectionConfig, seed: int, epochs: int) -> dict:
    from polyclr.engine import seed_everything
    from polyclr.engine.checkpoint import load_encoder
    from polyclr.evaluation import linear_probe
    from polyclr.pipelines import get_pipeline
    from polyclr.pipelines.timeseries import data as D
    from polyclr.pipelines.timeseries import train as T

    pipe = get_pipeline("timeseries")
    cfg = pipe.demo_config()
    cfg.engine.max_steps = -1
    cfg.engine.max_epochs = epochs
    cfg.engine.seed = seed
    cfg.selection = selection
    seed_everything(seed)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        prep = D.prepare(cfg, data, out)
        pre = T.pretrain_encoder(cfg, prep, out)
        spec = T.encoder_spec(cfg, prep.data)
        enc = T.make_encoder(spec)
        enc.load_state_dict(load_encoder(out / "encoder.safetensors")[0])
    print(f"  pre-trained on {pre['pretrain_samples']} items in {pre['pretrain_seconds']:.1f} s",
          flush=True)
    d = prep.data
    probe = linear_probe(T.embed(enc, d.X[prep.train]), d.y[prep.train],
                         T.embed(enc, d.X[prep.test]), d.y[prep.test], seed=seed)
    return {"n_train": int(len(prep.train)), "n_pretrain_items": pre["pretrain_samples"],
            "pretrain_steps": pre["pretrain_steps"], "pretrain_seconds": pre["pretrain_seconds"],
            "test_accuracy": round(float(probe.get("accuracy", np.nan)), 4),
            "test_macro_f1": round(float(probe.get("macro_f1", np.nan)), 4)}


def main() -> None:
    import aeon

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(aeon.__file__).parent / "datasets" / "data"
                    / "GunPoint" / "GunPoint_TRAIN.ts")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threshold", type=float, default=6)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--merge", type=Path, nargs="*", default=[],
                    help="only merge these CSVs (e.g. runs of single seeds) into --out")
    args = ap.parse_args()
    if args.merge:
        rows = [r for p in args.merge for r in csv.DictReader(p.open())]
        with open(args.out, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        print(f"wrote {args.out}")
        return
    import torch

    torch.set_num_threads(args.threads)
    common = {"machine": machine_description(), "threads": thread_count(), "commit": git_commit(),
              "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"), "dataset": args.data.name,
              "epochs": args.epochs}
    rows = []
    for seed in args.seeds:
        all_ = run_one(args.data, SelectionConfig(), seed, args.epochs)
        dh = run_one(args.data, SelectionConfig("dhash", args.threshold, None, "global"), seed, args.epochs)
        n = max(1, round(all_["n_pretrain_items"] / max(1, dh["n_pretrain_items"])))
        ev = run_one(args.data, SelectionConfig("every_n", None, n, "global"), seed, args.epochs)
        for name, r in (("all items", all_), (f"dhash <= {args.threshold:g} (global)", dh),
                        (f"every_n, N={n} (global)", ev)):
            rows.append({**common, "condition": name, "seed": seed, **r})
            print(f"seed {seed} {name:28s} items {r['n_pretrain_items']:4d} steps {r['pretrain_steps']:4d} "
                  f"{r['pretrain_seconds']:7.1f} s  acc {r['test_accuracy']:.3f}", flush=True)
    write_csv(args.out, rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
