"""polyclr vs the public TS2Vec code on every classification set that ships in aeon's wheel.

For each (seed, data set) both implementations run in their own child process, one after the
other (the order alternates), at the same pinned thread count, with the same seed and their own
defaults: TS2Vec's budget rule (200 iterations, 600 above 100,000 training values), batch 8,
lr 1e-3, 320-d, max_train_length 3000. Each is pre-trained on the archive's TRAIN split and scored
on TEST with

- ``svm``: RBF SVM, C by 5-fold CV on TRAIN (TS2Vec's protocol: the public side runs its own
  ``tasks/_eval_protocols.fit_svm``, polyclr ``polyclr.evaluation.svm_probe``);
- ``linear_probe``: ``polyclr.evaluation.linear_probe`` on both sides' embeddings.

Recorded per row: pre-training seconds (the training call: wall, and CPU user + sys of every
thread, which a shared CPU does not inflate), iterations, peak RSS of the child
process and its growth during pre-training, the child's whole-process wall and CPU (user + sys)
seconds (load, pre-training, embedding, probes), machine, commit, date, threads, load average.

    .venv/bin/python benchmarks/timeseries_ts2vec_parity.py --reference /path/to/ts2vec \
        [--datasets ...] [--seeds 0 1 2] [--threads 1] [--out timeseries_ts2vec_parity.csv] \
        [--input-scaling own|zscore|raw]

``--input-scaling`` (a diagnostic; the table uses ``own``): ``own`` gives each side its own
input scaling (polyclr: per-channel z-score fitted on TRAIN; the public code: ``load_UCR``
z-scores only the sets on its list of non-normalised UCR sets, ``load_UEA`` per channel);
``zscore`` gives both polyclr's (the public side reads TRAIN-z-scored files); ``raw`` gives both
the archive's values unscaled (polyclr ``data.normalize=False``).

The public code (github.com/yuezhihan/ts2vec, unmodified) is driven through its ``TS2Vec``
class: its ``train.py`` asserts CUDA for ``--gpu``. Univariate sets are read by its own
``datautils.load_UCR`` from TSV files written here; its ``load_UEA`` reads only ``.arff``, so for
multivariate sets the driver applies load_UEA's preprocessing (per-channel StandardScaler fitted
on TRAIN) to the same arrays. Its ``tasks`` package imports ``bottleneck`` (for anomaly
detection), so ``tasks/_eval_protocols.py`` is loaded by file path.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

try:
    from benchmarks.timeseries_common import stamp, write_csv
except ImportError:
    from timeseries_common import stamp, write_csv

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = "ts2vec_public_b0088e1"

_OURS = r"""
import json, resource, sys, torch
torch.set_num_threads({threads})
from pathlib import Path
from benchmarks.timeseries_common import pretrain_and_embed
from polyclr.evaluation import linear_probe, svm_probe
from polyclr.modalities.timeseries.io import load_dataset
import polyclr.pipelines.timeseries.train  # noqa: F401  (Lightning etc. imported before the baseline)
load_dataset(Path({path!r}))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
prep, pre, tr, te = pretrain_and_embed(Path({path!r}), {seed}, prefix="polyclr_parity_",
                                       normalize={normalize})
d = prep.data
ytr, yte = d.y[prep.train], d.y[prep.test]
print("RESULT", json.dumps({{
    "pretrain_seconds": pre["pretrain_seconds"], "pretrain_cpu_seconds": pre["pretrain_cpu_seconds"],
    "iterations": pre["pretrain_steps"],
    "peak_rss_mb": pre["peak_rss_mb"], "train_rss_mb": round(pre["peak_rss_mb"] - base, 1),
    "svm_accuracy": svm_probe(tr, ytr, te, yte)["accuracy"],
    "linear_probe_accuracy": linear_probe(tr, ytr, te, yte, seed={seed})["accuracy"]}}))
"""

_PUBLIC = r"""
import importlib.util, json, resource, sys, time
import numpy as np, torch
import datautils
from ts2vec import TS2Vec
from utils import init_dl_program
init_dl_program('cpu', seed={seed}, max_threads={threads})
if {univariate}:
    tr, trl, te, tel = datautils.load_UCR({name!r})
