"""Render ``docs/results_audio.md`` tables from ``benchmarks/results/audio_*.csv``.

Usage: python benchmarks/audio_table.py  (prints the tables; ``--write`` updates the doc between
the ``<!-- audio-table -->`` markers)
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "results_audio.md"
ORDER = ["random_init", "clip", "cwcl", "clip+order", "cwcl+order", "cwcl_gamma1", "cwcl_gamma1+order",
         "clip (small text tower)", "clip+order (small text tower)"]
COLS = [("zero_shot_accuracy", "zero-shot acc"), ("t2a_R@1", "t2a R@1"), ("t2a_R@10", "t2a R@10"),
        ("a2t_R@1", "a2t R@1"), ("order_text", "order text"), ("order_audio", "order audio"),
        ("order_group", "order group"), ("linear_probe_accuracy", "linear probe"),
        ("longform_fusion_R@1", "long-form R@1 (fusion)"), ("longform_mean_R@1", "long-form R@1 (mean)")]


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _fmt(vals: list[float], pct: bool = True) -> str:
    v = np.array(vals, dtype=float)
    if v.size == 0 or np.isnan(v).all():
        return "–"
    k = 100.0 if pct else 1.0
    return f"{k * np.nanmean(v):.1f} ± {k * np.nanstd(v):.1f}" if v.size > 1 else f"{k * v[0]:.1f}"


def quality_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "_no quality results yet_\n"
    commit = rows[-1]["commit"][:10]
    machine = rows[-1]["machine"]
    dataset = rows[-1]["dataset"]
    for r in rows:  # random_init rows have epochs 0; trained rows are grouped by epochs too
        r["_key"] = (r["objective"], int(r["epochs"] or 0))
    names = sorted({r["_key"] for r in rows},
                   key=lambda k: (k[1] if k[0] != "random_init" else -1, ORDER.index(k[0]) if k[0] in ORDER else 99))
    out = ["| objective | epochs | seeds | " + " | ".join(c[1] for c in COLS) + " |",
           "| --- | --- | --- | " + " | ".join("---" for _ in COLS) + " |"]
    for key in names:
        rs = [r for r in rows if r["_key"] == key]
        cells = [_fmt([float(r[c]) if r[c] not in ("", "None") else np.nan for r in rs]) for c, _ in COLS]
        out.append(f"| {key[0]} | {key[1] or '–'} | {len(rs)} | " + " | ".join(cells) + " |")
    chance = rows[-1].get("zero_shot_chance", "")
    note = (f"\nHeld-out split of `{dataset}`, mean ± std over seeds, in %. Zero-shot chance "
            f"{100 * float(chance):.1f} %; order test chance text/audio 25 %, group 16.7 %. "
            f"Machine: {machine}; commit `{commit}`.\n")
    return "\n".join(out) + "\n" + note


def speed_table(speed: list[dict[str, str]], quality: list[dict[str, str]]) -> str:
    out = ["| measure | value |", "| --- | --- |"]
    for r in speed[-2:]:
        out.append(f"| {r['measure']} ({r['threads']} threads) | {float(r['value']):.0f}× real time |")
    for n in ORDER:
        rs = [float(r["train_clips_per_s"]) for r in quality if r["objective"] == n and r["train_clips_per_s"]]
        if rs:
            out.append(f"| training throughput, {n} | {np.mean(rs):.1f} clips/s |")
    mem = [float(r["peak_rss_mb"]) for r in quality if r["peak_rss_mb"]]
    if mem:
        out.append(f"| peak RSS of the benchmark process | {max(mem):.0f} MB |")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    q = _rows(RESULTS / "audio_quality.csv")
    s = _rows(RESULTS / "audio_speed.csv")
    text = "### Held-out quality\n\n" + quality_table(q) + "\n### Speed\n\n" + speed_table(s, q)
    print(text)
    if args.write and DOC.is_file():
        doc = DOC.read_text(encoding="utf-8")
        new = re.sub(r"<!-- audio-table -->.*<!-- /audio-table -->",
                     lambda _: "<!-- audio-table -->\n" + text + "<!-- /audio-table -->", doc, flags=re.S)
        DOC.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
