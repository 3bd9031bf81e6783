"""Write docs/results_volume.md from benchmarks/results/volume_*.csv."""

from __future__ import annotations

import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "benchmarks" / "results"
ORDER = ["random_init", "GR", "GD-", "GD", "GD+LD"]


def _read(name: str) -> list[dict[str, str]]:
    p = RES / name
    if not p.is_file():
        return []
    with open(p, newline="") as fh:
        return list(csv.DictReader(fh))


def main() -> None:
    lines = ["## Volumes: partition-aware global + local contrastive pre-training", ""]
    summary = _read("volume_label_efficiency_summary.csv")
    if summary:
        ks = sorted({int(r["labeled_volumes"]) for r in summary})
        cell = {(r["method"], int(r["labeled_volumes"])): r for r in summary}
        lines += [
            "Test Dice (mean of GM and WM, mean ± std over fixed combinations of labelled "
            "volumes) on held-out MNI152-derived subjects (`benchmarks/volume_label_efficiency.py`):",
            "",
            "| method | " + " | ".join(f"{k} labelled volume{'s' if k > 1 else ''}" for k in ks) + " |",
            "| --- |" + " --- |" * len(ks),
        ]
        methods = [m for m in ORDER if any((m, k) in cell for k in ks)]
        methods += sorted({r["method"] for r in summary} - set(methods))
        for m in methods:
            vals = [f"{float(cell[m, k]['dice_mean']):.3f} ± {float(cell[m, k]['dice_std']):.3f} "
                    f"(n={cell[m, k]['runs']})" if (m, k) in cell else "–" for k in ks]
            lines.append(f"| {m} | " + " | ".join(vals) + " |")
        r0 = summary[0]
        wall = float(r0["wall_seconds"])
        wall_txt = f"; wall time {wall / 60:.0f} min" if wall == wall else ""
        lines += ["", f"Machine: {r0['machine']}; commit {r0['commit']}; {r0['date']}{wall_txt}. "
                  "Settings: `BENCH_SETTINGS` in `benchmarks/volume_label_efficiency.py` at that commit "
                  "(4 mm, 48x48 slices, BasicUNet features 8-64, S=4 partitions); 16 subjects, "
                  "12 train / 4 test (patient-disjoint); pre-training uses the 12 training volumes "
                  "only; each run = one fixed combination of labelled volumes.", ""]
    cls = _read("volume_classification.csv")
    if cls:
        lines += ["Volume-level classification (synthetic lesion present?), logistic-regression probe "
                  f"on frozen encoder features, {cls[0]['train_volumes']} train / "
                  f"{cls[0]['test_volumes']} test volumes:", "", "| method | AUROC | accuracy |",
                  "| --- | --- | --- |"]
        lines += [f"| {r['method']} | {float(r['auroc']):.3f} | {float(r['accuracy']):.3f} |" for r in cls]
        lines.append("")
    for p in sorted(RES.glob("volume_throughput_*.csv")):
        rows = _read(p.name)
        if not rows:
            continue
        r0 = rows[0]
        lines += [f"Pre-training throughput ({r0['device']}, {r0['spatial_dims']}D, {r0['precision']}, "
                  f"{r0['images_per_batch']} images x 2 views per batch; "
                  f"`benchmarks/volume_throughput.py`), peak memory {r0['peak_memory_mb']} MB:", "",
                  "| measured | phase | s / batch | slices / s | loss-matrix elements |",
                  "| --- | --- | --- | --- | --- |"]
        for r in rows:
            sp = r["seconds_per_batch"]
            sp = "–" if sp in ("", "nan") else f"{float(sp):.3f}"
            ss = r["slices_per_second"]
            ss = "–" if ss in ("", "nan") else f"{float(ss):.1f}"
            lines.append(f"| {r['what']} | {r['phase']} | {sp} | {ss} | {r.get('elements') or '–'} |")
        lines += ["", f"Machine: {r0['machine']}; commit {r0['commit']}; {r0['date']}. The CPU was "
                  "shared with other jobs (load average > 10 on 2 cores), so absolute times are "
                  "pessimistic; the loader-vs-step ratio is the point.", ""]
    out = ROOT / "docs" / "results_volume.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines))
    print(out.read_text())


if __name__ == "__main__":
    main()
