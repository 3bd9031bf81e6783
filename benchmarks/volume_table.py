"""Write docs/results_volume.md from benchmarks/results/volume_*.csv."""

from __future__ import annotations

import csv
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "benchmarks" / "results"
ORDER = ["random_init", "GR", "GD-", "GD", "GD+LD", "fully_supervised"]


@cache
def _read(name: str) -> tuple[dict[str, str], ...]:
    """Rows of one results CSV, read once per process (the sections share files)."""
    p = RES / name
    if not p.is_file():
        return ()
    with open(p, newline="") as fh:
        return tuple(csv.DictReader(fh))


def _order(methods: set[str]) -> list[str]:
    base = [m for m in ORDER[:-1] if m in methods]
    rest = sorted(methods - set(ORDER))
    return base + rest + (["fully_supervised"] if "fully_supervised" in methods else [])


def _pm(mean: str, std: str) -> str:
    return f"{float(mean):.3f} ± {float(std):.3f}"


def label_efficiency(tag: str = "", intro: str = "") -> list[str]:
    summary = _read(f"volume_label_efficiency_summary{tag}.csv")
    if not summary or "scored_volumes" not in summary[0]:  # none yet, or the session-1 format
        return []
    r0 = summary[0]
    ks = sorted({int(r["labeled_volumes"]) for r in summary if r["method"] != "fully_supervised"})
    cell = {(r["method"], int(r["labeled_volumes"])): r for r in summary}
    margin = {(r["method"], int(r["labeled_volumes"])): r for r in _read(f"volume_paired_margin{tag}.csv")}
    lines = [
        intro + f"Test Dice (mean of grey and white matter) on {r0['scored_volumes']} held-out MNI152-derived "
        f"subjects (`{r0['variation']}` variation), mean ± std over fixed combinations of labelled "
        "volumes x training seeds (`benchmarks/volume_label_efficiency.py --stage test`); the margin "
        "is the paired difference to random init on the same labelled volumes and seed (wins = runs "
        "where pre-training was better):", "",
        "| method | " + " | ".join(f"K={k}: Dice | K={k}: margin vs random (wins)" for k in ks) + " |",
        "| --- |" + " --- | --- |" * len(ks),
    ]
    for m in _order({r["method"] for r in summary} - {"fully_supervised"}):
        cells = []
        for k in ks:
            c = cell.get((m, k))
            cells.append(f"{_pm(c['dice_mean'], c['dice_std'])} (n={c['runs']})" if c else "–")
            g = margin.get((m, k))
            cells.append(f"{float(g['margin_mean']):+.3f} ± {float(g['margin_std']):.3f} "
                         f"({g['wins']}/{g['runs']})" if g else "–")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    full = [r for r in summary if r["method"] == "fully_supervised"]
    if full:
        f = full[0]
        lines += ["", f"Fully supervised reference (random init, all {f['labeled_volumes']} training "
                  f"volumes, {f['runs']} seeds): Dice {_pm(f['dice_mean'], f['dice_std'])}."]
    lines += ["", f"Machine: {r0['machine']}; commit {r0['commit']}; {r0['date']}; wall time "
              f"{float(r0['wall_seconds']) / 60:.0f} min. Settings: {r0['settings']}; "
              f"{r0['finetune_steps']} fine-tuning steps"
              + (f" at lr {float(r0['finetune_lr']):g}" if r0.get("finetune_lr") else "")
              + f"; {r0['pretrain_volumes']} pre-training volumes "
              "(training subjects + unlabelled derived subjects + 2 real nibabel volumes; test "
              "subjects never). Settings were chosen on validation subjects (below), not on the "
              "test subjects.", ""]
    return lines


def _row(rows: tuple[dict[str, str], ...] | list[dict[str, str]], method: str, k: str | None = None
         ) -> dict[str, str] | None:
    """The first row of ``method`` (with ``k`` labelled volumes, if given), or None."""
    return next((r for r in rows if r["method"] == method and (k is None or r["labeled_volumes"] == k)), None)


