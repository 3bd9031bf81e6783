"""`polyclr run timeseries --data ../shared/data/cinc2017_af_ecg` with no settings: wall time, CPU
time (user + sys), peak RSS and the load average while it ran.

The command runs under ``/usr/bin/time -v`` while the load average is sampled once a minute (the
launcher of :mod:`volume_run_default`), so a time measured on a shared CPU can be read against the
load it ran under. Writes ``results/timeseries_run_cinc2017.csv`` (one row: status, wall, CPU, RSS,
load, machine, commit, date, threads).

Usage:
    python benchmarks/timeseries_run_default.py [--data DIR] [--dir RUN_DIR] [--threads N]
    python benchmarks/timeseries_run_default.py --record RUN_DIR   # a finished run
RUN_DIR holds ``time.txt`` (``/usr/bin/time -v``), ``load.log`` (lines ending in
``load average: a, b, c``), ``commit``, ``threads`` and the run's ``out/``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from volume_run_default import _loads, _time_fields, launch, run_args, run_stamp

RES = Path(__file__).resolve().parent / "results"


def record(run_dir: Path, target_min: float = 30.0) -> None:
    t = _time_fields(run_dir / "time.txt")
    loads = _loads(run_dir / "load.log")
    finished = t["exit"] == 0 and (run_dir / "out" / "metrics.json").is_file()
    cpu = t["user"] + t["sys"]
    stamp = run_stamp(run_dir)
    RES.mkdir(exist_ok=True)
    dest = RES / "timeseries_run_cinc2017.csv"
    with open(dest, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["status", "seconds", "cpu_seconds", "user_seconds", "sys_seconds", "peak_rss_mb",
                    "load_mean", "load_max", "load_samples", "target_minutes", *stamp])
        w.writerow(["finished" if finished else f"exit {int(t['exit'])}", f"{t['wall']:.1f}", f"{cpu:.1f}",
                    f"{t['user']:.1f}", f"{t['sys']:.1f}", f"{t['rss_mb']:.0f}",
                    f"{sum(loads) / len(loads):.2f}" if loads else "", f"{max(loads):.2f}" if loads else "",
                    len(loads), target_min, *stamp.values()])
    print(f"{'finished' if finished else 'not finished'}: wall {t['wall'] / 60:.1f} min, CPU {cpu / 60:.1f} min, "
          f"peak RSS {t['rss_mb']:.0f} MB -> {dest}")


def main() -> None:
    args = run_args(__doc__, "../shared/data/cinc2017_af_ecg", "runs/timeseries_run_default", tag=False)
    if args.record is None:
        launch(args.data, args.dir, args.threads, modality="timeseries")
    record(args.record or args.dir)


if __name__ == "__main__":
    main()
