"""The real-MRI (MSD Hippocampus) part of docs/results_volume.md, from benchmarks/results CSVs:
label efficiency with paired margins and their standard errors, the validation choice, predict
speed and memory, and the `polyclr run volume` wall time. Called by volume_table.py."""

from __future__ import annotations

import csv
import math
from pathlib import Path

RES = Path(__file__).resolve().parent / "results"
TAG = "_hippocampus"
NNUNET = 0.90  # nnU-Net on MSD Hippocampus: Dice near 0.90 for both classes (Isensee et al. 2021)


def _read(name: str) -> list[dict[str, str]]:
    p = RES / name
    if not p.is_file():
        return []
    with open(p, newline="") as fh:
        return list(csv.DictReader(fh))


def _mean_se(xs: list[float]) -> tuple[float, float]:
    xs = [x for x in xs if not math.isnan(x)]
    if not xs:
        return math.nan, math.nan
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, math.nan
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))
    return m, sd / math.sqrt(len(xs))


def _f(v: float, d: int = 3) -> str:
    return "–" if math.isnan(v) else f"{v:.{d}f}"


def _order(method: str) -> tuple[int, str]:
    """Table order: random init, the strategies from weakest to full, then fully supervised
    (``GD+LD@x8``: GD+LD pre-trained at 8x the base budget, beside GD+LD)."""
    base = method.split("@")[0]
    return {"random_init": 0, "GR": 1, "GD-": 2, "GD": 3, "GD+LD": 4, "fully_supervised": 9}.get(base, 5), method


def _dice_table(groups: dict[tuple[str, int], list[dict[str, str]]], classes: list[str]) -> list[str]:
    """One Markdown row per (method, K): runs, mean Dice ± SE, per-class Dice and HD95 means."""
    lines = ["| method | K | runs | Dice mean | " + " | ".join(f"Dice {c}" for c in classes) + " | "
             + " | ".join(f"HD95 {c} (mm)" for c in classes) + " |",
             "| --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in classes * 2) + " |"]
    for (m, k), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], _order(kv[0][0]))):
        dm, dse = _mean_se([float(r["dice_mean"]) for r in rs])
        cells = [f"{_f(dm)} ± {_f(dse)}"]
        cells += [_f(_mean_se([float(r[f"dice_{c}"]) for r in rs])[0]) for c in classes]
        cells += [_f(_mean_se([float(r[f"hd95_mm_{c}"]) for r in rs])[0], 2) for c in classes]
        lines.append(f"| {m} | {k} | {len(rs)} | " + " | ".join(cells) + " |")
    return lines


def _budget_note(methods: set[str], settings: str) -> str:
    """What ``@xN`` in a method name means, from the settings' base budget."""
    scales = sorted({m.split("@x")[1] for m in methods if "@x" in m}, key=float)
    if not scales or not settings.startswith("pretrain "):
        return ""
    g, loc = (int(x) for x in settings.split()[1].split("/"))
    return " " + "; ".join(f"`@x{s}`: pre-trained {s}x the base budget ({int(g * float(s))} global + "
                           f"{int(loc * float(s))} local steps for GD+LD, the global steps alone for GR, GD-, GD)"
                           for s in scales) + "."


