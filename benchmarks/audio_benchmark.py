"""Audio–text benchmarks: held-out quality per objective and seed, front-end and training speed.

Quality (``benchmarks/results/audio_quality.csv``): for each seed, train ``clip``, ``cwcl`` and
``cwcl+order`` on the training split of the reference set (``scripts/make_audio_reference.py``;
the pure-numpy set when it is absent) and evaluate on the held-out split, plus an untrained
``random_init`` row. The split is fixed (``data.split_seed``); seeds vary initialisation, data
order and crops. Rows are appended after every run, so a partial run keeps its results.

Speed (``benchmarks/results/audio_speed.csv``): log-mel front end (torchaudio MelSpectrogram +
AmplitudeToDB) in × real time on ``--threads`` threads, the same with decoding + 44.1→16 kHz
resampling, and training clips/s and peak RSS of each quality run.

Usage:
    python benchmarks/audio_benchmark.py [--data DIR] [--seeds 0 1 2] [--epochs 15] [--speed-only]
"""

from __future__ import annotations

import argparse
import csv
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
    "date", "commit", "machine", "dataset", "seed", "objective", "epochs", "zero_shot_accuracy",
    "zero_shot_chance", "t2a_R@1", "t2a_R@5", "t2a_R@10", "t2a_mAP@10", "a2t_R@1", "a2t_R@5",
    "a2t_R@10", "order_text", "order_audio", "order_group", "order_pairs", "linear_probe_accuracy",
    "longform_fusion_R@1", "longform_mean_R@1", "train_seconds", "train_clips_per_s", "peak_rss_mb", "batch_size", "clip_seconds", "threads",
]


def _append(path: Path, cols: list[str], row: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.is_file()
    with open(path, "a", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        if new:
            w.writeheader()
        w.writerow({c: row.get(c, "") for c in cols})


def _stamp() -> dict[str, str]:
    return {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "commit": git_commit() or "",
            "machine": machine_description()}


def speed(threads: int, seconds: float = 10.0, batch: int = 16, repeats: int = 5) -> None:
    import soundfile as sf

    from polyclr.modalities.audio.features import FrontEndConfig, LogMel
    from polyclr.modalities.audio.io import load_mono

    torch.set_num_threads(threads)
    cfg = FrontEndConfig()
    mel = LogMel(cfg)
    x = torch.randn(batch, int(seconds * cfg.sample_rate)) * 0.1
    with torch.no_grad():
        mel(x)
        t = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            mel(x)
            t.append(time.perf_counter() - t0)
    audio_s = batch * seconds
    rows = [{"measure": "logmel_x_realtime", "value": audio_s / float(np.median(t))}]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "stereo44k.wav"
        sf.write(path, np.random.default_rng(0).standard_normal((int(44100 * 60), 2)).astype(np.float32) * 0.1, 44100)
        t = []
        for _ in range(3):
            t0 = time.perf_counter()
            w = load_mono(path, cfg.sample_rate)
            with torch.no_grad():
                mel(torch.from_numpy(w)[None])
            t.append(time.perf_counter() - t0)
        rows.append({"measure": "decode_resample44k_logmel_x_realtime", "value": 60.0 / float(np.median(t))})
    for r in rows:
        r.update(_stamp(), threads=threads, unit="x real time")
        print(r)
        _append(RESULTS / "audio_speed.csv", ["date", "commit", "machine", "threads", "measure", "value", "unit"], r)


def quality(data: Path, seeds: list[int], epochs: int, objectives: list[str], batch_size: int = 32,
            clip_seconds: float = 2.0, random_init: bool = True, cwcl_power: float | None = None,
            text_tower: str = "frozen") -> None:
    from polyclr.pipelines.audio import PIPELINE, AudioConfig
    from polyclr.pipelines.audio.evaluate import evaluate_models
    from polyclr.pipelines.audio.train import build_models, train_objective

    cfg = AudioConfig()
    cfg.engine.max_epochs = epochs
    cfg.engine.batch_size = batch_size
    cfg.data.clip_seconds = clip_seconds
    if cwcl_power is not None:
        cfg.objective.cwcl_power = cwcl_power
    cfg.model.text_tower = text_tower
    suffix = "" if text_tower == "frozen" else f" ({text_tower} text tower)"
    cfg.engine.logger = "none"
    prep = PIPELINE._prepare(cfg, data, None)
    for seed in seeds:
        for name in [*objectives, *(["random_init"] if random_init else [])]:
            if name == "random_init":
                torch.manual_seed(seed)
                enc, text = build_models(cfg, PIPELINE.cache, [])
                enc.eval()
                stats: dict[str, Any] = {}
            else:
                enc, text, stats = train_objective(cfg, name, prep.subset("train"), None, PIPELINE.cache, seed=seed)
            r = evaluate_models(cfg, enc, text, prep)
            lf = r.get("long_form", {})
            row = {
                **_stamp(), "dataset": data.name, "seed": seed, "objective": name + suffix if "cwcl" not in name or cfg.objective.cwcl_power == 8.0
                else name.replace("cwcl", f"cwcl_gamma{cfg.objective.cwcl_power:g}") + suffix,
                "epochs": stats.get("epochs", 0),
                "zero_shot_accuracy": r["zero_shot"]["accuracy"], "zero_shot_chance": r["zero_shot"]["chance"],
                **{f"t2a_{k}": r["retrieval"]["t2a"][k] for k in ("R@1", "R@5", "R@10", "mAP@10")},
                **{f"a2t_{k}": r["retrieval"]["a2t"][k] for k in ("R@1", "R@5", "R@10")},
                "order_text": r["order"]["text_score"], "order_audio": r["order"]["audio_score"],
                "order_group": r["order"]["group_score"], "order_pairs": r["order"]["n_pairs"],
                "linear_probe_accuracy": r.get("linear_probe", {}).get("accuracy", ""),
                "longform_fusion_R@1": lf.get("attention_fusion", {}).get("R@1", ""),
                "longform_mean_R@1": lf.get("mean_pool", {}).get("R@1", ""),
                "train_seconds": stats.get("train_seconds", ""),
                "train_clips_per_s": stats.get("clips_per_second", ""),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                "batch_size": batch_size, "clip_seconds": clip_seconds, "threads": torch.get_num_threads(),
            }
            print({k: row[k] for k in ("seed", "objective", "zero_shot_accuracy", "t2a_R@1", "order_group",
                                       "linear_probe_accuracy", "train_clips_per_s")}, flush=True)
            _append(RESULTS / "audio_quality.csv", QUALITY_COLS, row)


def main() -> None:
    from polyclr.pipelines.audio import PIPELINE

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="dataset folder (default: demo_data())")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--clip-seconds", type=float, default=2.0)
    ap.add_argument("--objectives", nargs="+", default=["clip", "cwcl", "cwcl+order"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-random-init", action="store_true")
    ap.add_argument("--text-tower", default="frozen", choices=["frozen", "small"])
    ap.add_argument("--cwcl-power", type=float, default=None, help="objective.cwcl_power (default: config)")
    ap.add_argument("--speed-only", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    if not args.skip_speed:
        speed(args.threads)
    if not args.speed_only:
        torch.set_num_threads(args.threads)
        quality(args.data or PIPELINE.demo_data(), args.seeds, args.epochs, args.objectives,
                args.batch_size, args.clip_seconds, not args.no_random_init, args.cwcl_power, args.text_tower)


if __name__ == "__main__":
    main()
