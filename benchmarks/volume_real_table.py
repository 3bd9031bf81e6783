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
             "test volumes where the class is present in both maps).", "",
             "| method | K | runs | Dice mean | " + " | ".join(f"Dice {c}" for c in classes) + " | "
             + " | ".join(f"HD95 {c} (mm)" for c in classes) + " |",
             "| --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in classes * 2) + " |"]
    groups: dict[tuple[str, int], list[dict[str, str]]] = {}
    for r in rows:
        groups.setdefault((r["method"], int(r["labeled_volumes"])), []).append(r)
    order = {"random_init": 0, "GR": 1, "GD-": 2, "GD": 3, "GD+LD": 4, "fully_supervised": 9}
    for (m, k), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], order.get(kv[0][0], 5))):
        dm, dse = _mean_se([float(r["dice_mean"]) for r in rs])
        cells = [f"{_f(dm)} ± {_f(dse)}"]
        cells += [_f(_mean_se([float(r[f"dice_{c}"]) for r in rs])[0]) for c in classes]
        cells += [_f(_mean_se([float(r[f"hd95_mm_{c}"]) for r in rs])[0], 2) for c in classes]
        lines.append(f"| {m} | {k} | {len(rs)} | " + " | ".join(cells) + " |")
    if all(m == "fully_supervised" for m, _ in groups):
        lines += ["", "Only the fully supervised reference finished: the K = 1 and 2 fine-tunes (random init "
                  "and GD+LD, 3 combinations x 3 seeds) were still running on the shared CPU when the "
                  "session ended, so no pre-training margin is measured here."]
    if any(m not in ("random_init", "fully_supervised") for m, _ in groups):
        lines += ["", "Paired margin over random init (same labelled volumes, same seed):", "",
                  "| method | K | runs | Dice margin (mean ± SE) | wins | target ≥ 0.05 |",
                  "| --- | ---: | ---: | ---: | ---: | --- |"]
    base = {(r["labeled_volumes"], r["combination"], r["seed"]): float(r["dice_mean"])
            for r in rows if r["method"] == "random_init"}
    for (m, k), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], order.get(kv[0][0], 5))):
        if m in ("random_init", "fully_supervised"):
            continue
        d = [float(r["dice_mean"]) - base[key] for r in rs
             if (key := (r["labeled_volumes"], r["combination"], r["seed"])) in base]
        mean, se = _mean_se(d)
        ok = "met" if mean >= 0.05 else "not met"
        lines.append(f"| {m} | {k} | {len(d)} | {mean:+.3f} ± {_f(se)} | {sum(x > 0 for x in d)}/{len(d)} | {ok} |")
    full = groups.get(("fully_supervised", max((k for m, k in groups if m == "fully_supervised"), default=0)))
    if full:
        fm = _mean_se([float(r["dice_mean"]) for r in full])[0]
        lines += ["", f"Fully supervised (random init, all {full[0]['labeled_volumes']} training volumes, "
                  f"the same {full[0]['finetune_steps']} steps): Dice {fm:.3f}, against about {NNUNET:.2f} for "
                  f"nnU-Net on MSD Hippocampus (gap {NNUNET - fm:+.3f}). The gap comes from the budget: "
                  "a small 2D BasicUNet trained for 150 CPU steps of 16 slices (48 x 64), against "
                  "nnU-Net's 3D U-Net ensembles trained for 1000 epochs with heavy augmentation."]
    if tag.endswith("_seed0"):
        lines += ["", "Only seed 0 ran to the end (3 fixed combinations x 1 seed = 3 paired runs per K); "
                  "seeds 1 and 2 were stopped so that the run finished within the session on the shared "
                  "CPU, so the target's >= 9 paired runs are not reached. GD+LD was pre-trained for "
                  "200 + 100 steps (a budget fixed in advance); fine-tuning used the library defaults "
                  "(150 steps, lr 1e-3, batch 16); nothing was tuned, on validation or test volumes."]
    lines += ["", f"Settings: {r0.get('settings', '') or 'see CSV'}. Machine: {r0['machine']}; commit "
              f"`{r0['commit']}`; {r0['date']}; wall {float(r0['wall_seconds']) / 60:.0f} min.", ""]
    return lines + validation()


def validation() -> list[str]:
    rows = _read(f"volume_validation{TAG}.csv")
    if not rows:
        return []
    lines = ["Settings were chosen on validation volumes (a third of the training volumes, seed 1; the "
             f"test split untouched), `results/volume_validation{TAG}.csv`:", "",
             "| method | K | fine-tune steps | runs | Dice | margin vs random init |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        marg = f"{float(r['margin_vs_random']):+.3f}" if r["margin_vs_random"] else "–"
        lines.append(f"| {r['method']} | {r['labeled_volumes']} | {r['finetune_steps']} | {r['runs']} | "
                     f"{float(r['dice_mean']):.3f} | {marg} |")
    return lines + [""]


def predict_speed() -> list[str]:
    rows = _read("volume_predict_speed.csv")
    if not rows:
        return []
    lines = ["### `polyclr predict volume` on CPU (`benchmarks/volume_predict_speed.py`)", "",
             "Whole CLI command in a fresh process (validation, preprocessing, inference, inverse "
             "resampling, writing); peak RSS of that process.", "",
             "| scans | count | seconds | scans / min | peak RSS (MB) |", "| --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['scans']} | {r['seconds']} | {r['scans_per_minute']} | {r['peak_rss_mb']} |")
    r0 = rows[0]
    return lines + ["", f"Machine: {r0['machine']}; commit `{r0['commit']}`; {r0['date']}; the CPU was shared "
                    "with other jobs, so times are pessimistic.", ""]


def run_timing() -> list[str]:
    rows = _read(f"volume_run{TAG}.csv")
    if not rows:
        return []
    r = rows[0]
    return [f"`polyclr run volume --data ../shared/data/msd_hippocampus` with no settings: {r['status']}, "
            f"{float(r['seconds']) / 60:.1f} min on {r['machine']} (commit `{r['commit']}`, {r['date']}).", ""]


def section() -> list[str]:
    return label_efficiency() + run_timing() + predict_speed()