def label_efficiency() -> list[str]:
    rows, tag = _read(f"volume_label_efficiency{TAG}.csv"), TAG
    if not rows:  # only the seed-0 part of volume_hippocampus.sh finished
        rows, tag = _read(f"volume_label_efficiency{TAG}_seed0.csv"), f"{TAG}_seed0"
    if not rows:
        return []
    classes = [k[5:] for k in rows[0] if k.startswith("dice_") and k != "dice_mean"]
    r0 = rows[0]
    lines = ["### Real MRI: MSD Hippocampus (200 labelled T1 volumes)", "",
             f"`benchmarks/volume_label_efficiency.py --stage test --data ../shared/data/msd_hippocampus` "
             f"(rows: `results/volume_label_efficiency{tag}.csv`). Fixed test split of "
             f"{r0['scored_volumes']} volumes (seed 0); pre-training on the {r0['pretrain_volumes']} training "
             "volumes with their labels unused; fine-tuning on K labelled training volumes, fixed "
             "combinations x seeds, each paired with random init on the same volumes and seed. "
             "Mean ± standard error over runs; HD95 = MONAI 95 % Hausdorff distance in mm (mean over "
             "test volumes where the class is present in both maps).", ""]
    groups: dict[tuple[str, int], list[dict[str, str]]] = {}
    steps = next((r["finetune_steps"] for r in rows if r["method"] != "fully_supervised"), r0["finetune_steps"])
    for r in rows:  # longer fully supervised budgets: in their own table below
        if r["method"] != "fully_supervised" or r["finetune_steps"] == steps:
            groups.setdefault((r["method"], int(r["labeled_volumes"])), []).append(r)
    lines += _dice_table(groups, classes)
    if any(m not in ("random_init", "fully_supervised") for m, _ in groups):
        lines += ["", "Paired margin over random init (same labelled volumes, same seed):", "",
                  "| method | K | runs | Dice margin (mean ± SE) | wins | target ≥ 0.05 |",
                  "| --- | ---: | ---: | ---: | ---: | --- |"]
    base = {(r["labeled_volumes"], r["combination"], r["seed"]): float(r["dice_mean"])
            for r in rows if r["method"] == "random_init"}
    for (m, k), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], _order(kv[0][0]))):
        if m in ("random_init", "fully_supervised"):
            continue
        d = [float(r["dice_mean"]) - base[key] for r in rs
             if (key := (r["labeled_volumes"], r["combination"], r["seed"])) in base]
        mean, se = _mean_se(d)
        ok = "met" if mean >= 0.05 else "not met"
        lines.append(f"| {m} | {k} | {len(d)} | {mean:+.3f} ± {_f(se)} | {sum(x > 0 for x in d)}/{len(d)} | {ok} |")
    lines += fully_supervised(rows, tag)
    if tag.endswith("_seed0"):
        lines += ["", "Only seed 0 ran to the end (3 fixed combinations x 1 seed = 3 paired runs per K); "
                  "seeds 1 and 2 were stopped so that the run finished within the session on the shared "
                  "CPU, so the target's >= 9 paired runs are not reached."]
    if not list(RES.glob(f"volume_validation{TAG}*.csv")):
        lines += ["", "No validation grid ran for these rows: fine-tuning uses the library defaults and "
                  "the pre-training budget was fixed in advance, so nothing was tuned, on validation "
                  "or on test volumes."]
    r1 = next((r for r in rows if r["method"] != "fully_supervised"), r0)
    settings = next((s["settings"] for s in _read(f"volume_label_efficiency_summary{tag}.csv")), "see CSV")
    lines += ["", f"Settings: {settings}; fine-tuning {r1['finetune_steps']} steps "
              f"at lr {float(r1['finetune_lr']):g}, batch 16 slices. Machine: {r0['machine']}; "
              f"{r0['threads']} thread(s) per process; commit `{r0['commit']}`; {r0['date']}; wall "
              f"{float(r0['wall_seconds']) / 60:.0f} min (longest process)."
              + _budget_note({m for m, _ in groups}, settings), ""]
    return lines + validation(r1["finetune_steps"])


def fully_supervised(rows: list[dict[str, str]], tag: str) -> list[str]:
    """The fully supervised reference at each fine-tuning budget measured, beside nnU-Net."""
    full = [r for r in rows if r["method"] == "fully_supervised"]
    full += [r for r in _read(f"volume_label_efficiency{TAG}_full.csv") if r["method"] == "fully_supervised"]
    if not full:
        return []
    classes = [k[5:] for k in full[0] if k.startswith("dice_") and k != "dice_mean"]
    lines = ["", f"Fully supervised reference (random init, all {full[0]['labeled_volumes']} training volumes) "
             f"beside nnU-Net, which reaches Dice near {NNUNET:.2f} for both classes on MSD Hippocampus:", "",
             "| fine-tuning steps | slices seen | Dice mean | " + " | ".join(f"Dice {c}" for c in classes)
             + " | gap to nnU-Net | CSV |", "| ---: | ---: | ---: | " + " | ".join("---:" for _ in classes)
             + " | ---: | --- |"]
    by_steps: dict[int, list[dict[str, str]]] = {}
    for r in full:
        by_steps.setdefault(int(r["finetune_steps"]), []).append(r)
    means = {}
    for steps, rs in sorted(by_steps.items()):
        src = f"volume_label_efficiency{tag if rs[0] in rows else TAG + '_full'}.csv"
        dm, se = _mean_se([float(r["dice_mean"]) for r in rs])
        means[steps] = dm
        lines.append(f"| {steps} | {steps * 16} | {dm:.3f}{f' ± {se:.3f}' if len(rs) > 1 else ''} "
                     f"({len(rs)} seed{'s' if len(rs) > 1 else ''}) | "
                     + " | ".join(f"{_mean_se([float(r[f'dice_{c}']) for r in rs])[0]:.3f}" for c in classes)
                     + f" | {NNUNET - dm:+.3f} | `{src}` |")
    (s_lo, lo), (s_hi, hi) = min(means.items()), max(means.items())
    trend = (f"Dice rose from {lo:.3f} at {s_lo} steps to {hi:.3f} at {s_hi} steps: the longer budget "
             f"closed {100 * (hi - lo) / (NNUNET - lo):.0f} % of the gap. " if len(means) > 1 else "")
    return lines + ["", f"The gap is larger than 0.05. {trend}It comes from the budget and the model, not the data: "
                    "polyclr trains a small 2D BasicUNet (features 16-128) on 48 x 64 axial slices, 16 "
                    "slices a step for a few hundred to a few thousand steps on one CPU thread, with "
                    "light augmentation and no post-processing, while nnU-Net trains 3D U-Nets on the "
                    "whole volumes for 1000 epochs x 250 steps with heavy augmentation and ensembles "
                    "five cross-validation folds; the hippocampus is a small, thin 3D structure that "
                    "single 2D slices describe poorly."]


