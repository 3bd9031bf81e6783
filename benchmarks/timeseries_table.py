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


def _ms(s: pd.Series, digits: int = 3) -> str:
    s = s.dropna().astype(float)
    if s.empty:
        return "–"
    return f"{s.mean():.{digits}f} ± {s.std(ddof=0):.{digits}f}" if len(s) > 1 else f"{s.mean():.{digits}f}"


def _ours_public(g: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """polyclr's rows and the public TS2Vec code's rows of one dataset."""
    return g[g.implementation == "polyclr"], g[g.implementation != "polyclr"]


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


def _same_threads(ours: pd.DataFrame, ref: pd.DataFrame) -> bool:
    """Both sides recorded the same single thread count (older rows have no ``threads``)."""
    if "threads" not in ours or "threads" not in ref:
        return False
    t = pd.to_numeric(pd.concat([ours.threads, ref.threads]), errors="coerce")  # "not recorded" -> NaN
    return bool(t.notna().all() and t.nunique() == 1)


def _paired(g: pd.DataFrame) -> pd.DataFrame:
    """One row per seed run by both implementations: ``<column>_ours`` / ``<column>_pub``."""
    ours, pub = _ours_public(g)
    return ours.merge(pub, on="seed", suffixes=("_ours", "_pub"))


# What was found on sets that miss the accuracy target (the numbers are in the diagnostics below).
PARITY_NOTES = {
    "Covid3Month_disc": "cause, mostly: input scaling. polyclr z-scores every set with TRAIN's mean/std; the "
    "public code's load_UCR z-scores only the sets on its hard-coded list of non-normalised UCR sets and reads "
    "this one (not on the list) unscaled. Its daily counts are heavy-tailed, so after z-scoring most series are "
    "nearly constant and their embeddings nearly coincide, and the RBF SVM falls towards the majority class. "
    "Each code loses about the same when given the other's scaling, and with the same scaling on both sides a "
    "smaller gap remains, not explained (diagnostics below; the linear probe shows none). No single default reproduces a per-name list, so polyclr keeps z-scoring every set",
    "JapaneseVowels": "no method difference found: the public code's treatment of unequal lengths (series "
    "centred in the padded width for training, embeddings max-pooled over the whole padded width) does not "
    "raise polyclr's accuracy on this set (diagnostics below), and the equal-length version meets the target",
    "PickupGestureWiimoteZ": "unequal lengths: the public code centres variable-length series in the padded "
    "width before training and max-pools the embedding over the whole padded width (padding included), "
    "polyclr end-pads and pools over the real timestamps only (see the diagnostics below)",
}


# How a set's rows were run where it differs from the rule above.
PARITY_RUN_NOTES = {
    "PickupGestureWiimoteZ_eq": "seed 1's two sides ran at the same time in two processes (not one after the "
    "other), at the same thread count",
}
# Why a set has no paired row.
PARITY_MISSING = {
    "ACSF1": "not run to completion: its TRAIN split has more than 100,000 values, so both sides train 600 "
    "iterations on 1460-step series, and two attempts did not finish in the time this benchmark had on the "
    "shared 2-core CPU (they were stopped; in the first, polyclr's process, larger than the public code's, was "
    "ended by the machine's out-of-memory killer)",
}
# polyclr's TS2Vec method: rows from commits where these files' code (docstrings and comments aside)
# equals HEAD's ran the same method.
METHOD_FILES = ("polyclr/modalities/timeseries/objectives.py", "polyclr/modalities/timeseries/encoders.py",
                "polyclr/modalities/timeseries/losses.py")


def _git_ok(*args: str) -> bool | None:
    """Whether ``git args`` succeeds in this checkout (None without git or a repository)."""
    import subprocess

    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return None


def _wall_over_cpu(df: pd.DataFrame) -> str:
    """The spread of wall / CPU seconds of the child processes (how much the shared CPU stretched a row)."""
    if "child_cpu_seconds" not in df or df.child_cpu_seconds.isna().all():
        return ""
    r = (df.child_wall_seconds / df.child_cpu_seconds).dropna()
    return (f" (a child's wall time was {r.min():.1f}–{r.max():.1f}x its CPU time), and a time ratio whose rows "
            "ran under different load measures the load as much as the code: the child CPU column is the "
            "steadier comparison, though it also counts loading, embedding and the probes")


def _first_date(df: pd.DataFrame) -> str:
    """Since when rows carry child CPU seconds (older rows have none)."""
    rows = df[df.child_cpu_seconds.notna()] if "child_cpu_seconds" in df else df.iloc[:0]
    return f", recorded in rows from {rows.date.min()} on" if len(rows) else ", not recorded in these rows"


def _unpaired(df: pd.DataFrame) -> str:
    """Seeds one side ran that the other did not (left out of the paired table)."""
    out = []
    for name, g in df.groupby("dataset", sort=False):
        ours, pub = _ours_public(g)
        extra = ours[~ours.seed.isin(pub.seed)]
        if len(extra):
            out.append(f" {name}: polyclr also ran seed(s) {' '.join(str(int(v)) for v in extra.seed)} "
                       f"without a public run (SVM {_ms(extra.svm_accuracy)}, linear probe "
                       f"{_ms(extra.linear_probe_accuracy)}; all polyclr seeds: SVM {_ms(ours.svm_accuracy)}).")
    return "".join(out)


def _same_code(commit: str) -> bool:
    """Whether :data:`METHOD_FILES` at ``commit`` and at HEAD parse to the same code, docstrings aside."""
    import ast
    import subprocess

    def code(rev: str, path: str) -> str:
        src = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True).stdout
        tree = ast.parse(src)
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
        return ast.dump(tree)

    return all(code(commit, p) == code("HEAD", p) for p in METHOD_FILES)


