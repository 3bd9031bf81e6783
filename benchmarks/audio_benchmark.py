"""Audio–text benchmarks: held-out quality per objective and seed; front-end and training speed.

Quality (``benchmarks/results/audio_quality.csv``): for each seed, train the objectives
(default ``clip``, ``cwcl``, ``cwcl+order``) on the training split of the reference set
(``scripts/make_audio_reference.py``; the pure-numpy set when it is absent), evaluate on the
held-out split, and add an untrained ``random_init`` row. The split is fixed
(``data.split_seed``); seeds vary initialisation, data order and crops. The text tower variant
(``--text-head mlp|locked``, ``--order-head``) and ``--cwcl-power`` (1 = the CWCL paper's
weights) are columns of every row. Rows are appended after every run.

Speed (``benchmarks/results/audio_speed.csv``, ``--speed-only``, about 1 minute): the log-mel
front end (torchaudio MelSpectrogram + AmplitudeToDB, batched) in × real time on 1 and 2
threads, (a) on a 16 × 10 s batch and (b) over every file of ``--data`` cut into batches of
fixed-length windows (decoded beforehand); decoding + 44.1→16 kHz resampling + log-mel of a
60 s stereo file; and training clips/s and peak RSS of a short ``cwcl+order`` run
(``--train-steps``, ``--train-threads``; the first epoch includes decoding every file once).
Every row records ``os.getloadavg()[0]`` (``load_avg``): the machine may be
shared.

Usage:
    python benchmarks/audio_benchmark.py --data DIR --speed-only
    python benchmarks/audio_benchmark.py --data DIR --skip-speed --seeds 0 1 2 --epochs 30 \\
        --text-head locked
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polyclr.rundir import git_commit, machine_description

RESULTS = Path(__file__).parent / "results"
QUALITY_COLS = [
    "date", "commit", "machine", "dataset", "seed", "objective", "text_head", "order_head",
    "cwcl_power", "cwcl_center", "split", "zero_swapped_weights", "epochs", "steps", "zero_shot_accuracy", "zero_shot_chance", "t2a_R@1", "t2a_R@5",
    "t2a_R@10", "t2a_mAP@10", "a2t_R@1", "a2t_R@5", "a2t_R@10", "order_text", "order_audio",
    "order_group", "order_pairs", "linear_probe_accuracy", "longform_fusion_R@1",
    "longform_mean_R@1", "logit_scale", "train_seconds", "train_clips_per_s", "peak_rss_mb",
    "batch_size", "clip_seconds", "threads", "load_avg",
]
SPEED_COLS = ["date", "commit", "machine", "threads", "measure", "value", "unit", "audio_seconds",
              "load_avg"]


def _append(path: Path, cols: list[str], row: dict[str, Any]) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.is_file()
    if not new:  # an older file with other columns: rewrite it under the current header
        with open(path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
        if header != cols:
            with open(path, newline="", encoding="utf-8") as fh:
                old = list(csv.DictReader(fh))
            with open(path, "w", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, fieldnames=cols)
                w.writeheader()
                w.writerows({c: r.get(c, "") for c in cols} for r in old)
    with open(path, "a", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        if new:
            w.writeheader()
        w.writerow({c: row.get(c, "") for c in cols})


def _stamp() -> dict[str, Any]:
    return {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "commit": git_commit() or "",
            "machine": machine_description(), "load_avg": round(os.getloadavg()[0], 2)}


def _rate(fn: Any, audio_seconds: float, repeats: int) -> float:
    """Median × real time of ``fn()`` over ``repeats`` timed calls (after one warm-up call)."""
    with torch.no_grad():
        fn()
        t = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
    return audio_seconds / float(np.median(t))


def _speed_row(measure: str, value: float, threads: int, audio_s: float, unit: str = "x real time") -> None:
    row = {**_stamp(), "threads": threads, "measure": measure, "value": value, "unit": unit,
           "audio_seconds": round(audio_s, 1)}
    print({k: row[k] for k in ("measure", "threads", "value", "load_avg")}, flush=True)
    _append(RESULTS / "audio_speed.csv", SPEED_COLS, row)


def frontend_speed(data: Path, threads_list: list[int], batch_windows: int = 64, repeats: int = 5) -> None:
    """Log-mel throughput on a random batch and on the reference set (decoded beforehand)."""
    import soundfile as sf

    from polyclr.modalities.audio.features import FrontEndConfig, LogMel, eval_crops
    from polyclr.modalities.audio.io import load_mono
    from polyclr.pipelines.audio.data import prepare

    cfg = FrontEndConfig()
    mel = LogMel(cfg)
    sr = cfg.sample_rate
    rand = torch.randn(16, 10 * sr) * 0.1
    # reference set: every file cut into 2 s windows (deterministic crops, short files repeat-padded)
    items = prepare(data).items
    win = 2 * sr
    windows = np.concatenate([eval_crops(load_mono(it.path, sr), win, max(1, int(it.seconds // 2)))
                              for it in items])
    batches = [torch.from_numpy(np.ascontiguousarray(windows[s : s + batch_windows]))
               for s in range(0, len(windows), batch_windows)]
    ref_seconds = len(windows) * 2.0
    for th in threads_list:
        torch.set_num_threads(th)
        _speed_row("logmel_random_16x10s", _rate(lambda: mel(rand), 160.0, repeats), th, 160.0)
        _speed_row("logmel_reference_set", _rate(lambda: [mel(b) for b in batches], ref_seconds, 3),
                   th, ref_seconds)
    torch.set_num_threads(max(threads_list))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "stereo44k.wav"
        noise = np.random.default_rng(0).standard_normal((44100 * 60, 2)).astype(np.float32) * 0.1
        sf.write(path, noise, 44100)
        _speed_row("decode_resample44k_logmel_60s",
                   _rate(lambda: mel(torch.from_numpy(load_mono(path, sr))[None]), 60.0, 3),
                   max(threads_list), 60.0)


def _config(epochs: int, batch_size: int, clip_seconds: float, text_head: str, order_head: bool,
            cwcl_power: float | None, text_tower: str = "frozen", zero_swapped: bool = True,
            cwcl_center: bool = False) -> Any:
    from polyclr.pipelines.audio.config import AudioConfig

    cfg = AudioConfig()
    cfg.engine.max_epochs = epochs
    cfg.engine.batch_size = batch_size
    cfg.engine.logger = "none"
    cfg.data.clip_seconds = clip_seconds
    cfg.model.text_tower = text_tower
    cfg.model.text_head = text_head
    cfg.model.text_order_head = order_head
    if cwcl_power is not None:
        cfg.objective.cwcl_power = cwcl_power
    cfg.objective.zero_swapped_weights = zero_swapped
    cfg.objective.cwcl_center = cwcl_center
    return cfg


def train_speed(data: Path, threads: int, steps: int, args: argparse.Namespace) -> None:
    """Training clips/s (every encoded clip, incl. order-swapped ones) and peak RSS."""
    from polyclr.pipelines.audio import PIPELINE
    from polyclr.pipelines.audio.train import train_objective

    torch.set_num_threads(threads)
    cfg = _config(1, args.batch_size, args.clip_seconds, args.text_head, args.order_head, args.cwcl_power)
    cfg.engine.max_steps = steps
    prep = PIPELINE._prepare(cfg, data, None)
    _, _, st = train_objective(cfg, "cwcl+order", prep.subset("train"), None, PIPELINE.cache)
    _speed_row("train_clips_per_s_cwcl+order", st["clips_per_second"], threads, 0.0, "clips/s")
    _speed_row("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, threads,
               0.0, "MB")


def validation_split(prep: Any, seed: int) -> Any:
    """Carve validation groups (a quarter of the training ``patient_id`` groups) out of the
    training split and score on them instead of the test split, which is left untouched."""
    import dataclasses

    from polyclr.splits import assert_group_disjoint, group_split

    train = prep.split["train"]
    groups = [prep.items[i].group for i in train]
    idx = group_split(groups, [prep.items[i].label or "_" for i in train], test_size=0.25, seed=seed + 1,
                      source="audio-validation")
    split = {"train": train[idx["train"]], "test": train[idx["test"]]}
    assert_group_disjoint({k: [prep.items[i].group for i in v] for k, v in split.items()}, "audio-validation")
    return dataclasses.replace(prep, split=split)


def quality(data: Path, args: argparse.Namespace) -> None:
    from polyclr.pipelines.audio import PIPELINE
    from polyclr.pipelines.audio.evaluate import evaluate_models
    from polyclr.pipelines.audio.train import build_models, train_objective

    cfg = _config(args.epochs, args.batch_size, args.clip_seconds, args.text_head, args.order_head,
                  args.cwcl_power, args.text_tower, not args.keep_swapped_weights, args.cwcl_center)
    prep = PIPELINE._prepare(cfg, data, None)
    if args.validation:
        prep = validation_split(prep, cfg.data.split_seed)
    runs = [*args.objectives, *([] if args.no_random_init else ["random_init"])]
    for seed in args.seeds:
        for name in runs:
            if name == "random_init":
                torch.manual_seed(seed)
                enc, text = build_models(cfg, PIPELINE.cache, [])
                enc.eval()
                stats: dict[str, Any] = {}
            else:
                enc, text, stats = train_objective(cfg, name, prep.subset("train"), None, PIPELINE.cache,
                                                   seed=seed)
            r = evaluate_models(cfg, enc, text, prep)
            lf = r.get("long_form", {})
            row = {
                **_stamp(), "dataset": data.name, "seed": seed, "objective": name,
                "text_head": args.text_head if args.text_tower == "frozen" else "small",
                "order_head": args.order_head,
                "cwcl_power": cfg.objective.cwcl_power if "cwcl" in name else "",
                "cwcl_center": cfg.objective.cwcl_center if "cwcl" in name else "",
                "split": "validation" if args.validation else "test",
                "zero_swapped_weights": (cfg.objective.zero_swapped_weights
                                         if name == "cwcl+order" else ""),
                "epochs": stats.get("epochs", 0), "steps": stats.get("steps", 0),
                "zero_shot_accuracy": r["zero_shot"]["accuracy"], "zero_shot_chance": r["zero_shot"]["chance"],
                **{f"t2a_{k}": r["retrieval"]["t2a"][k] for k in ("R@1", "R@5", "R@10", "mAP@10")},
                **{f"a2t_{k}": r["retrieval"]["a2t"][k] for k in ("R@1", "R@5", "R@10")},
                "order_text": r["order"]["text_score"], "order_audio": r["order"]["audio_score"],
                "order_group": r["order"]["group_score"], "order_pairs": r["order"]["n_pairs"],
                "linear_probe_accuracy": r.get("linear_probe", {}).get("accuracy", ""),
                "longform_fusion_R@1": lf.get("attention_fusion", {}).get("R@1", ""),
                "longform_mean_R@1": lf.get("mean_pool", {}).get("R@1", ""),
                "logit_scale": stats.get("logit_scale", ""),
                "train_seconds": stats.get("train_seconds", ""),
                "train_clips_per_s": stats.get("clips_per_second", ""),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                "batch_size": args.batch_size, "clip_seconds": args.clip_seconds,
                "threads": torch.get_num_threads(),
            }
            print({k: row[k] for k in ("seed", "objective", "text_head", "order_head", "cwcl_power",
                                       "zero_shot_accuracy", "t2a_R@1", "order_group", "load_avg")},
                  flush=True)
            _append(RESULTS / ("audio_validation.csv" if args.validation else "audio_quality.csv"),
                    QUALITY_COLS, row)


def main() -> None:
    from polyclr.pipelines.audio import PIPELINE

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="dataset folder (default: demo_data())")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--clip-seconds", type=float, default=1.5)
    ap.add_argument("--objectives", nargs="+", default=["clip", "cwcl", "cwcl+order"])
    ap.add_argument("--threads", type=int, default=1, help="threads of the quality runs")
    ap.add_argument("--speed-threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--train-steps", type=int, default=80, help="steps of the training-speed run")
    ap.add_argument("--train-threads", type=int, default=1, help="threads of the training-speed run")
    ap.add_argument("--no-random-init", action="store_true")
    ap.add_argument("--text-tower", default="frozen", choices=["frozen", "small"])
    ap.add_argument("--text-head", default="locked", choices=["mlp", "locked"])
    ap.add_argument("--no-order-head", dest="order_head", action="store_false",
                    help="model.text_order_head=false")
    ap.add_argument("--cwcl-power", type=float, default=None, help="objective.cwcl_power (default: config)")
    ap.add_argument("--cwcl-center", action="store_true", help="objective.cwcl_center=true")
    ap.add_argument("--validation", action="store_true",
                    help="score on validation groups carved from the training split "
                         "(results/audio_validation.csv); the test split is not used")
    ap.add_argument("--keep-swapped-weights", action="store_true",
                    help="objective.zero_swapped_weights=false (paper weights also for swapped captions)")
    ap.add_argument("--speed-only", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    data = args.data or PIPELINE.demo_data()
    if not args.skip_speed:
        frontend_speed(data, args.speed_threads)
        train_speed(data, args.train_threads, args.train_steps, args)
    if not args.speed_only:
        torch.set_num_threads(args.threads)
        quality(data, args)


if __name__ == "__main__":
    main()
