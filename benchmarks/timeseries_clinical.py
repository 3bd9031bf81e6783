"""Label efficiency on real clinical recordings through the pipeline's ``run`` (what a user gets).

Tasks (data in ../shared/data; patient/subject-disjoint test split of the labelled patients;
pre-training on every training-split recording plus every unlabelled recording):

- ``cinc2017``: single-lead ECG rhythm N/A/O/~ (``labels.csv``): exactly
  ``polyclr run timeseries --data ../shared/data/cinc2017_af_ecg`` with no settings (run as that
  command; its wall time, CPU time and the machine's load average are recorded too).
- ``eegmat_count``: EEG, subject-level good/bad counter on the task recordings; the rest
  recordings are unlabelled (pre-training only).
- ``eegmat_rest_task``: EEG rest vs task on the subjects that have both; the other subjects' task
  recordings are unlabelled (pre-training only).
- ``cinc2021``: 12-lead ECG, multi-label SNOMED-CT ``# Dx:`` codes, macro AUROC.

Settings are the pipeline defaults unless a flag says otherwise (flags are written to the CSV);
nothing is tuned on the test split. Usage:

    python benchmarks/timeseries_clinical.py --task cinc2017
    python benchmarks/timeseries_clinical.py --task eegmat_count --steps 100 --finetune-steps 60
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd  # noqa: E402
from timeseries_common import stamp, write_csv  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _eegmat_table(kind: str, folder: Path) -> Path:
    """A labels table for an EEGMAT task (record = EDF file, patient = subject)."""
    rec = pd.read_csv(DATA / "eegmat_mental_arithmetic" / "records.csv")
    if kind == "count":
        lab = rec[rec.condition == "mental_arithmetic"].assign(label=lambda d: d.group.map({"G": "good", "B": "bad"}))
    else:
        both = rec.groupby("subject").condition.nunique()
        lab = rec[rec.subject.isin(both[both == 2].index)].assign(label=lambda d: d.condition)
    table = pd.DataFrame({"record": rec.file, "subject": rec.subject})
    table["label"] = table.record.map(dict(zip(lab.file, lab.label, strict=True)))
    path = folder / f"eegmat_{kind}_labels.csv"
    table.to_csv(path, index=False)
    return path


def configure(task: str, a: argparse.Namespace, tmp: Path) -> tuple[Path, list[str]]:
    """Data folder and the ``--set`` overrides of a task (cinc2017: none at all)."""
    sets: list[str] = []
    if task == "cinc2017":
        data = DATA / "cinc2017_af_ecg"
    elif task.startswith("eegmat"):
        data = DATA / "eegmat_mental_arithmetic"
        table = _eegmat_table("count" if task == "eegmat_count" else "rest_task", tmp)
        sets += [f"data.labels={table}", "data.patient_column=subject"]
    elif task == "cinc2021":
        data = DATA / "cinc2021_ecg12"
        sets += ["downstream.label_fractions=[1.0]", "downstream.methods=[linear_probe,pretrained,random_init]"]
    else:
        raise SystemExit(f"unknown task {task}")
    if a.steps:
        sets.append(f"engine.max_steps={a.steps}")
    if a.finetune_steps:
        sets.append(f"downstream.finetune_steps={a.finetune_steps}")
    if a.seeds:
        sets.append(f"downstream.seeds=[{','.join(str(i) for i in range(a.seeds))}]")
    if a.methods:
        sets.append(f"downstream.methods=[{a.methods}]")
    if a.fractions:
        sets.append(f"downstream.label_fractions=[{a.fractions}]")
    sets += a.set
    return data, sets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", required=True, choices=["cinc2017", "eegmat_count", "eegmat_rest_task", "cinc2021"])
    ap.add_argument("--steps", type=int, default=0, help="pre-training steps (0 = default)")
    ap.add_argument("--finetune-steps", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=0)
    ap.add_argument("--methods", default="")
    ap.add_argument("--fractions", default="", help="comma-separated label fractions ('' = default)")
    ap.add_argument("--tag", default="", help="suffix of the CSV name (several settings of one task)")
    ap.add_argument("--set", action="append", default=[], help="further key=value overrides (written to the CSV)")
    ap.add_argument("--threads", type=int, default=0, help="torch / OpenMP threads of the run (0 = torch's default)")
    a = ap.parse_args()
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="polyclr_clin_") as tmp:
        tmp = Path(tmp)
        data, sets = configure(a.task, a, tmp)
        cmd = [sys.executable, "-m", "polyclr.cli", "run", "timeseries", "--data", str(data), "--out", str(tmp / "run")]
        for kv in sets:
            cmd += ["--set", kv]
        env = dict(os.environ, PYTHONPATH=str(root))
        if a.threads:
            env["OMP_NUM_THREADS"] = str(a.threads)
        stamped = stamp()  # the code that runs: taken before the run
        load0, t0 = os.getloadavg()[0], time.perf_counter()
        res = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, check=False)
        wall, load1 = time.perf_counter() - t0, os.getloadavg()[0]
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        if res.returncode != 0:
            raise SystemExit(f"run failed ({res.returncode}): {res.stderr[-2000:]}")
        m = json.loads((tmp / "run" / "metrics.json").read_text())
    base = stamped | {"threads": a.threads or os.cpu_count(), "task": a.task, "dataset": data.name,
                      "settings": ";".join(s for s in sets if not s.startswith("data.labels=")) or "pipeline defaults",
                      "pretrain_seconds": m["pretrain_seconds"], "pretrain_steps": m["pretrain_steps"],
                      "peak_rss_mb": m["peak_rss_mb"], "n_pretrain": m["n_pretrain"], "n_train": m["n_train"],
                      "n_test": m["n_test"], "run_wall_seconds": round(wall, 1),
                      "run_cpu_seconds": round(ru.ru_utime + ru.ru_stime, 1),
                      "run_peak_rss_mb": round(ru.ru_maxrss / 1024.0, 1),
                      "load_avg_start": round(load0, 1), "load_avg_end": round(load1, 1)}
    rows = [base | r for r in m["rows"]]
    out = write_csv(f"timeseries_clinical_{a.task}{'_' + a.tag if a.tag else ''}.csv", rows)
    print(f"wrote {out} ({len(rows)} rows); wall {wall:.0f} s, cpu {base['run_cpu_seconds']} s, "
          f"load {load0:.1f}->{load1:.1f}")


if __name__ == "__main__":
    main()