def _commit_label(c: str) -> str:
    """``c``, marked when it is not in HEAD's history (a rebase since), with whether the TS2Vec code matches."""
    if _git_ok("merge-base", "--is-ancestor", c, "HEAD") is not False:
        return c
    return f"{c} (before a rebase; TS2Vec objective/encoder code {'as' if _same_code(c) else 'unlike'} here)"


def _pre_rebase(df: pd.DataFrame) -> str:
    """Rows whose commit is not in HEAD's history (made before this work was rebased onto main)."""
    commits = list(dict.fromkeys(str(c)[:7] for c in df.commit))
    if _git_ok("rev-parse", "HEAD") is not True:
        return ""
    off = [c for c in commits if not _git_ok("merge-base", "--is-ancestor", c, "HEAD")]
    if not off:
        return ""
    same = [c for c in off if _same_code(c)]
    n = int(df.commit.astype(str).str[:7].isin(off).sum())
    differ = [c for c in off if c not in same]
    text = (f" {n} rows carry commit(s) {', '.join(off)}, not in the history of this table's commit: this work "
            "before it was rebased onto main.")
    if same:
        text += (f" At {', '.join(same)} the code of polyclr's TS2Vec objective, encoder and loss (docstrings "
                 "aside) is the same as here.")
    if differ:
        text += (f" At {', '.join(differ)} the code of polyclr's TS2Vec objective and encoder differs from this "
                 "commit's (`git diff <commit> HEAD -- "
                 f"{' '.join(METHOD_FILES)}`): these rows measure that code, not this commit's.")
    if "4903a06" in off:
        text += " At 4903a06 the SVM probe had no libsvm iteration cap (the public grid's is 10^7)."
    return text


