"""Write docs/results_timeseries.md from benchmarks/results/timeseries_{ts2vec_parity,ucr,speed,budget,ecg}.csv.

    .venv/bin/python benchmarks/timeseries_table.py
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "benchmarks" / "results"


try:
    from benchmarks.timeseries_parity_table import _ms, _ours_public, _same_threads, parity_section
except ImportError:
    from timeseries_parity_table import _ms, _ours_public, _same_threads, parity_section


def ucr_section(df: pd.DataFrame) -> list[str]:
    its = "/".join(str(int(v)) for v in sorted(df[df.implementation == "polyclr"].pretrain_steps.unique()))
    out = [f"### TS2Vec objective on UCR datasets (test split; polyclr {its} iterations, public code 200; "
           "batch 8, lr 1e-3, 320-d)", "",
           "| dataset | TS2Vec paper (SVM) | polyclr linear probe acc | polyclr SVM-RBF acc | polyclr train-CV acc "
           "| polyclr pre-train s | peak RSS MB | public TS2Vec SVM acc (seed 0) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, g in df.groupby("dataset", sort=False):
        ours, ref = _ours_public(g)
        cv = _ms(ours.train_cv_accuracy) if "train_cv_accuracy" in ours else "–"
        out.append(f"| {name} | {g.paper_accuracy.iloc[0]} | {_ms(ours.linear_probe_accuracy)} | "
                   f"{_ms(ours.svm_rbf_accuracy)} | {cv} | {_ms(ours.pretrain_seconds, 1)} | "
                   f"{ours.peak_rss_mb.astype(float).max():.0f} | {_ms(ref.svm_rbf_accuracy) if len(ref) else '–'} |")
    n = df[df.implementation == "polyclr"].groupby("dataset").seed.nunique().min()
    out += ["", f"Mean ± std over {n} pre-training seeds (probes fitted on TRAIN, scored on TEST; train-CV: the "
            "linear probe's repeated 5-fold CV accuracy on TRAIN). Peak RSS is the whole process (includes "
            "~1 GB of imported libraries). Pre-training seconds were taken on a shared CPU; for speed see the "
            "time-to-accuracy table. The public TS2Vec rows come from its own run and SVM evaluation "
            "(their commit column in the CSV).", ""]
    return out


def side_by_side_section(df: pd.DataFrame, csv_name: str) -> list[str]:
    """polyclr and the public TS2Vec code, each over the same seeds, alternating in one run."""
    datasets = list(dict.fromkeys(df.dataset))
    title = "all three datasets" if len(datasets) > 1 else datasets[0]
    out = [f"### polyclr and the public TS2Vec code side by side ({title}; same run, same seeds)", "",
           "| dataset | TS2Vec paper (SVM) | polyclr linear probe acc | polyclr SVM-RBF acc "
           "| public TS2Vec SVM-RBF acc | SVM difference ± s.e. | seeds | polyclr pre-train s "
           "| public pre-train s |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    unequal = False
    for name, g in df.groupby("dataset", sort=False):
        ours, ref = _ours_public(g)
        a, b = ours.svm_rbf_accuracy, ref.svm_rbf_accuracy
        se = float(np.sqrt(a.var() / len(a) + b.var() / len(b)))
        same = _same_threads(ours, ref)
        mark = "" if same else " †"
        out.append(f"| {name} | {g.paper_accuracy.iloc[0]} | {_ms(ours.linear_probe_accuracy)} | "
                   f"{_ms(a)} | {_ms(b)} | {a.mean() - b.mean():+.3f} ± {se:.3f} | {ref.seed.nunique()} | "
                   f"{_ms(ours.pretrain_seconds, 1)}{mark} | {_ms(ref.pretrain_seconds, 1)}{mark} |")
        unequal = unequal or not same
    seeds = " ".join(str(s) for s in sorted(df.seed.unique()))
    out += ["", "Both implementations pre-train with TS2Vec's defaults (200 iterations, batch 8, lr 1e-3, "
            "320-d) on TRAIN and are scored on TEST; the public code uses its own SVM evaluation. "
            "`SVM difference` is polyclr's mean SVM accuracy minus the public code's, with the standard "
            f"error of that difference. `benchmarks/timeseries_ucr.py --reference <ts2vec checkout> "
            f"--datasets {' '.join(datasets)} --seeds {seeds} --reference-seeds {seeds} --out {csv_name}`; "
            "the two alternate, so both see the same machine load."]
    if unequal:
        out += ["", "† Pre-training seconds measured before the script pinned both sides to one thread "
                "count (`--threads`, recorded per row): polyclr ran with the process's default threads, "
                "the public code with `OMP_NUM_THREADS` (1 unless set). These times are not comparable "
                "with each other and no ratio is given."]
    return out + [""]



def ecg_section(df: pd.DataFrame) -> list[str]:
    fracs = sorted(df.label_fraction.astype(float).unique())
    out = ["### Label efficiency on the simulated multi-patient ECG dataset (held-out patients)", "",
           "| method | " + " | ".join(f"macro-F1 @ {f:g}" for f in fracs) + " | " + " | ".join(f"acc @ {f:g}" for f in fracs) + " |",
           "| --- |" + " --- |" * (2 * len(fracs))]
    for method, g in df.groupby("method", sort=False):
        cells = [_ms(g[g.label_fraction.astype(float) == f].macro_f1) for f in fracs]
        cells += [_ms(g[g.label_fraction.astype(float) == f].accuracy) for f in fracs]
        out.append(f"| {method} | " + " | ".join(cells) + " |")
    out.append("")
    rnd = df[(df.method == "random_init") & (df.label_fraction.astype(float) == 0.1)].macro_f1.astype(float)
    for method in df.method.unique():
        if method.endswith(":pretrained") and len(rnd):
            pre = df[(df.method == method) & (df.label_fraction.astype(float) == 0.1)].macro_f1.astype(float)
            out.append(f"- 10 % labels, {method} vs random init: macro-F1 margin "
                       f"**{100 * (pre.mean() - rnd.mean()):+.1f} points** (mean over {len(pre)} seeds).")
    first = df.iloc[0]
    out += ["", f"{int(first.n_train)} training / {int(first.n_test)} test windows; pre-training "
            f"{int(first.pretrain_steps)} steps; mean ± std over fine-tuning seeds (label subset + init).", ""]
    return out


def speed_section(df: pd.DataFrame) -> list[str]:
    out = ["### Time to accuracy: public TS2Vec code vs polyclr (same process, interleaved, same threads)", "",
           "| dataset | implementation | iterations | train s | ms / iteration | linear probe acc | SVM-RBF acc "
           "| time relative to public @ 200 it | load avg |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, g in df.groupby("dataset", sort=False):
        pub = g[g.implementation.str.startswith("ts2vec_public") & (g.iterations == 200)]
        ref = pub.seconds.astype(float).mean() if len(pub) else float("nan")
        for (impl, iters), h in g.groupby(["implementation", "iterations"], sort=False):
            sec = h.seconds.astype(float)
            out.append(f"| {name} | {impl} | {iters} | {_ms(sec, 1)} | {_ms(h.ms_per_iteration, 1)} | "
                       f"{_ms(h.linear_probe_accuracy)} | {_ms(h.svm_rbf_accuracy)} | {sec.mean() / ref:.2f} | "
                       f"{h.load_avg.astype(float).mean():.1f} |")
    out += ["", "Training call only (no data loading or evaluation). `polyclr_pipeline` is the full pre-training "
            "path (Lightning, checkpoints, weight average). Both probes are fitted on TRAIN and scored on TEST. "
            f"Mean ± std over {df.rep.nunique()} interleaved repetition(s); `load avg` is the 1-minute load "
            "average of the machine during the rows (other jobs were running when it is above the thread count). "
            "polyclr's speed-ups are exact rewrites of the same computation (tests/timeseries/test_fast_path.py "
            "compares values and gradients with the straightforward path): both crops go through the encoder "
            "in one pass as separate time segments; each residual block is one autograd node whose dilated "
            "convolutions are channels-last GEMMs (oneDNN on CPU, rows padded to multiples of 64 so random crop "
            "lengths reuse compiled kernels) with shifted adds that never cross a segment; the trailing blocks "
            "whose dilation is >= the crop (TS2Vec's 320-wide last block and more) run per timestamp on the "
            "loss's overlap only; `z z^T` backpropagates with one product; fused AdamW; a faster inverted "
            "dropout; a lean manual-optimisation Lightning step; and a resumable checkpoint every ~100 steps. "
            "The learning algorithm and its settings are TS2Vec's.", "",
            ]
    return out


def budget_section(df: pd.DataFrame) -> list[str]:
    names = list(dict.fromkeys(df.dataset))
    out = ["### Accuracy vs pre-training budget and weight averaging (TS2Vec objective, lr 1e-3, batch 8)", "",
           "| iterations | averaging | " + " | ".join(f"{n} test acc" for n in names)
           + " | mean train-CV acc (selection score) |", "| --- | --- |" + " --- |" * (len(names) + 1)]
    for (iters, avg), g in df.groupby(["iterations", "averaging"], sort=True):
        cells = [_ms(g[g.dataset == n].test_accuracy) for n in names]
        cv = g.groupby("dataset").train_cv_accuracy.mean().mean()
        out.append(f"| {iters} | {avg} | " + " | ".join(cells) + f" | {cv:.3f} |")
    out += ["", f"Mean ± std over {df.seed.nunique()} seeds; one training run per (data set, seed), scored at "
            "each budget. `swa_all`: uniform average of all iterates (public TS2Vec); `swa_half`: uniform "
            "average over the second half; `ema`: exponential moving average; `raw`: last iterate. The "
            "selection score is the linear probe's repeated 5-fold CV accuracy on TRAIN (TEST is never used "
            "to choose settings).", ""]
    return out


def main() -> None:
    lines = ["## Time series", ""]
    meta = None
    for pattern, fn in (("timeseries_ts2vec_parity.csv", parity_section), ("timeseries_ucr.csv", ucr_section),
                        ("timeseries_ucr_public3.csv", partial(side_by_side_section, csv_name="timeseries_ucr_public3.csv")),
                        ("timeseries_ucr_arrowhead10.csv",
                         partial(side_by_side_section, csv_name="timeseries_ucr_arrowhead10.csv")),
                        ("timeseries_speed.csv", speed_section),
                        ("timeseries_budget.csv", budget_section), ("timeseries_ecg*.csv", ecg_section)):
        files = sorted(RES.glob(pattern))
        if files:
            df = pd.concat([pd.read_csv(p) for p in files], ignore_index=True)
            lines += fn(df)
            commits = ", ".join(dict.fromkeys(str(c)[:7] for c in df.commit))
            lines += [f"_{', '.join(p.name for p in files)}: {df.machine.iloc[-1]}; commits {commits}; "
                      f"{df.date.min()} – {df.date.max()}._", ""]
            meta = df.iloc[-1]
    if meta is not None:
        lines += ["Regenerate (each with `OMP_NUM_THREADS=1 .venv/bin/python`): `benchmarks/timeseries_ts2vec_parity.py "
                  "--reference <ts2vec checkout>`, `benchmarks/timeseries_ucr.py "
                  "[--reference <ts2vec checkout>]`, `benchmarks/timeseries_speed.py --reference <ts2vec checkout> "
                  "--public-iters 200 --ours-iters 100 200 --reps 3`, `benchmarks/timeseries_budget.py`, `benchmarks/timeseries_ecg.py`, then "
                  "`benchmarks/timeseries_table.py`. Each CSV row carries its own machine, commit, date.", ""]
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "results_timeseries.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