def _best_margins(margins: tuple[dict[str, str], ...], recipe: str) -> list[str]:
    """One line per K: the best strategy's paired margin vs random init and whether it exceeds
    its spread."""
    lines = []
    for k in sorted({m["labeled_volumes"] for m in margins}, key=int):
        best = max((m for m in margins if m["labeled_volumes"] == k), key=lambda m: float(m["margin_mean"]))
        mean, std = float(best["margin_mean"]), float(best["margin_std"])
        verdict = "a gain larger than its spread" if mean > std else (
            "within the run-to-run spread" if abs(mean) <= std else "a loss larger than its spread")
        lines.append(f"- K={k} ({recipe}): best pre-training strategy {best['method']}, paired margin "
                     f"{mean:+.3f} ± {std:.3f} vs random init ({best['wins']}/{best['runs']} wins): {verdict}.")
    return lines


def findings() -> list[str]:
    """Numbers-driven summary of the label-efficiency and validation CSVs (no hand-typed values)."""
    margins = _read("volume_paired_margin.csv")
    summary = _read("volume_label_efficiency_summary.csv")
    val = _read("volume_validation.csv")
    if not margins or not summary or "scored_volumes" not in summary[0]:
        return []
    lines = ["**Findings.**", ""]
    lines += _best_margins(margins, "every layer at the fine-tuning lr")
    lines += _best_margins(_read("volume_paired_margin_encoder_lr01.csv"), "pre-trained encoder at lr x0.1")
    full, rnd = _row(summary, "fully_supervised"), _row(summary, "random_init", "1")
    if full and rnd:
        lines.append(f"- Head-room: random init with 1 labelled volume reaches {float(rnd['dice_mean']):.3f}, "
                     f"fully supervised ({full['labeled_volumes']} volumes) {float(full['dice_mean']):.3f}: "
                     f"only {float(full['dice_mean']) - float(rnd['dice_mean']):+.3f} Dice for "
                     "pre-training to recover on this data, far less than the paper's ACDC gap.")
    rnd2 = _row(summary, "random_init", "2")
    if full and rnd2 and float(rnd2["dice_mean"]) >= float(full["dice_mean"]) - 0.005:
        lines.append(f"- With 2 labelled volumes random init ({float(rnd2['dice_mean']):.3f}) already matches full "
                     f"supervision ({float(full['dice_mean']):.3f}): every derived subject comes from one "
                     "template, so labels from two of them cover what the unlabelled ones could add.")
    lrs = [r for r in _validation_rows()
           if r["method"] == "random_init" and r["finetune_steps"] == "200" and r["encoder_scale"] == 1.0]
    by_lr: dict[float, list[float]] = {}
    for r in lrs:
        by_lr.setdefault(float(r["finetune_lr"]), []).append(float(r["dice_mean"]))
    if len(by_lr) > 1:
        best_lr = max(by_lr, key=lambda k: sum(by_lr[k]) / len(by_lr[k]))
        lines.append("- Fine-tuning lr chosen on the validation subjects (random init, mean over K=1 and 2; "
                     "the same lr for every method): "
                     + ", ".join(f"{k:g}: {sum(v) / len(v):.3f}" for k, v in sorted(by_lr.items()))
                     + f" -> {best_lr:g}. " + _lr_margins(best_lr))
    short = [r for r in val if r["finetune_steps"] == min((r["finetune_steps"] for r in val), key=int)
             and r["margin_vs_random"]]
    if short:
        worst = min(float(r["margin_vs_random"]) for r in short)
        best = max(float(r["margin_vs_random"]) for r in short)
        lines.append(f"- Not a washed-out init: with a short fine-tuning budget ({short[0]['finetune_steps']} "
                     f"steps, validation subjects) every pre-trained init had a *negative* mean margin "
                     f"(margins {worst:+.3f} to {best:+.3f}); 4x longer pre-training shrank that "
                     "deficit but did not turn it into a gain. Longer fine-tuning mostly closes it.")
    return lines + [""]