def _diagnostics() -> list[str]:
    """Sentences from the diagnostic CSVs (input scaling, variable-length treatment), if present."""
    out = []
    main = pd.read_csv(RES / "timeseries_ts2vec_parity.csv")
    given = {"raw": "the archive's unscaled values (what the public code reads for this set)",
             "zscore": "TRAIN-z-scored values (what polyclr reads for every set)"}
    for scaling, what in given.items():
        path = RES / f"timeseries_ts2vec_parity_scaling_{scaling}.csv"
        if not path.is_file():
            continue
        for (name, impl), g in pd.read_csv(path).groupby(["dataset", "implementation"], sort=False):
            same = main[(main.dataset == name) & main.seed.isin(g.seed)]
            own, other = same[same.implementation == impl], same[same.implementation != impl]
            who, them = ("polyclr", "the public code") if impl == "polyclr" else ("the public code", "polyclr")
            out.append(f"{name}, {who} given {what}: SVM accuracy {_ms(g.svm_accuracy)} (seeds "
                       f"{' '.join(str(v) for v in g.seed)}; `{path.name}`), against {_ms(own.svm_accuracy)} "
                       f"with its own scaling and {_ms(other.svm_accuracy)} for {them} on the same seeds.")
    path = RES / "timeseries_ts2vec_parity_head_check.csv"
    if path.is_file():  # the same (set, seed) run by the code of the table's rows and by a later commit
        for (name, seed), g in pd.read_csv(path).groupby(["dataset", "seed"], sort=False):
            cells = [f"at {_commit_label(str(c)[:7])} SVM {_ms(x.svm_accuracy)}, pre-training {_ms(x.pretrain_seconds, 1)} s wall / "
                     f"{_ms(x.child_cpu_seconds, 1)} s child CPU ({len(x)} runs)" for c, x in g.groupby("commit", sort=False)]
            out.append(f"{name} seed {seed}, polyclr alone, the commits alternating (`{path.name}`): "
                       + "; ".join(cells) + ".")
    path = RES / "timeseries_ts2vec_variable_length.csv"
    if path.is_file():
        labels = {"polyclr": "as is", "pool_padded": "pooled over the padded width",
                  "centred_pool_padded": "trained on centred series and pooled over the padded width"}
        for name, g in pd.read_csv(path).groupby("dataset", sort=False):
            cells = [f"{labels.get(v, v)} {_ms(x.svm_accuracy)} (linear probe {_ms(x.linear_probe_accuracy)})"
                     for v, x in g.groupby("variant", sort=False)]
            out.append(f"{name}, polyclr's TS2Vec (seeds {' '.join(str(v) for v in sorted(g.seed.unique()))}; "
                       f"`{path.name}`), SVM accuracy: " + "; ".join(cells) + ".")
    return ["", "Diagnostics: " + " ".join(out)] if out else []


def _aeon_sets() -> list[str]:
    """Names of the classification sets in aeon's wheel (as the parity benchmark finds them)."""
    try:
        from benchmarks.timeseries_ts2vec_parity import aeon_classification_sets
    except ImportError:
        from timeseries_ts2vec_parity import aeon_classification_sets
    return list(aeon_classification_sets())


