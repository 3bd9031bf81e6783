"""Label efficiency on the simulated multi-patient ECG dataset (patient-independent test split).

For each objective: pre-train on the training patients, then linear probe / fine-tune the
pre-trained encoder / fine-tune a randomly initialised encoder / a supervised tsai baseline at
label fractions 1 %, 10 %, 100 % (seeds 0, 1, 2); metrics on the held-out test patients.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/timeseries_ecg.py [--objectives ts2vec comet]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from polyclr.engine import load_encoder, seed_everything
from polyclr.modalities.timeseries.simulator import write_ecg_npz
from polyclr.pipelines.timeseries import PIPELINE
from polyclr.pipelines.timeseries import data as D
from polyclr.pipelines.timeseries import train as T
from polyclr.pipelines.timeseries.config import TimeSeriesConfig

try:
    from benchmarks.timeseries_common import stamp, write_csv
except ImportError:  # run as a script
    from timeseries_common import stamp, write_csv


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objectives", nargs="+", default=["ts2vec", "comet"])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--finetune-steps", type=int, default=60)
    ap.add_argument("--depth", type=int, default=6, help="TS2Vec encoder depth (10 in the paper)")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--dims", type=int, default=128)
    ap.add_argument("--no-baselines", action="store_true", help="skip random-init / supervised rows")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    ap.add_argument("--supervised", action="store_true", help="add the supervised tsai baseline")
    ap.add_argument("--only-supervised", action="store_true", help="only the supervised baseline rows")
    ap.add_argument("--out", default="timeseries_ecg.csv", help="file name under benchmarks/results/")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="polyclr_ecg_"))
    data = write_ecg_npz(work / "ecg.npz", seed=0)
    rows = []
    for i, objective in enumerate(args.objectives):
        cfg = TimeSeriesConfig()
        cfg.engine.max_steps, cfg.engine.logger = args.steps, "none"
        cfg.engine.batch_size = 16 if objective == "comet" else 8
        cfg.objective.name = objective
        cfg.downstream.seeds, cfg.downstream.label_fractions = args.seeds, args.fractions
        cfg.downstream.finetune_steps = args.finetune_steps
        cfg.encoder.depth, cfg.encoder.hidden_dims, cfg.encoder.output_dims = args.depth, args.hidden, args.dims
        baselines = i == 0 and not args.no_baselines
        cfg.downstream.methods = ["linear_probe", "pretrained"] + (["random_init"] if baselines else []) + (
            ["supervised"] if baselines and args.supervised else [])
        seed_everything(0)
        out = work / objective
        out.mkdir()
        prep = D.prepare(cfg, data, out)
        spec = T.encoder_spec(cfg, prep.data)
        enc = T.make_encoder(spec)
        if args.only_supervised:  # no pre-training needed for the supervised baseline
            cfg.downstream.methods = ["supervised"]
            pre = {"pretrain_steps": 0, "pretrain_seconds": 0.0, "peak_rss_mb": float("nan")}
        else:
            pre = T.pretrain_encoder(cfg, prep, out)
            enc.load_state_dict(load_encoder(out / "encoder.safetensors")[0])
        t0 = time.perf_counter()
        for r in PIPELINE.label_efficiency(cfg, prep, enc, spec):
            name = r["method"] if r["method"] in ("random_init", "supervised") else f"{objective}:{r['method']}"
            rows.append({"dataset": "ecg_simulator", **r, "method": name, "objective": objective,
                         "pretrain_steps": pre["pretrain_steps"], "pretrain_seconds": pre["pretrain_seconds"],
                         "peak_rss_mb": pre["peak_rss_mb"], "encoder_depth": args.depth,
                         "encoder_hidden": args.hidden, "encoder_dims": args.dims, "n_train": len(prep.train), "n_test": len(prep.test),
                         **stamp()})
        print(objective, "pretrain", pre["pretrain_seconds"], "s; downstream", round(time.perf_counter() - t0, 1), "s",
              flush=True)
        write_csv(Path(args.out).name, rows)


if __name__ == "__main__":
    main()
