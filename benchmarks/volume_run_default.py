"""`polyclr run volume --data ../shared/data/msd_hippocampus` with no settings: wall time, CPU
time (user + sys), peak RSS and the load average while it ran, plus the run's own rows.

The command runs under ``/usr/bin/time -v`` (its counters include every child process) while the
load average is sampled once a minute, so a time measured on a shared CPU can be read against
the load it ran under. Writes ``results/volume_run_hippocampus.csv`` (one row: machine, commit,
date, threads, load, wall, CPU, RSS) and ``results/volume_run_hippocampus_rows.csv`` (the run's
Dice / HD95 rows, one per method x K x combination x seed).

Usage:
    python benchmarks/volume_run_default.py [--data DIR] [--dir RUN_DIR] [--threads N]
    python benchmarks/volume_run_default.py --record RUN_DIR   # a run started as below, finished
RUN_DIR holds ``time.txt`` (``/usr/bin/time -v``), ``load.log`` (``uptime`` lines), ``commit``,
``threads`` and the run's ``out/``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

RES = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
TAG = "_hippocampus"


def launch(data: Path, run_dir: Path, threads: int | None, modality: str = "volume") -> None:
    """Run ``polyclr run MODALITY`` with no settings in ``run_dir/out`` under ``/usr/bin/time -v``,
    sampling the load."""
    from polyclr.rundir import git_commit

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "commit").write_text(git_commit() + "\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    (run_dir / "threads").write_text(f"{threads or os.cpu_count()}\n")
    cmd = ["/usr/bin/time", "-v", "-o", str(run_dir / "time.txt"), sys.executable, "-m", "polyclr.cli",
           "run", modality, "--data", str(data), "--out", str(run_dir / "out"), "--quiet"]
    proc = subprocess.Popen(cmd, env=env)
    with open(run_dir / "load.log", "a") as log:
        while proc.poll() is None:
            log.write(f"{datetime.now(UTC):%H:%M:%S} load average: "
                      + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + "\n")
            log.flush()
            time.sleep(60)
    if proc.returncode:
        raise SystemExit(f"polyclr run exited with {proc.returncode}")


def _time_fields(path: Path) -> dict[str, float]:
    """Wall seconds, user / sys CPU seconds and peak RSS (MB) from ``/usr/bin/time -v`` output."""
    text = path.read_text()

    def num(label: str) -> str:
        m = re.search(rf"{re.escape(label)}: (.+)", text)
        if m is None:
            raise SystemExit(f"{path}: no '{label}' line (not /usr/bin/time -v output?)")
        return m.group(1).strip()

    wall = 0.0
    for part in num("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"):
        wall = wall * 60 + float(part)
    return {"wall": wall, "user": float(num("User time (seconds)")), "sys": float(num("System time (seconds)")),
            "rss_mb": float(num("Maximum resident set size (kbytes)")) / 1024, "exit": float(num("Exit status"))}


def _loads(path: Path) -> list[float]:
    """1-minute load averages of the ``load average: a, b, c`` lines."""
    out = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        m = re.search(r"load average: ([\d.]+)", line)
        if m:
            out.append(float(m.group(1)))
    return out


def run_stamp(run_dir: Path) -> dict[str, str]:
    """Machine, commit, date (when ``time.txt`` was written) and threads of a launched run."""
    from polyclr.rundir import machine_description

    return {"machine": machine_description(), "commit": (run_dir / "commit").read_text().strip(),
            "date": datetime.fromtimestamp((run_dir / "time.txt").stat().st_mtime, UTC).strftime("%Y-%m-%d"),
            "threads": (run_dir / "threads").read_text().strip()}


def run_args(description: str, data: str, run_dir: str, tag: bool = True) -> argparse.Namespace:
    """The launcher's command line: --data, --dir, --threads, --record (and --tag)."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(data))
    ap.add_argument("--dir", type=Path, default=Path(run_dir))
    ap.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the run (default: torch's)")
    if tag:
        ap.add_argument("--tag", default="", help="suffix of the CSV names (e.g. _threads2 beside the 1-thread run)")
    ap.add_argument("--record", type=Path, default=None, help="only write the CSVs of a finished RUN_DIR")
    return ap.parse_args()


def record(run_dir: Path, tag: str = "") -> None:
    t = _time_fields(run_dir / "time.txt")
    out = run_dir / "out"
    if (out / "metrics.json").is_file():
        metrics = json.loads((out / "metrics.json").read_text())
    else:  # stopped before the end: the rows of its finished fine-tunes (their done markers)
        split = json.loads((out / "splits.json").read_text())["splits"]
        rows = [json.loads(p.read_text()) for p in sorted((out / "stages").glob("finetune_*.json"))]
        metrics = {"rows": rows, "train_volumes": len(split["train"]), "test_volumes": len(split["test"]),
                   "pretrain_volumes": len(split["train"]) + len(split.get("pretrain_only", [])),
                   "classes": list(rows[0]["dice"]) if rows else []}
    rows = metrics["rows"]
    loads = _loads(run_dir / "load.log")
    stamp = run_stamp(run_dir)
    methods = sorted({r["method"] for r in rows})
    ks = sorted({int(r["labeled_volumes"]) for r in rows if r["method"] != "fully_supervised"})
    status = ("finished" if t["exit"] == 0 and (out / "metrics.json").is_file()
              else f"stopped after {len(rows)} fine-tunes")
    RES.mkdir(exist_ok=True)
    with open(RES / f"volume_run{TAG}{tag}.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["status", "seconds", "cpu_seconds", "user_seconds", "sys_seconds", "peak_rss_mb",
                    "load_mean", "load_max", "load_samples", "rows", "methods", "labeled_volumes",
                    "train_volumes", "test_volumes", "pretrain_volumes", *stamp])
        w.writerow([status, f"{t['wall']:.1f}", f"{t['user'] + t['sys']:.1f}", f"{t['user']:.1f}", f"{t['sys']:.1f}",
                    f"{t['rss_mb']:.0f}", f"{sum(loads) / len(loads):.2f}" if loads else "",
                    f"{max(loads):.2f}" if loads else "", len(loads), len(rows), " ".join(methods),
                    " ".join(map(str, ks)), metrics["train_volumes"], metrics["test_volumes"],
                    metrics["pretrain_volumes"], *stamp.values()])
    classes = metrics["classes"]
    with open(RES / f"volume_run{TAG}{tag}_rows.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["method", "labeled_volumes", "combination", "seed", "dice_mean",
                    *[f"dice_{c}" for c in classes], *[f"hd95_mm_{c}" for c in classes], *stamp])
        for r in rows:
            w.writerow([r["method"], r["labeled_volumes"], r["combination"], r["seed"], f"{r['dice_mean']:.4f}",
                        *[f"{r['dice'][c]:.4f}" for c in classes],
                        *[f"{r['hd95_mm'][c]:.2f}" for c in classes], *stamp.values()])
    print(f"{status}: wall {t['wall'] / 60:.1f} min, CPU {(t['user'] + t['sys']) / 60:.1f} min, "
          f"peak RSS {t['rss_mb']:.0f} MB, {len(rows)} rows -> {RES / f'volume_run{TAG}{tag}.csv'}")


def main() -> None:
    args = run_args(__doc__, "../shared/data/msd_hippocampus", "runs/volume_run_default")
    if args.record is None:
        launch(args.data, args.dir, args.threads)
    record(args.record or args.dir, args.tag)


if __name__ == "__main__":
    main()