def parity_section(df: pd.DataFrame) -> list[str]:
    """polyclr vs the public TS2Vec code on every aeon classification set (paired over seeds)."""
    out = ["### polyclr vs the public TS2Vec code on every classification set in aeon (same run, same seeds, "
           "same threads)", "",
           "| dataset | kind | train n × length × ch | iterations | polyclr SVM acc | public SVM acc "
           "| SVM diff ± s.e. (paired) | acc target | polyclr linear probe | public linear probe "
           "| polyclr pre-train s | public pre-train s | time ratio | child CPU s polyclr / public "
           "| peak RSS MB polyclr / public (growth) | seeds |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    miss_acc, miss_time, n_sets, n_paired, gaps = [], [], 0, 0, {}
    for name, g in df.groupby("dataset", sort=False):
        p = _paired(g)
        if p.empty:
            continue
        n_sets += 1
        r = p.iloc[0]
        kind = ("univariate" if r.channels_ours == 1 else "multivariate") + (
            ", equal" if str(r.equal_length_ours) == "True" else ", unequal")
        diff = p.svm_accuracy_ours.astype(float) - p.svm_accuracy_pub.astype(float)
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
        met = bool(diff.mean() >= -se - 1e-9) if len(diff) > 1 else None  # equality (to rounding) meets it
        n_paired += met is not None
        ratio = p.pretrain_seconds_ours.astype(float).mean() / p.pretrain_seconds_pub.astype(float).mean()
        if met is False:  # the mean gap in TEST series, to show its size
            miss_acc.append(name)
            gaps[name] = f"{-diff.mean() * int(r.n_test_ours):.1f} of {int(r.n_test_ours)} TEST series"
        if ratio > 0.5:
            miss_time.append(f"{name} ({ratio:.2f})")
        its = f"{int(r.iterations_ours)} / {int(r.iterations_pub)}"
        cpu = "–"
        if "child_cpu_seconds_ours" in p and p.child_cpu_seconds_ours.notna().any():
            cpu = f"{_ms(p.child_cpu_seconds_ours, 0)} / {_ms(p.child_cpu_seconds_pub, 0)}"
        mem = (f"{p.peak_rss_mb_ours.max():.0f} / {p.peak_rss_mb_pub.max():.0f} "
               f"(+{p.train_rss_mb_ours.max():.0f} / +{p.train_rss_mb_pub.max():.0f})")
        out.append(f"| {name} | {kind} | {int(r.n_train_ours)} × {int(r.length_ours)} × {int(r.channels_ours)} | "
                   f"{its} | {_ms(p.svm_accuracy_ours)} | {_ms(p.svm_accuracy_pub)} | {diff.mean():+.3f} ± {se:.3f} | "
                   f"{'–' if met is None else ('met' if met else '**not met**')} | "
                   f"{_ms(p.linear_probe_accuracy_ours)} | {_ms(p.linear_probe_accuracy_pub)} | "
                   f"{_ms(p.pretrain_seconds_ours, 1)} | {_ms(p.pretrain_seconds_pub, 1)} | {ratio:.2f} | {cpu} | {mem} | "
                   f"{' '.join(str(int(s)) for s in p.seed)} |")
    missing = [n for n in _aeon_sets() if n not in set(df.dataset[df.implementation == "polyclr"])
               or n not in set(df.dataset[df.implementation != "polyclr"])]
    for name in missing:
        out.append(f"| {name} | not run to completion{' (see below)' if name in PARITY_MISSING else ''} |"
                   + " – |" * 14)
    threads = ", ".join(str(t) for t in sorted(df.threads.unique()))
    out += ["", f"Accuracy target (polyclr's mean SVM accuracy >= the public code's mean minus one standard error "
            f"of the paired per-seed difference) met on {n_paired - len(miss_acc)} of the {n_paired} sets with >= 2 "
            "seeds"
            + (f"; not met on {', '.join(f'{n} (mean gap {gaps[n]})' for n in miss_acc)}." if miss_acc else ".")
            + "".join(f" {n}: {PARITY_NOTES[n]}." for n in miss_acc if n in PARITY_NOTES)
            + "".join(f" {n}: {PARITY_MISSING[n]}." for n in missing if n in PARITY_MISSING)
            + f" Pre-training time target (<= 0.5x the public code's, both at {threads} thread(s)) met on "
            f"{n_sets - len(miss_time)} of {n_sets}" + (f"; not met on {', '.join(miss_time)}." if miss_time else "."),
            "", "Both run with their own defaults from one configuration for all sets: TS2Vec's budget rule (200 "
            "iterations, 600 when TRAIN has more than 100,000 values), batch 8, lr 1e-3, 320-d, max_train_length "
            "3000; pre-trained on TRAIN, scored on TEST. SVM: RBF, C by 5-fold CV on TRAIN (the public code's own "
            "`fit_svm`; polyclr's `svm_probe`); linear probe: polyclr's logistic-regression probe on each side's "
            "embeddings. Mean ± std over the paired seeds listed. Pre-training seconds: wall time of the training "
            "call (polyclr's includes Lightning setup and its resumable checkpoints); child CPU s: user + sys "
            f"seconds of the whole child process (loading, pre-training, embedding, probes){_first_date(df)}. "
            "Peak RSS: the child process (libraries included); growth: "
            f"during pre-training. Threads: {threads} on both sides (torch.set_num_threads / the public code's "
            "init_dl_program, OMP/MKL/OpenBLAS_NUM_THREADS). Each (seed, set) runs both sides one after the "
            "other in alternating order, one child process each; several such runs went on at once, beside "
            "other jobs, on a shared 2-core CPU (1-minute load average when the rows finished: "
            f"{df.load_avg.min():.0f}–{df.load_avg.max():.0f}), so wall seconds are inflated and vary between rows"
            + _wall_over_cpu(df) + "."
            + "".join(f" {n}: {PARITY_RUN_NOTES[n]}." for n in PARITY_RUN_NOTES if n in set(df.dataset))
            + _unpaired(df) + _pre_rebase(df)
            + " `benchmarks/timeseries_ts2vec_parity.py --reference <ts2vec checkout>`."] + _diagnostics() + [""]
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