else:  # load_UEA's preprocessing (it reads .arff only): per-channel StandardScaler on TRAIN
    from sklearn.preprocessing import StandardScaler
    z = np.load({npz!r})
    tr, trl, te, tel = z['tr'], z['trl'], z['te'], z['tel']
if not {univariate} and {uea_scaler}:
    sc = StandardScaler().fit(tr.reshape(-1, tr.shape[-1]))
    tr = sc.transform(tr.reshape(-1, tr.shape[-1])).reshape(tr.shape)
    te = sc.transform(te.reshape(-1, te.shape[-1])).reshape(te.shape)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
m = TS2Vec(input_dims=tr.shape[-1], device='cpu', batch_size=8, lr=0.001, output_dims=320,
           max_train_length=3000)
t, c = time.time(), time.process_time(); m.fit(tr, verbose=False)
t, c = time.time() - t, time.process_time() - c
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
spec = importlib.util.spec_from_file_location('ts2vec_eval_protocols', 'tasks/_eval_protocols.py')
ep = importlib.util.module_from_spec(spec); spec.loader.exec_module(ep)
rtr = m.encode(tr, encoding_window='full_series'); rte = m.encode(te, encoding_window='full_series')
svm = ep.fit_svm(rtr, trl).score(rte, tel)  # = tasks.eval_classification(..., 'svm')['acc']
sys.path.insert(0, {root!r})
from polyclr.evaluation import linear_probe
lp = linear_probe(rtr, trl.astype(int), rte, tel.astype(int), seed={seed})['accuracy']
print("RESULT", json.dumps({{"pretrain_seconds": round(t, 3), "pretrain_cpu_seconds": round(c, 3),
    "iterations": int(m.n_iters),
    "peak_rss_mb": round(peak, 1), "train_rss_mb": round(peak - base, 1),
    "svm_accuracy": float(svm), "linear_probe_accuracy": float(lp)}}))
"""


def aeon_classification_sets() -> dict[str, Path]:
    """Every ``NAME/NAME_TRAIN.ts`` in aeon's data dir with a TEST file and ``@classLabel true``."""
    import aeon

    root = Path(aeon.__file__).parent / "datasets" / "data"
    found = {}
    for train in sorted(root.glob("*/*_TRAIN.ts")):
        name = train.name[: -len("_TRAIN.ts")]
        head = train.read_text(encoding="utf-8", errors="replace").split("@data", 1)[0].lower()
        if train.with_name(f"{name}_TEST.ts").is_file() and "@classlabel true" in head:
            found[name] = train
    return found


def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[k] = str(threads)
    env["PYTHONPATH"] = str(ROOT)
    return env


def _child(code: str, cwd: Path, threads: int) -> dict:
    """Run ``code`` in a child process; adds its whole-process wall and CPU (user + sys) seconds."""
    import resource
    import time

    before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                         timeout=6 * 3600, env=_env(threads))  # ACSF1 under shared load
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if res.returncode != 0 or line is None:
        raise RuntimeError(res.stderr[-3000:])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {**json.loads(line[len("RESULT "):]), "child_wall_seconds": round(time.perf_counter() - t0, 1),
            "child_cpu_seconds": round(cpu, 1)}