def validation(test_steps: str) -> list[str]:
    """Every validation grid run (``results/volume_validation_hippocampus*.csv``), one line per
    method x K x fine-tuning setting, with the paired margin's standard error; the choice among
    the runs at the test stage's fine-tuning steps ``test_steps``."""
    files = sorted(RES.glob(f"volume_validation{TAG}*.csv"))
    rows = [dict(r, csv=p.name) for p in files for r in _read(p.name)]
    if not rows:
        return []
    own = not any(r.get("pretrained_on") for r in rows)  # pre-trained in the validation stage itself
    seen = ("pre-training used the other two thirds only, so it saw neither validation nor test volumes"
            if own else "the pre-trained initialisation is the test stage's (its pre-training saw the "
            "validation images, never their labels nor any test volume)")
    lines = ["Settings were chosen on validation volumes: a third of the training volumes (patient-disjoint, "
             f"seed 1), scored after fine-tuning on K volumes of the other two thirds; {seen}. "
             + ", ".join(f"`results/{p.name}`" for p in files) + ":", "",
             "| method | K | fine-tune steps | lr | encoder lr | runs | Dice | margin vs random init (± SE) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        enc = r["settings"].split("pre-trained encoder lr ")[1] if "encoder lr" in r["settings"] else "x1"
        enc = "–" if r["method"] == "random_init" else enc
        n = int(r["runs"])
        marg = "–"
        if r["margin_vs_random"]:
            se = float(r["margin_std"]) / math.sqrt(n - 1) if n > 1 else math.nan
            marg = f"{float(r['margin_vs_random']):+.3f} ± {_f(se)}"
        lines.append(f"| {r['method']} | {r['labeled_volumes']} | {r['finetune_steps']} | "
                     f"{float(r['finetune_lr']):g} | {enc} | {n} | {float(r['dice_mean']):.3f} | {marg} |")
    other = sorted({int(r["finetune_steps"]) for r in rows if r["finetune_steps"] != test_steps})
    diag = (f" Rows at {', '.join(map(str, other))} fine-tuning steps are a diagnostic of the fine-tuning budget "
            f"(the test stage fine-tunes {test_steps} steps); they chose nothing." if other else "")
    return lines + ["", _choice([r for r in rows if r["finetune_steps"] == test_steps]) + diag, ""]


def _choice(rows: list[dict[str, str]]) -> str:
    """The rule the test stage follows: the pre-trained initialisation (and encoder lr) with the
    largest validation margin over random init, averaged over K."""
    by: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if r["margin_vs_random"]:
            by.setdefault((r["method"], r["settings"]), []).append(float(r["margin_vs_random"]))
    if not by:
        return ""
    (m, st), v = max(by.items(), key=lambda kv: sum(kv[1]) / len(kv[1]))
    enc = st.split("pre-trained encoder lr ")[1] if "encoder lr" in st else "x1"
    return (f"Rule: the test stage fine-tunes the initialisation with the largest validation margin over "
            f"random init, averaged over K: {m} (encoder lr {enc}; mean margin {sum(v) / len(v):+.3f}); the "
            "test stage pre-trains every strategy at that budget." + _budget_note({r["method"] for r in rows}, st))


def predict_speed() -> list[str]:
    rows = _read("volume_predict_speed.csv")
    if not rows:
        return []
    lines = ["### `polyclr predict volume` on CPU (`benchmarks/volume_predict_speed.py`)", "",
             "Whole CLI command in a fresh process (validation, preprocessing, inference, inverse "
             "resampling, writing); peak RSS of that process. Marginal scans / min: the extra scans over "
             "the extra seconds against the same command on its first scan alone (the command's start, "
             "mostly importing MONAI, left out).", "",
             "| scans | count | seconds | scans / min | marginal scans / min | CPU s (user + sys) | load average "
             "| peak RSS (MB) | RSS target (CT-size: <= 4 GB) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        ok = ("met" if float(r["peak_rss_mb"]) <= 4096 else "not met") if r["case"].startswith("generated CT") else "–"
        lines.append(f"| {r['case']} | {r['scans']} | {r['seconds']} | {r['scans_per_minute']} | "
                     f"{r.get('marginal_scans_per_minute') or '–'} | "
                     f"{r.get('cpu_seconds') or '–'} | {r.get('load_avg') or '–'} | {r['peak_rss_mb']} | {ok} |")
    r0 = rows[0]
    return lines + ["", f"Machine: {r0['machine']}; {r0['threads']} threads; commit `{r0['commit']}`; {r0['date']}; "
                    "the CPU was shared with other jobs (load average when each case finished), so times are "
                    "pessimistic.", ""]


def run_timing() -> list[str]:
    """The default `polyclr run volume` on the hippocampus: time, CPU, memory, load, and its rows."""
    runs = [dict(r, csv=p.name) for p in sorted(RES.glob(f"volume_run{TAG}*.csv"))
            if not p.stem.endswith("_rows") for r in _read(p.name)]
    if not runs:
        return []
    runs.sort(key=lambda r: int(r["threads"]))
    r = runs[0]
    lines = ["### The default run on the hippocampus (`benchmarks/volume_run_default.py`)", "",
             f"`polyclr run volume --data ../shared/data/msd_hippocampus --out OUT` with no settings "
             f"(the data's plan, every default): {r['status']}, {r['rows']} rows ({r['methods']}; "
             f"K = {r['labeled_volumes'].replace(' ', ', ')}; fully supervised on all {r['train_volumes']} "
             f"training volumes), scored on its own {r['test_volumes']} test volumes.", "",
             "| threads | status | wall (min) | CPU user+sys (min) | peak RSS (MB) | load average (mean / max) "
             "| target < 60 min on 2 cores | commit |", "| ---: | --- | ---: | ---: | ---: | ---: | --- | --- |"]
    for x in runs:
        cpu_min, threads = float(x["cpu_seconds"]) / 60, int(x["threads"])
        # one thread keeps the process on one core at a time, so its CPU time is the wall time
        # it needs on one idle core (an upper bound for two)
        verdict = ("not shown: the run was stopped" if x["status"] != "finished" else
                   "met" if cpu_min < 60 and (threads == 1 or float(x["seconds"]) < 3600) else
                   "not shown" if threads == 1 else "not met")
        lines.append(f"| {threads} | {x['status']} | {float(x['seconds']) / 60:.1f} | {cpu_min:.1f} | "
                     f"{x['peak_rss_mb']} | {x['load_mean']} / {x['load_max']} | {verdict} | `{x['commit'][:10]}` |")
    lines += ["", f"Machine: {r['machine']} (shared with other jobs: the load average is over its 2 cores); "
              f"{r['date']}. On one thread (OMP_NUM_THREADS=1) the process's CPU time is the wall time it "
              "needs on one idle core, so it bounds the time on two; wall times under a high load average "
              "are inflated by the other jobs."
              + (" A stopped run was ended by hand before it finished (the session's time ran out); its "
                 "times cover only the stages it did." if any(x["status"] != "finished" for x in runs) else ""), ""]
    newest = max((x for x in runs if x["status"] == "finished"), key=lambda x: x["date"], default=None)
    return lines + (run_rows(newest["csv"].replace(".csv", "_rows.csv")) if newest else [])


def run_rows(name: str) -> list[str]:
    """The default run's own Dice / HD95 rows (one combination and seed per method and K) from
    ``results/NAME``."""
    rows = _read(name)
    if not rows:
        return []
    classes = [k[5:] for k in rows[0] if k.startswith("dice_") and k != "dice_mean"]
    groups: dict[tuple[str, int], list[dict[str, str]]] = {}
    for r in rows:
        groups.setdefault((r["method"], int(r["labeled_volumes"])), []).append(r)
    lines = [f"Rows of the newest finished run (`results/{name}`, commit `{rows[0]['commit'][:10]}`, "
             f"{rows[0]['threads']} thread(s); mean ± SE over the combinations x seeds "
             "the defaults fine-tune):", ""]
    return lines + _dice_table(groups, classes) + [""]


def section() -> list[str]:
    return label_efficiency() + run_timing() + predict_speed()