def _encoder_scale(r: dict[str, str]) -> float:
    """The pre-trained encoder's fine-tuning lr multiplier recorded in a row's settings (1 if
    absent: every run before ``finetune.pretrained_encoder_lr_scale`` existed)."""
    m = re.search(r"pre-trained encoder lr x([0-9.eE+-]+)", r.get("settings", ""))
    return float(m.group(1)) if m else 1.0


def _validation_rows(variation: str = "strong") -> list[dict[str, str]]:
    """The step sweep (``volume_validation.csv``, lr 1e-3, the default then), the lr sweeps
    (``volume_validation_lr*.csv``) and the encoder-lr sweeps (``volume_validation_encoder*.csv``,
    ``volume_validation_multicontrast*.csv``), one file per process; only the rows of one
    reference-subject preset."""
    rows = [{**r, "finetune_lr": r.get("finetune_lr") or "0.001"} for r in _read("volume_validation.csv")]
    for p in sorted(RES.glob("volume_validation_*.csv")):
        rows += _read(p.name)
    return [{**r, "encoder_scale": _encoder_scale(r)} for r in rows if r.get("variation", "strong") == variation]


def _lr_margins(best_lr: float) -> str:
    """Range of the validation margins at 200 steps, at lr 1e-3 and at the chosen lr."""
    rows = [r for r in _validation_rows()
            if r["finetune_steps"] == "200" and r["margin_vs_random"] and r["encoder_scale"] == 1.0]
    out = []
    for lr in dict.fromkeys([1e-3, best_lr]):
        m = [float(r["margin_vs_random"]) for r in rows if float(r["finetune_lr"]) == lr]
        if m:
            out.append(f"lr {lr:g}: {min(m):+.3f} to {max(m):+.3f}")
    return ("Validation margins of the pre-trained inits vs random init: " + "; ".join(out) + ".") if out else ""


