"""Write docs/results_timeseries_clinical.md from benchmarks/results/timeseries_clinical_*.csv and
timeseries_io.csv (real clinical recordings: label efficiency, reading speed, streamed memory).

    .venv/bin/python benchmarks/timeseries_clinical_table.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "benchmarks" / "results"
TASKS = {
    "cinc2017": "CinC 2017 single-lead ECG, rhythm N/A/O/~ (4 classes)",
    "eegmat_count": "EEGMAT EEG, good vs bad counter (task recordings; rest recordings unlabelled)",
    "eegmat_rest_task": "EEGMAT EEG, rest vs task (subjects with both; the others unlabelled)",
    "cinc2021": "CinC 2021 12-lead ECG, multi-label SNOMED-CT (macro over codes present in the test split)",
}

# runs at these commits fine-tuned with dropout on and 150 (or the stated) steps at every label fraction
EARLIER_PROCEDURE = {"aa03379842", "db1b842776"}


def _ms(s: pd.Series) -> str:
    s = s.dropna().astype(float)
    if s.empty:
        return "–"
    return f"{s.mean():.3f} ± {s.std(ddof=0):.3f}" if len(s) > 1 else f"{s.mean():.3f}"


def _paired(df: pd.DataFrame, frac: float, key: str) -> str:
    """pretrained − random_init, paired by seed: mean ± standard error (n seeds)."""
    a = df[(df.method == "pretrained") & (df.label_fraction == frac)].set_index("seed")[key]
    b = df[(df.method == "random_init") & (df.label_fraction == frac)].set_index("seed")[key]
    d = (a - b).dropna().astype(float)
    if len(d) < 2:
        return "–"
    return f"{100 * d.mean():+.1f} ± {100 * d.std(ddof=1) / np.sqrt(len(d)):.1f} (n={len(d)})"


def task_section(name: str, df: pd.DataFrame) -> list[str]:
    r0 = df.iloc[0]
    earlier = " — earlier fine-tuning procedure" if str(r0.commit)[:10] in EARLIER_PROCEDURE else ""
    out = [f"#### {TASKS.get(r0.task, r0.task)} (`{name}`{earlier})", "",
           "| method | label fraction | labelled windows | recording macro-F1 | recording AUROC | window macro-F1 "
           "| window AUROC |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for (method, frac), g in df.groupby(["method", "label_fraction"], sort=False):
        out.append(f"| {method} | {frac:g} | {int(g.n_labelled.median())} | {_ms(g.recording_macro_f1)} | "
                   f"{_ms(g.recording_auroc)} | {_ms(g.macro_f1)} | {_ms(g.auroc)} |")
    fracs = sorted(df.label_fraction.unique())
    if {"pretrained", "random_init"} <= set(df.method):
        out += ["", "Pre-trained minus random-init fine-tuning, paired over seeds (points, mean ± s.e.): "
                + "; ".join(f"{f:g} labels: macro-F1 {_paired(df, f, 'recording_macro_f1')}, "
                            f"AUROC {_paired(df, f, 'recording_auroc')}" for f in fracs) + "."]
    if str(r0.settings) == "pipeline defaults":
        rss = f", peak RSS {float(r0.run_peak_rss_mb):.0f} MB" if "run_peak_rss_mb" in df else ""
        out += ["", f"This is `polyclr run timeseries --data ../shared/data/{r0.dataset}` with no settings: "
                f"{float(r0.run_wall_seconds) / 60:.1f} min wall (target: under 30 min on 2 cores), "
                f"{float(r0.run_cpu_seconds) / 60:.1f} min CPU (user + sys){rss}."]
    out += ["", f"{df.seed.nunique()} seeds; {int(r0.n_pretrain)} pre-training windows, {int(r0.n_train)} labelled "
            f"training and {int(r0.n_test)} test windows (patient-disjoint); settings: {r0.settings}; "
            f"pre-training {float(r0.pretrain_seconds):.0f} s ({int(r0.pretrain_steps)} steps), peak RSS "
            f"{float(r0.peak_rss_mb):.0f} MB; whole run {float(r0.run_wall_seconds) / 60:.1f} min wall, "
            f"{float(r0.run_cpu_seconds) / 60:.1f} min CPU, load average {r0.load_avg_start}–{r0.load_avg_end} on "
            f"{r0.machine} ({int(r0.threads)} threads); commit `{str(r0.commit)[:10]}`, {r0.date}.", ""]
    return out


def validation_section(name: str, df: pd.DataFrame) -> list[str]:
    """Fine-tuning variants scored on the validation patients (the settings were chosen here)."""
    r0 = df.iloc[0]
    items = {v: str(g.settings.iloc[0]).split(";") for v, g in df.groupby("variant", sort=False)}
    common = set.intersection(*(set(i) for i in items.values()))
    out = [f"#### Fine-tuning settings on the validation split (`{name}`)", "",
           "Variants: " + "; ".join(f"`{v}` = {', '.join(k for k in i if k not in common) or 'the common settings'}"
                                    for v, i in items.items()) + ".", "",
           "| variant | label fraction | method | recording macro-F1 | recording AUROC | pre-trained − random init, "
           "macro-F1 (paired) |", "| --- | --- | --- | --- | --- | --- |"]
    for (variant, frac), g in df.groupby(["variant", "label_fraction"], sort=False):
        for method, gm in g.groupby("method", sort=False):
            diff = _paired(g, frac, "recording_macro_f1") if method == "pretrained" else ""
            out.append(f"| {variant} | {frac:g} | {method} | {_ms(gm.recording_macro_f1)} | "
                       f"{_ms(gm.recording_auroc)} | {diff} |")
    out += ["", f"Scored on {int(r0.n_val_windows)} validation windows of patients held out of training "
            f"and pre-training (the test patients take no part); {int(r0.n_train_windows)} training windows, "
            f"{int(r0.pretrain_steps)} pre-training steps; variants fine-tune the same pre-trained encoder "
            f"(random init: the variant's settings but the encoder's learning-rate scale, which applies to "
            f"pre-trained encoders only; rows of a variant without random init reuse another's; the common "
            f"settings are the defaults at the run's commit: LP-FT head, dropout on, encoder lr x1, no class "
            f"weights). "
            f"Common settings: {';'.join(k for k in items[r0.variant] if k in common)}; {r0.machine} ({int(r0.threads)} threads); commit `{str(r0.commit)[:10]}`, "
            f"{r0.date}. Produced by `benchmarks/timeseries_clinical_validation.py`.", ""]
    return out


def budget_section(df: pd.DataFrame) -> list[str]:
    """CPU seconds of the default CinC 2017 run, projected from its parts."""
    r = df.iloc[-1]
    parts = {k.removeprefix("cpu_s_"): float(v) for k, v in r.items()
             if str(k).startswith("cpu_s_") and k != "cpu_s_total_projected"}
    total = float(r.cpu_s_total_projected)
    return ["#### Budget of the default run (`benchmarks/timeseries_clinical_budget.py`)", "",
            f"`polyclr run timeseries --data ../shared/data/cinc2017_af_ecg` with no settings needs "
            f"{total:.0f} CPU seconds ({total / 60:.1f} min of one core; target: under 30 min wall on 2 cores), "
            f"projected from its parts measured in CPU time at one thread: " + ", ".join(
                f"{k.replace('_', ' ')} {v:.0f} s" for k, v in parts.items()) + f" ({int(r.pretrain_steps)} "
            f"pre-training steps; {int(r.finetune_runs)} fine-tuning runs, {int(r.finetune_steps_total)} steps in "
            f"all). A projection, not a timed run: the shared CPU's load average was {r.load_avg} on "
            f"{r.machine}; commit `{str(r.commit)[:10]}`, {r.date}.", ""]


def default_run_section(df: pd.DataFrame) -> list[str]:
    """The timed default CinC 2017 run (``benchmarks/timeseries_run_default.py``)."""
    r = df.iloc[-1]
    wall, cpu, target = float(r.seconds) / 60, float(r.cpu_seconds) / 60, float(r.target_minutes)
    one_thread = str(r.threads) == "1"
    if str(r.status) != "finished":
        verdict = "not shown: the run did not finish"
    elif wall < target or (one_thread and cpu < target):
        verdict = "met" + ("" if wall < target else " on CPU time (one thread)")
    else:
        verdict = "not met"
    return ["#### The default run, timed (`benchmarks/timeseries_run_default.py`)", "",
            "| threads | status | wall (min) | CPU user+sys (min) | peak RSS (MB) | load average (mean / max) | "
            f"target < {target:.0f} min on 2 cores | commit |",
            "| ---: | --- | ---: | ---: | ---: | ---: | --- | --- |",
            f"| {r.threads} | {r.status} | {wall:.1f} | {cpu:.1f} | {float(r.peak_rss_mb):.0f} | "
            f"{r.load_mean} / {r.load_max} | {verdict} | `{str(r.commit)[:10]}` |", "",
            f"`polyclr run timeseries --data ../shared/data/cinc2017_af_ecg` with no settings, under "
            f"`/usr/bin/time -v`, on {r.machine}, {r.date}. With one thread (OMP_NUM_THREADS=1) the process's "
            "CPU time is the time it needs on one idle core, so it bounds the time on two; the wall time "
            "under a load average above 2 is inflated by the other jobs on the machine.", ""]


def io_section(df: pd.DataFrame, stream: pd.DataFrame | None) -> list[str]:
    out = ["#### Reading recordings (`benchmarks/timeseries_io.py`)", "",
           "| test | file | MB | raw bytes s | read + window s | ratio (target ≤ 3) | × real time |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in df[df.test == "read_window_vs_raw"].itertuples():
        out.append(f"| one core, median of {int(r.rounds)} interleaved rounds | {r.file} | {r.mb} | "
                   f"{float(r.raw_seconds_median):.3f} | {float(r.read_window_seconds_median):.3f} | "
                   f"{float(r.ratio):.2f} | {int(r.realtime_factor)} |")
    r = df.iloc[0]
    out += ["", f"{r.machine}, commit `{str(r.commit)[:10]}`, {r.date}, load average {r.get('load_avg', '?')} "
            "(a shared CPU: the ratio grows with the load, since reading bytes is memory-bound and windowing "
            "compute-bound). Files generated by the script (edfio / wfdb writers); both timings from the page "
            "cache."]
    if stream is not None and len(stream):
        r = stream.iloc[0]
        out += ["", f"24-hour 2-channel 250 Hz WFDB record ({r.dat_mb} MB on disk, {r.float32_whole_record_mb} MB "
                f"as float32), {int(r.windows)} windows streamed from disk: TS2Vec pre-training "
                f"{int(r.pretrain_steps)} steps, peak RSS {float(r.peak_rss_mb):.0f} MB (target < 2048 MB; "
                f"the process RSS includes torch and Lightning). {r.note}; commit `{str(r.commit)[:10]}`, {r.date}."]
    return out + [""]


def main() -> None:
    parts = ["### Time series: clinical recordings (WFDB / EDF)", "",
             "Real data from `../shared/data` (see the data cards); patient/subject-disjoint test splits; "
             "pre-training on every training-split and every unlabelled recording; each recording's prediction "
             "is the mean of its windows' probabilities. Produced by `benchmarks/timeseries_clinical.py`; "
             "settings are the pipeline defaults unless the settings column says otherwise (no test-split "
             "tuning). Runs whose settings are not the pipeline defaults use reduced budgets (a small encoder, fewer "
             "pre-training and fine-tuning steps, one thread) because the CPU was shared with other jobs; they are "
             "not the default settings' results. Runs marked *earlier fine-tuning procedure* predate the fine-tuning "
             "defaults chosen on the validation split (below). A commit id written before the branch "
             "was rebased onto main names the pre-rebase commit (changes merged from main since then, e.g. "
             "pre-training augmentations drawn per sample, change random draws, not the method).", ""]
    runs = [p for p in sorted(RES.glob("timeseries_clinical_*.csv"))
            if "_validation_" not in p.name and p.name != "timeseries_clinical_budget.csv"]
    for p in runs:
        parts += task_section(p.stem.removeprefix("timeseries_clinical_"), pd.read_csv(p))
    for p in sorted(RES.glob("timeseries_clinical_validation_*.csv")):
        parts += validation_section(p.stem.removeprefix("timeseries_clinical_validation_"), pd.read_csv(p))
    if (RES / "timeseries_clinical_budget.csv").is_file():
        parts += budget_section(pd.read_csv(RES / "timeseries_clinical_budget.csv"))
    if (RES / "timeseries_run_cinc2017.csv").is_file():
        parts += default_run_section(pd.read_csv(RES / "timeseries_run_cinc2017.csv"))
    io, stream = RES / "timeseries_io.csv", RES / "timeseries_io_stream.csv"
    if io.is_file():
        parts += io_section(pd.read_csv(io), pd.read_csv(stream) if stream.is_file() else None)
    dest = ROOT / "docs" / "results_timeseries_clinical.md"
    dest.write_text("\n".join(parts).rstrip() + "\n")
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
