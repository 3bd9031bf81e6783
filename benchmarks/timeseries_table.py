"""Write docs/results_timeseries.md from benchmarks/results/timeseries_{ucr,ecg}.csv.

    .venv/bin/python benchmarks/timeseries_table.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "benchmarks" / "results"


def _ms(s: pd.Series, digits: int = 3) -> str:
    s = s.dropna().astype(float)
    if s.empty:
        return "–"
    return f"{s.mean():.{digits}f} ± {s.std(ddof=0):.{digits}f}" if len(s) > 1 else f"{s.mean():.{digits}f}"


def ucr_section(df: pd.DataFrame) -> list[str]:
    out = ["### TS2Vec objective on UCR datasets (test split; 200 iterations, batch 8, lr 1e-3, 320-d)", "",
           "| dataset | TS2Vec paper (SVM) | polyclr linear probe acc | polyclr SVM-RBF acc | polyclr pre-train s | peak RSS MB | public TS2Vec SVM acc | public TS2Vec train s | time ratio polyclr / public |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, g in df.groupby("dataset", sort=False):
        ours = g[g.implementation == "polyclr"]
        ref = g[g.implementation != "polyclr"]
        ratio = "–"
        if len(ref):
            ratio = f"{ours.pretrain_seconds.astype(float).mean() / ref.pretrain_seconds.astype(float).mean():.2f}"
        out.append(f"| {name} | {g.paper_accuracy.iloc[0]} | {_ms(ours.linear_probe_accuracy)} | "
                   f"{_ms(ours.svm_rbf_accuracy)} | {_ms(ours.pretrain_seconds, 1)} | {ours.peak_rss_mb.astype(float).max():.0f} | "
                   f"{_ms(ref.svm_rbf_accuracy) if len(ref) else '–'} | {_ms(ref.pretrain_seconds, 1) if len(ref) else '–'} | {ratio} |")
    n = df.groupby("dataset").seed.nunique().min()
    out += ["", f"Mean ± std over {n} pre-training seeds. Peak RSS is the whole process (includes ~1 GB of "
            "imported libraries). Timings on a shared CPU machine (other jobs running): compare "
            "within a row only.", ""]
    return out


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
    out = ["### Pre-training speed per iteration (interleaved runs, one thread, batch 8, 320-d)", "",
           "| dataset | implementation | ms / iteration | relative to public TS2Vec |", "| --- | --- | --- | --- |"]
    for name, g in df.groupby("dataset", sort=False):
        ref = g[g.implementation.str.startswith("ts2vec_public")].ms_per_iteration.astype(float).mean()
        for impl, h in g.groupby("implementation", sort=False):
            ms = h.ms_per_iteration.astype(float)
            out.append(f"| {name} | {impl} | {_ms(ms, 1)} | {ms.mean() / ref:.2f} |")
    out += ["", "`polyclr_loop`: our objective and encoder in a plain PyTorch loop; `polyclr_pipeline`: "
            "the full pre-training path (Lightning, checkpoint every epoch, weight average, encoder file). "
            f"Mean ± std over {df.rep.nunique()} interleaved repetitions of {int(df.iterations.iloc[0])} iterations.", ""]
    return out


def main() -> None:
    lines = ["## Time series", ""]
    meta = None
    for pattern, fn in (("timeseries_ucr.csv", ucr_section), ("timeseries_speed.csv", speed_section),
                        ("timeseries_ecg*.csv", ecg_section)):
        files = sorted(RES.glob(pattern))
        if files:
            df = pd.concat([pd.read_csv(p) for p in files], ignore_index=True)
            lines += fn(df)
            meta = df.iloc[-1]
    if meta is not None:
        lines += [f"Machine: {meta.machine}; commit {meta.commit}; {meta.date}. "
                  "Regenerate: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/timeseries_ucr.py --reference <ts2vec checkout>`, "
                  "`benchmarks/timeseries_ecg.py`, then `benchmarks/timeseries_table.py`.", ""]
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "results_timeseries.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