def validation(variation: str = "strong") -> list[str]:
    rows = _validation_rows(variation)
    if not rows:
        return []
    lines = [f"Settings selection (`{variation}` subjects) on 4 *validation* subjects carved out of the training subjects "
             "(pre-training without them; `--stage validation`; `runs` = fixed combinations of "
             "labelled volumes x seeds; `@x4` = 4x longer pre-training; lr = fine-tuning learning rate; "
             "encoder lr = multiplier of a pre-trained encoder's fine-tuning lr, "
             "`finetune.pretrained_encoder_lr_scale`; random init always trains at lr):", "",
             "| method | fine-tune steps | fine-tune lr | encoder lr | runs | K=1 Dice | K=1 margin (wins) "
             "| K=2 Dice | K=2 margin (wins) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]

    def variant(r: dict) -> tuple:
        return int(r["finetune_steps"]), float(r["finetune_lr"]), r["encoder_scale"], r["commit"]

    cell = {(r["method"], *variant(r), r["labeled_volumes"]): r for r in rows}
    for v in sorted({variant(r) for r in rows}):
        sub = [r for r in rows if variant(r) == v]
        steps, lr, scale, _ = v
        for m in _order({r["method"] for r in sub}):
            out = []
            for k in ("1", "2"):
                c = cell.get((m, *v, k))
                out.append(_pm(c["dice_mean"], c["dice_std"]) if c else "–")
                out.append(f"{float(c['margin_vs_random']):+.3f} ± {float(c['margin_std']):.3f} ({c['wins']}/{c['runs']})"
                           if c and c["margin_vs_random"] else "–")
            runs = next(r["runs"] for r in sub if r["method"] == m)
            if m == "fully_supervised":
                c = next(r for r in sub if r["method"] == m)
                out = [f"all {c['labeled_volumes']} volumes: {_pm(c['dice_mean'], c['dice_std'])}", "", "", ""]
            enc = "–" if m in ("random_init", "fully_supervised") else f"x{scale:g}"
            lines.append(f"| {m} | {steps} | {lr:g} | {enc} | {runs} | " + " | ".join(out) + " |")
    commits = sorted({(r["commit"][:10], r["date"], r["machine"]) for r in rows})
    lines += ["", "Runs: " + "; ".join(f"commit {c} ({d}, {mach})" for c, d, mach in commits) + ".", ""]
    return lines


def multicontrast() -> list[str]:
    """The ``multicontrast`` subjects: validation of the encoder lr, then the test stage."""
    val = validation("multicontrast")
    if not val:
        return []
    lines = ["**Subjects with mixed contrasts** (`multicontrast` preset: the `strong` subjects, half of them "
             "given a T2-like contrast — inverted inside the brain mask, CSF bright — as in an archive "
             "that mixes MRI sequences; which subjects is in the data set's `subject_contrasts.csv`; "
             "same settings as above, the encoder lr chosen again on this preset's validation subjects)."]
    tests = sorted(RES.glob("volume_label_efficiency_summary_multicontrast*.csv"))
    if any(_encoder_scale(_read(p.name)[0]) == 1.0 for p in tests if _read(p.name)):
        lines[-1] += (" The table at encoder lr x1 (the paper's recipe, every layer at the fine-tuning lr) "
                      "was run on the test subjects for comparison, not chosen.")
    lines.append("")
    for p in tests:
        tag = p.stem.removeprefix("volume_label_efficiency_summary")
        summary = _read(p.name)
        recipe = f"pre-trained encoder at lr x{_encoder_scale(summary[0]):g}" if summary else tag
        lines += label_efficiency(tag, f"**{recipe[0].upper() + recipe[1:]}.** ")
        lines += _best_margins(_read(f"volume_paired_margin{tag}.csv"), recipe) + [""]
    # every test table shares the random-init and fully supervised rows: one head-room line
    first = _read(tests[0].name) if tests else ()
    full, rnd = _row(first, "fully_supervised"), _row(first, "random_init", "1")
    if full and rnd:
        lines += [f"Head-room: random init with 1 labelled volume {float(rnd['dice_mean']):.3f}, fully "
                  f"supervised {float(full['dice_mean']):.3f} "
                  f"({float(full['dice_mean']) - float(rnd['dice_mean']):+.3f}; `strong`: see above).", ""]
    vrows = _validation_rows("multicontrast")
    vfull = [r for r in vrows if r["method"] == "fully_supervised"]
    vrand2 = [float(r["dice_mean"]) for r in vrows if r["method"] == "random_init" and r["labeled_volumes"] == "2"]
    if vfull and vrand2 and max(float(r["dice_mean"]) for r in vfull) < min(vrand2):
        best_full = max(vfull, key=lambda r: float(r["dice_mean"]))
        val = val[:-1] + [f"On these validation subjects the fully supervised row (all {best_full['labeled_volumes']} "
                          f"pool volumes, {float(best_full['dice_mean']):.3f}) scores below random init with 2 "
                          f"volumes ({min(vrand2):.3f}): every row gets the same fine-tuning steps, so "
                          f"{best_full['labeled_volumes']} mixed-contrast volumes are each seen less often than "
                          "2 are; our reading (not measured) is that this row is under-trained, not a ceiling.", ""]
    return lines + val


def classification() -> list[str]:
    rows = _read("volume_classification_unseen_summary.csv")
    if not rows:
        return []
    r0 = rows[0]
    lines = ["Volume-level classification (synthetic lesion present?) on "
             f"{r0['test_volumes']} freshly generated subjects that neither pre-training nor the "
             f"classifiers saw; trained on {r0['train_volumes']} reference volumes with a volume label "
             f"(`benchmarks/volume_classification.py`, preset `{r0['variation']}`). probe = logistic "
             "regression on the frozen encoder (mean or mean+max pooling over slices); finetune = "
             "encoder + head fine-tuned (`classify.*`, lr 0.01 as chosen for segmentation, 150 "
             f"steps). Mean ± std over {r0['seeds']} seeds (pre-training + classifier); paired: "
             "minus random init of the same seed, wins in brackets.", "",
             "| method | task | AUROC | accuracy | AUROC − random init |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        paired = ("" if r["auroc_minus_random_mean"] == "" else
                  f"{float(r['auroc_minus_random_mean']):+.3f} ± {float(r['auroc_minus_random_std']):.3f} "
                  f"({r['wins']}/{r['seeds']})")
        lines.append(f"| {r['method']} | {r['task']} | {float(r['auroc_mean']):.3f} ± {float(r['auroc_std']):.3f} | "
                     f"{float(r['accuracy_mean']):.3f} ± {float(r['accuracy_std']):.3f} | {paired} |")
    lines += ["", f"Machine: {r0['machine']}; commit {r0['commit'][:10]}; {r0['date']}; "
              f"{float(r0['wall_seconds']) / 60:.0f} min. Every row is at or below chance (0.5): no "
              "initialisation, frozen or fine-tuned, detects the synthetic lesion (6-10 mm, on the "
              "benchmark's 4 mm grid) from these training volumes, so this task does not rank the "
              "pre-training strategies. GD and GD+LD share their encoder (the staged schedule trains "
              "only the decoder in the local stage), hence equal rows. The fine-tuning path itself "
              "separates a bright-blob task on held-out volumes (`tests/volume/test_classify.py`).", ""]
    return lines


def throughput() -> list[str]:
    lines: list[str] = []
    for p in sorted(RES.glob("volume_throughput_*.csv")):
        rows = _read(p.name)
        if not rows or "items_per_second" not in rows[0]:
            continue
        r0 = rows[0]
        lines += [f"Pre-training throughput ({r0['device']}, {r0['precision']}, "
                  f"{r0['images_per_batch']} images x 2 views per batch, BasicUNet features 8-64; "
                  "`benchmarks/volume_throughput.py`):", "",
                  "| dims | measured | phase | s / batch | items / s | loss-matrix elements | peak MB | load avg |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in rows:
            sp = "–" if r["seconds_per_batch"] in ("", "nan") else f"{float(r['seconds_per_batch']):.3f}"
            ss = "–" if r["items_per_second"] in ("", "nan") else f"{float(r['items_per_second']):.1f} {r['unit']}"
            lines.append(f"| {r['spatial_dims']}D | {r['what']} | {r['phase']} | {sp} | {ss} | "
                         f"{r.get('elements') or '–'} | {r['peak_memory_mb']} | {float(r['load_avg']):.1f} |")
        lines += ["", f"Machine: {r0['machine']}; commit {r0['commit']}; {r0['date']}. Timings taken "
                  "on a CPU shared with other jobs (see the load-average column) are pessimistic. "
                  "Peak memory is the process peak so far (RSS on CPU, allocated on GPU).", ""]
    return lines


def main() -> None:
    lines = ["## Volumes: partition-aware global + local contrastive pre-training", ""]
    lines += label_efficiency() + findings()
    scales = sorted({r["encoder_scale"] for r in _validation_rows()
                     if r["finetune_steps"] == "200" and float(r["finetune_lr"]) == 0.01}, reverse=True)
    lines += label_efficiency(
        "_encoder_lr01",
        "**Pre-trained encoder fine-tuned at a tenth of the lr** (`finetune.pretrained_encoder_lr_scale"
        "=0.1`, chosen on the validation subjects from " + ", ".join(f"x{v:g}" for v in scales)
        + " at 200 steps and lr 0.01, table below; random init and its rows are unchanged, every "
        "other layer trains at lr). ")
    lines += validation() + multicontrast() + classification() + throughput()
    from volume_real_table import section  # the real-MRI (hippocampus) results

    lines += section()
    out = ROOT / "docs" / "results_volume.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines))
    print(out.read_text())


if __name__ == "__main__":
    main()