def write_public_inputs(repo: Path, name: str, path: Path, scaling: str = "own") -> dict:
    """The same TRAIN/TEST arrays for the public code: UCR TSV (label = class index, NaN
    padding) for univariate sets, an npz of ``(n, T, C)`` arrays for multivariate ones.
    ``scaling="zscore"`` writes them z-scored per channel with TRAIN's mean/std; ``zscore`` and
    ``raw`` write under ``NAME__<scaling>``, a name not on load_UCR's normalisation list."""
    from polyclr.modalities.timeseries.io import load_dataset

    d = load_dataset(path)
    tr, te = d.indices("train"), d.indices("test")
    if scaling == "zscore":
        mean = np.nanmean(d.X[tr], axis=(0, 2), keepdims=True)
        d.X = (d.X - mean) / np.nanstd(d.X[tr], axis=(0, 2), keepdims=True)
    if scaling != "own":
        name = f"{name}__{scaling}"
    info = {"n_train": len(tr), "n_test": len(te), "channels": int(d.n_channels), "length": int(d.length),
            "equal_length": not d.variable_length, "univariate": d.n_channels == 1}
    ucr = repo / "datasets" / "UCR" / name
    ucr.mkdir(parents=True, exist_ok=True)
    # written beside and renamed (atomic), so a concurrent run's child never reads a partial file
    if info["univariate"]:
        for split, ix in (("TRAIN", tr), ("TEST", te)):
            table = np.concatenate([d.y[ix][:, None].astype(float), d.X[ix, 0]], axis=1)
            tmp = ucr / f".{name}_{split}.tsv.{os.getpid()}"
            np.savetxt(tmp, table, delimiter="\t")
            tmp.replace(ucr / f"{name}_{split}.tsv")
    else:
        tmp = ucr / f".{name}.{os.getpid()}.npz"
        np.savez(tmp, tr=d.X[tr].transpose(0, 2, 1).astype(np.float64), trl=d.y[tr],
                 te=d.X[te].transpose(0, 2, 1).astype(np.float64), tel=d.y[te])
        tmp.replace(ucr / f"{name}.npz")
    info["npz"], info["public_name"] = str(ucr / f"{name}.npz"), name
    return info


def main() -> None:
    sets = aeon_classification_sets()
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", type=Path, required=True, help="checkout of yuezhihan/ts2vec")
    ap.add_argument("--datasets", nargs="+", default=list(sets))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="timeseries_ts2vec_parity.csv")
    ap.add_argument("--input-scaling", choices=("own", "zscore", "raw"), default="own")
    ap.add_argument("--implementations", nargs="+", choices=("polyclr", PUBLIC), default=["polyclr", PUBLIC])
    ap.add_argument("--resume", action="store_true", help="keep the rows already in --out, run only the rest")
    args = ap.parse_args()
    unknown = set(args.datasets) - set(sets)
    if unknown:
        raise SystemExit(f"not an aeon classification set: {sorted(unknown)} (have: {' '.join(sets)})")
    infos = {n: write_public_inputs(args.reference, n, sets[n], args.input_scaling) for n in args.datasets}
    rows = []
    done_path = Path(__file__).resolve().parent / "results" / args.out
    if args.resume and done_path.is_file():
        import pandas as pd

        rows = pd.read_csv(done_path).to_dict("records")
    done = {(r["dataset"], int(r["seed"]), r["implementation"]) for r in rows}
    for seed in args.seeds:  # seed-major: a partial run already covers every set
        for i, name in enumerate(args.datasets):
            info = infos[name]
            ours = _OURS.format(threads=args.threads, path=str(sets[name]), seed=seed,
                                normalize=args.input_scaling != "raw")
            public = _PUBLIC.format(threads=args.threads, seed=seed, univariate=info["univariate"],
                                    name=info["public_name"], npz=info["npz"], root=str(ROOT),
                                    uea_scaler=args.input_scaling == "own")
            order = [("polyclr", ours, ROOT), (PUBLIC, public, args.reference)]
            for impl, code, cwd in order if (seed + i) % 2 == 0 else order[::-1]:
                if (name, seed, impl) in done or impl not in args.implementations:
                    continue
                r = _child(code, cwd, args.threads)
                # threads: the children's (args.threads), not this process's from stamp()
                rows.append({"dataset": name, "seed": seed, "implementation": impl,
                             **{k: v for k, v in info.items() if k not in ("npz", "public_name")},
                             "input_scaling": args.input_scaling, **r,
                             "load_avg": round(os.getloadavg()[0], 2), **stamp(), "threads": args.threads})
                print(json.dumps(rows[-1]), flush=True)
                write_csv(args.out, rows)


if __name__ == "__main__":
    main()
