"""Resident memory and CPU time of polyclr's TS2Vec pre-training under three glibc heap policies
(:mod:`polyclr.engine.memory`), on one aeon set (default ACSF1: 100 x 1460 steps, TS2Vec's random
crops of up to 2 x 1460 steps):

- ``trim``: the default, :class:`~polyclr.engine.memory.HeapTrim` after every step;
- ``pinned``: the mmap threshold pinned at 1 MiB (:func:`~polyclr.engine.memory.pin_mmap_threshold`);
- ``dynamic``: glibc's own behaviour (neither).

Each variant runs the real pipeline (``benchmarks.timeseries_common.pretrain_and_embed``, i.e.
``pretrain_encoder`` through Lightning) in its own child process at the same pinned thread count,
one after the other (the order alternates per repeat). Recorded every ``--every`` steps: RSS
(``VmRSS``), its growth since the first step began, the peak (``VmHWM``), and the child's wall and
CPU (user + sys) seconds since then, and minor page faults; plus machine, commit, date, threads,
load average.

    .venv/bin/python benchmarks/timeseries_rss_growth.py [--dataset ACSF1] [--steps 40] [--repeats 1] \
        [--policies trim pinned dynamic]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

try:
    from benchmarks.timeseries_common import stamp, write_csv
except ImportError:
    from timeseries_common import stamp, write_csv

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, os, resource, time, torch
torch.set_num_threads({threads})
from polyclr.pipelines.timeseries import train as T
from benchmarks.timeseries_common import pretrain_and_embed
from benchmarks.timeseries_ts2vec_parity import aeon_classification_sets
from polyclr.engine.memory import pin_mmap_threshold
if {policy!r} != "trim":
    T.HEAP_TRIM_MB = 0
if {policy!r} == "pinned":
    assert pin_mmap_threshold()
def status(key):
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) / 1024 for ln in f if ln.startswith(key))
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step_fn, start = T.LeanPretrainModule.training_step, {{}}
def step(self, batch, i):
    if not start:
        start.update(rss=status("VmRSS"), cpu=cpu(), wall=time.perf_counter(), faults=faults())
    out = step_fn(self, batch, i)
    g = self.trainer.global_step
    if g % {every} == 0:
        print("ROW", json.dumps({{"step": g, "rss_mb": round(status("VmRSS")),
              "rss_growth_mb": round(status("VmRSS") - start["rss"]), "peak_rss_mb": round(status("VmHWM")),
              "wall_seconds": round(time.perf_counter() - start["wall"], 1),
              "cpu_seconds": round(cpu() - start["cpu"], 1),
              "minor_faults": faults() - start["faults"]}}), flush=True)
    return out
T.LeanPretrainModule.training_step = step
pretrain_and_embed(aeon_classification_sets()[{dataset!r}], {seed}, steps={steps})
"""


POLICIES = {"trim": "heap trim (default)", "pinned": "mmap threshold pinned at 1 MiB",
            "dynamic": "glibc dynamic threshold"}


def run_child(dataset: str, policy: str, steps: int, every: int, threads: int, seed: int) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[k] = str(threads)
    for k in ("MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"):  # the variants differ only by the policy
        env.pop(k, None)
    code = _CHILD.format(threads=threads, policy=policy, every=every, dataset=dataset, seed=seed, steps=steps)
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=7200, env=env)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-3000:])
    return [json.loads(ln[4:]) for ln in res.stdout.splitlines() if ln.startswith("ROW ")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="ACSF1")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--policies", nargs="+", choices=list(POLICIES), default=list(POLICIES))
    ap.add_argument("--out", default="timeseries_rss_growth.csv")
    args = ap.parse_args()
    rows = []
    for r in range(args.repeats):
        for policy in (args.policies if r % 2 == 0 else args.policies[::-1]):
            for row in run_child(args.dataset, policy, args.steps, args.every, args.threads, args.seed):
                row = {"dataset": args.dataset, "seed": args.seed, "repeat": r, "heap_policy": POLICIES[policy], **row,
                       "load_avg": round(os.getloadavg()[0], 2), **stamp(), "threads": args.threads}
                print(json.dumps(row), flush=True)
                rows.append(row)
    print(write_csv(args.out, rows))


if __name__ == "__main__":
    main()
