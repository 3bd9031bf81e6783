"""Dice by pre-training strategy x labelled volumes on the MNI152-derived reference subjects.

Runs ``polyclr run volume`` (the same code path as the CLI) and writes one CSV row per
(method, labelled volumes, combination, seed) plus a mean ± std summary CSV.

Usage:
    .venv/bin/python benchmarks/volume_label_efficiency.py [--out runs/bench_volume] [--set k=v ...]
    (GPU: add --set engine.precision=16-mixed)

On a busy CPU the fine-tuning can be split over processes, reusing the encoders that a full run
wrote to ``OUT/encoders/``:
    ... --encoders OUT/encoders --methods GR --part    (one process per method; writes a part CSV)
    ... --encoders OUT/encoders --merge                 (classification probe + final CSVs)
"""

from __future__ import annotations

import argparse
import csv
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from polyclr.config import merge, parse_set
from polyclr.modalities.volume.reference import generate_reference
from polyclr.pipelines.volume import VolumeConfig
from polyclr.pipelines.volume.steps import run_all
from polyclr.rundir import git_commit, machine_description, write_json

BENCH_SETTINGS = {
    "data": {"spacing": [4.0, 4.0, 4.0], "slice_size": [48, 48]},
    "net": {"features": [8, 8, 16, 32, 64, 8]},
    "pretrain": {"strategies": ["GR", "GD-", "GD", "GD+LD"], "global_steps": 300, "local_steps": 200,
                 "volumes_per_batch": 4, "num_partitions": 4},
    "finetune": {"labeled_volumes": [1, 2, 8], "combinations": 3, "seeds": [0], "steps": 150,
                 "batch_size": 16},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("runs/bench_volume"))
    ap.add_argument("--subjects", type=int, default=16)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--encoders", type=Path, default=None, help="reuse pre-trained encoders (OUT/encoders)")
    ap.add_argument("--methods", nargs="*", default=None, help="with --encoders: methods to fine-tune")
    ap.add_argument("--part", action="store_true", help="write a part CSV for --methods only")
    ap.add_argument("--merge", action="store_true", help="merge part CSVs, run the classification probe")
    args = ap.parse_args()
    if args.encoders is not None:
        return from_encoders(args)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cfg = merge(merge(VolumeConfig(), BENCH_SETTINGS), parse_set(args.set))
    data = generate_reference(n_subjects=args.subjects, seed=0)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    metrics = run_all(cfg, data, args.out)
    seconds = time.perf_counter() - t0
    write_json(args.out / "metrics.json", metrics)
    stamp = {"machine": machine_description(), "commit": git_commit(),
             "date": datetime.now(UTC).strftime("%Y-%m-%d")}
    _write_csvs(metrics, stamp, seconds)
    print(f"done in {seconds:.0f} s")


FILES = {"GR": "GR", "GD-": "GDminus", "GD": "GD", "GD+LD": "GD_LD"}


def from_encoders(args: argparse.Namespace) -> None:
    """Fine-tune (``--part``) or merge + classify (``--merge``) from saved encoders."""
    from polyclr.engine import load_encoder
    from polyclr.evaluation import mean_std
    from polyclr.pipelines.volume.prepare import num_classes, prepare, split_cases
    from polyclr.pipelines.volume.steps import _class_names, classification_rows, finetune_table

    cfg = merge(merge(VolumeConfig(), BENCH_SETTINGS), parse_set(args.set))
    data = generate_reference(n_subjects=args.subjects, seed=0)
    cases = prepare(cfg, data)
    split = split_cases(cfg, cases, None)
    n_cls = num_classes(cases)
    names = _class_names(data, n_cls)
    methods = args.methods or ["random_init", *cfg.pretrain.strategies]
    inits = {m: (None if m == "random_init" else load_encoder(args.encoders / f"{FILES[m]}.safetensors")[0])
             for m in methods}
    stamp = {"machine": machine_description(), "commit": git_commit(),
             "date": datetime.now(UTC).strftime("%Y-%m-%d")}
    if args.part:
        t0 = time.perf_counter()
        rows = finetune_table(cfg, split, inits, n_cls, names, None)
        for r in rows:
            r["seconds"] = round(time.perf_counter() - t0, 1)
        tag = "_".join(FILES.get(m, m) for m in methods)
        write_json(args.out / f"part_{tag}.json", {"rows": rows, "classes": names,
                                                   "test_volumes": len(split["test"]), **stamp})
        print(f"{tag}: {len(rows)} rows in {time.perf_counter() - t0:.0f} s")
        return
    import json

    rows = []
    for p in sorted(args.out.glob("part_*.json")):
        rows += json.loads(p.read_text())["rows"]
    metrics = {"rows": rows, "summary": mean_std(rows, ["method", "labeled_volumes"], ["dice_mean"]),
               "classes": names, "test_volumes": len(split["test"]),
               "classification": classification_rows(cfg, split, inits, n_cls)}
    write_json(args.out / "metrics.json", metrics)
    _write_csvs(metrics, stamp, float("nan"))


def _write_csvs(metrics: dict, stamp: dict, seconds: float) -> None:
    res = Path(__file__).parent / "results"
    res.mkdir(exist_ok=True)
    classes = metrics["classes"]
    with open(res / "volume_label_efficiency.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["method", "labeled_volumes", "combination", "seed", "train_volumes", "dice_mean",
                    *[f"dice_{c}" for c in classes], "test_volumes", "machine", "commit", "date"])
        for r in metrics["rows"]:
            w.writerow([r["method"], r["labeled_volumes"], r["combination"], r["seed"],
                        " ".join(r["train_volumes"]), f"{r['dice_mean']:.4f}",
                        *[f"{r['dice'][c]:.4f}" for c in classes], metrics["test_volumes"],
                        stamp["machine"], stamp["commit"], stamp["date"]])
    with open(res / "volume_label_efficiency_summary.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["method", "labeled_volumes", "runs", "dice_mean", "dice_std", "wall_seconds",
                    "machine", "commit", "date"])
        for r in metrics["summary"]:
            w.writerow([r["method"], r["labeled_volumes"], r["n"], f"{r['dice_mean_mean']:.4f}",
                        f"{r['dice_mean_std']:.4f}", round(seconds, 1), stamp["machine"],
                        stamp["commit"], stamp["date"]])
    if metrics.get("classification"):
        with open(res / "volume_classification.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["method", "auroc", "accuracy", "train_volumes", "test_volumes", "machine",
                        "commit", "date"])
            for r in metrics["classification"]:
                w.writerow([r["method"], f"{r['auroc']:.4f}", f"{r['accuracy']:.4f}",
                            r["train_volumes"], r["test_volumes"], stamp["machine"],
                            stamp["commit"], stamp["date"]])
    for r in metrics["summary"]:
        print(f"{r['method']:<12} K={r['labeled_volumes']}: {r['dice_mean_mean']:.3f} ± {r['dice_mean_std']:.3f}")


if __name__ == "__main__":
    main()
