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
ORDER = ["random_init", "clip", "cwcl", "clip+order", "cwcl+order"]
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


def _tower(r: dict[str, str]) -> str:
    head = {"locked": "frozen MiniLM, locked", "mlp": "frozen MiniLM + MLP head",
            "small": "small trainable"}.get(r.get("text_head", ""), r.get("text_head", ""))
    return head + (" + order head" if r.get("order_head") == "True" else "")


def _machine(r: dict[str, str]) -> str:
    """Short CPU name of a row's machine ("AMD EPYC", "Intel Xeon")."""
    m = r.get("machine", "")
    return "Intel Xeon" if "Intel" in m else m.split(",")[0]


def _key(r: dict[str, str]) -> tuple[str, str, str, int, str]:
    power = r.get("cwcl_power", "")
    centred = ", centred" if r.get("cwcl_center") == "True" else ""
    gamma = f" (γ={float(power):g}{centred})" if power not in ("", "None") else ""
    return (r["objective"] + gamma, _tower(r), r.get("clip_seconds", ""), int(r["epochs"] or 0), _machine(r))


def _sort(k: tuple[str, str, str, int, str]) -> tuple[str, str, str, int, int, str]:
    """Machine, tower, crop, objective order, epochs, then the full label (variants of one
    objective would otherwise come out in set order, which changes from run to run)."""
    base = k[0].split(" ")[0]
    return (k[4], k[1], k[2], ORDER.index(base) if base in ORDER else 99, k[3], k[0])


def quality_table(rows: list[dict[str, str]], scored_on: str = "Held-out split") -> str:
    if not rows:
        return "_no quality results yet_\n"
    commits = sorted({r["commit"][:10] for r in rows})
    machines = ", ".join(dict.fromkeys(r["machine"] for r in rows))
    dataset = rows[-1]["dataset"]
    keys = sorted({_key(r) for r in rows}, key=_sort)
    out = ["| machine | objective | text tower | epochs | seeds | " + " | ".join(c[1] for c in COLS) + " |",
           "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in COLS) + " |"]
    for key in keys:
        rs = [r for r in rows if _key(r) == key]
        cells = [_fmt([float(r[c]) if r[c] not in ("", "None") else np.nan for r in rs]) for c, _ in COLS]
        out.append(f"| {key[4]} | {key[0]} | {key[1]} | {key[3] or '–'} | {len(rs)} | " + " | ".join(cells) + " |")
    chance = rows[-1].get("zero_shot_chance", "")
    pairs = rows[-1].get("order_pairs", "")
    clip = sorted({r.get("clip_seconds", "") for r in rows})
    note = (f"\n{scored_on} of `{dataset}` ({pairs} order pairs), mean ± std over seeds, in %. "
            f"Zero-shot chance {100 * float(chance):.1f} %; order test chance text/audio 25 %, "
            f"group 16.7 %. Crops {', '.join(clip)} s, batch {rows[-1].get('batch_size', '')}. "
            f"Machines: {machines} (compare rows within one machine: training on another CPU gives "
            f"other numbers for the same seed); latest row at commit `{rows[-1]['commit'][:10]}` (the CSV "
            f"records the repository HEAD of each row: {len(commits)} commits, other areas moved meanwhile).\n")
    return "\n".join(out) + "\n" + note


def paired_vs_clip(rows: list[dict[str, str]], metrics: tuple[str, ...] = ("zero_shot_accuracy", "t2a_R@1")
                   ) -> str:
    """Each CWCL variant (cwcl, cwcl+order) minus CLIP on the same seed, machine, text tower, crop and epochs: mean
    ± standard error of the per-seed differences and the seeds where CWCL was higher. Only
    variants with at least 3 paired seeds."""
    def base(r: dict[str, str]) -> tuple:
        k = _key(r)
        return (k[1], k[2], k[3], k[4])

    clip = {(base(r), r["seed"]): r for r in rows if r["objective"] == "clip"}
    groups: dict[tuple, list[tuple[dict[str, str], dict[str, str]]]] = {}
    for r in rows:
        if r["objective"] in ("cwcl", "cwcl+order") and (base(r), r["seed"]) in clip:
            groups.setdefault(_key(r), []).append((r, clip[(base(r), r["seed"])]))
    out = []
    for key in sorted(groups, key=_sort):
        pairs = groups[key]
        if len(pairs) < 3:
            continue
        cells = []
        for m in metrics:
            d = 100 * np.array([float(a[m]) - float(b[m]) for a, b in pairs])
            cells.append(f"{d.mean():+.1f} ± {d.std(ddof=1) / np.sqrt(len(d)):.1f} ({int((d > 0).sum())}/{len(d)})")
        out.append(f"| {key[4]} | {key[0]} | {key[1]} | {len(pairs)} | " + " | ".join(cells) + " |")
    if not out:
        return ""
    head = ["| machine | objective | text tower | paired seeds | "
            + " | ".join(f"{dict(COLS).get(m, m)}: CWCL − CLIP (higher)" for m in metrics) + " |",
            "| --- | --- | --- | --- | " + " | ".join("---" for _ in metrics) + " |"]
    return ("\n".join(head + out) + "\n\nPer-seed differences to CLIP trained with the same seed on the "
            "same machine (points, mean ± standard error; in brackets the seeds where CWCL scored higher).\n")


def _pick(rows: list[dict[str, str]], objective: str, power: float | None = None, head: str = "locked",
          order_head: bool | None = None) -> list[dict[str, str]]:
    """Held-out rows of one configuration (``power`` None: no CWCL exponent recorded)."""
    out = []
    for r in rows:
        if r["objective"] != objective or r.get("text_head") != head or r.get("cwcl_center") == "True":
            continue
        p = r.get("cwcl_power", "")
        if power is not None and (p in ("", "None") or float(p) != power):
            continue
        if order_head is not None and (r.get("order_head") == "True") != order_head:
            continue
        out.append(r)
    return out


def _on(machines_of: list[dict[str, str]], rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """``rows`` run on the machines of ``machines_of`` (compare like with like)."""
    m = {r["machine"] for r in machines_of}
    return [r for r in rows if r["machine"] in m]


def _ms(rows: list[dict[str, str]], metric: str) -> str:
    """``mean ± std %`` of a metric over rows, with the number of runs."""
    v = np.array([float(r[metric]) for r in rows if r.get(metric) not in ("", None)], dtype=float)
    if v.size == 0:
        return "–"
    return f"{100 * v.mean():.1f} ± {100 * v.std(ddof=1) if v.size > 1 else 0:.1f} % (n={v.size})"


def _paired(rows: list[dict[str, str]], objective: str, power: float, metric: str) -> str:
    """Per-seed ``objective`` minus CLIP (same seed, machine, tower, crop, epochs), in points."""
    def base(r: dict[str, str]) -> tuple:
        return _key(r)[1:]

    clip = {(base(r), r["seed"]): r for r in _pick(rows, "clip")}
    d = [float(r[metric]) - float(clip[(base(r), r["seed"])][metric])
         for r in _pick(rows, objective, power) if (base(r), r["seed"]) in clip]
    if len(d) < 3:
        return ""
    a = 100 * np.array(d)
    return f"{a.mean():+.1f} ± {a.std(ddof=1) / np.sqrt(a.size):.1f} points (s.e.; higher in {int((a > 0).sum())} of {a.size} seeds)"


def narrative(q: list[dict[str, str]], sim: list[dict[str, str]], gamma: float) -> str:
    """The "what the tables show" bullets, every number computed here from the CSVs."""
    out = ["### What the tables show", "",
           "Every number in this list is computed by `benchmarks/audio_table.py` from "
           "`benchmarks/results/audio_quality.csv` and `audio_caption_similarity.csv` (mean ± sample "
           "standard deviation over runs unless stated; the tables below give the population std). The configuration default is `objective.cwcl_power` = "
           f"{gamma:g}, chosen on validation groups (table at the end).", ""]
    for dataset in dict.fromkeys(r["dataset"] for r in q):
        rows = [r for r in q if r["dataset"] == dataset and r.get("split", "") in ("", "test")]
        chance = next((float(r["zero_shot_chance"]) for r in rows if r.get("zero_shot_chance")), float("nan"))
        out.append(f"On `{dataset}`:")
        lines = []
        mlp = _pick(rows, "clip", head="mlp")
        locked = _on(mlp, _pick(rows, "clip"))
        if mlp and locked:
            lines.append(f"- Locked text tower: CLIP zero-shot {_ms(mlp, 'zero_shot_accuracy')} with a "
                         f"trainable MLP text head vs {_ms(locked, 'zero_shot_accuracy')} with the frozen "
                         "MiniLM embedding as the text embedding (same machine; the locked rows also carry "
                         "the order head).")
        for obj in ("cwcl", "cwcl+order"):
            zs = _paired(rows, obj, gamma, "zero_shot_accuracy")
            r1 = _paired(rows, obj, gamma, "t2a_R@1")
            if zs:
                lines.append(f"- `{obj}` (γ={gamma:g}) minus CLIP, paired by seed: zero-shot {zs}; "
                             f"text→audio R@1 {r1}.")
        g1 = _pick(rows, "cwcl", 1.0)
        g8 = _on(g1, _pick(rows, "cwcl", 8.0))
        if g1:
            lines.append(f"- The paper's weights (γ=1) collapse the audio embeddings: zero-shot "
                         f"{_ms(g1, 'zero_shot_accuracy')}" + (f" vs {_ms(g8, 'zero_shot_accuracy')} at γ=8"
                                                              if g8 else "") + ".")
        mixed = _pick(rows, "cwcl+order", gamma)
        order = {o: _on(mixed, _pick(rows, o, gamma if "cwcl" in o else None)) for o in ("clip", "cwcl", "cwcl+order")}
        if all(order.values()):
            lines.append(f"- Order test group score (chance 16.7 %): CLIP {_ms(order['clip'], 'order_group')}, "
                         f"`cwcl` {_ms(order['cwcl'], 'order_group')}, `cwcl+order` "
                         f"{_ms(order['cwcl+order'], 'order_group')}. CWCL's weights come from the "
                         "order-blind frozen encoder and call an order-swapped caption a positive; the "
                         "order negatives (with `objective.zero_swapped_weights`) restore order.")
        clip = _pick(rows, "clip")
        if any(r.get("longform_fusion_R@1") for r in clip):
            lines.append(f"- Long-form retrieval (CLIP, same runs): text-conditioned attention fusion R@1 "
                         f"{_ms(clip, 'longform_fusion_R@1')} vs mean pooling {_ms(clip, 'longform_mean_R@1')}.")
        rand = [r for r in rows if r["objective"] == "random_init"]
        trained = _on(rand, [r for r in rows if r["objective"] != "random_init"])
        if rand:
            lines.append(f"- Random init: zero-shot {_ms(rand, 'zero_shot_accuracy')} (chance "
                         f"{100 * chance:.1f} %); linear probe on frozen features "
                         f"{_ms(rand, 'linear_probe_accuracy')} vs {_ms(trained, 'linear_probe_accuracy')} "
                         "for the pre-trained objectives on the same machine: on these spectrally simple "
                         "classes pre-training does not improve the probe.")
        out += lines + [""]
    by = {(r["variant"], r["pairs"]): r for r in sim}
    if by:
        raw_s, raw_d = by.get(("raw", "same_label")), by.get(("raw", "different_label"))
        cen_s, cen_d = by.get(("centred", "same_label")), by.get(("centred", "different_label"))
        if raw_s and raw_d and cen_s and cen_d:
            out += [f"Why CWCL needs sharper weights: over {raw_s['captions']} captions of labelled files the "
                    f"frozen MiniLM cosine is {float(raw_s['cos_mean']):.2f} for same-label pairs and "
                    f"{float(raw_d['cos_mean']):.2f} for different-label pairs (centred: "
                    f"{float(cen_s['cos_mean']):.2f} vs {float(cen_d['cos_mean']):.2f}), so the paper's "
                    f"weights `(1 + cos) / 2` are {float(raw_s['weight_mean_gamma1']):.2f} vs "
                    f"{float(raw_d['weight_mean_gamma1']):.2f} on average, nearly uniform; raising them to "
                    f"γ=8 gives {float(raw_s['weight_mean_gamma8']):.2f} vs {float(raw_d['weight_mean_gamma8']):.3f}. "
                    "Centring (`objective.cwcl_center`) separates the classes further but did not help on "
                    "validation groups (table at the end), so it is off by default.", ""]
    return "\n".join(out) + "\n"


def speed_table(speed: list[dict[str, str]], quality: list[dict[str, str]]) -> str:
    out = ["| measure | threads | value | load avg | date |", "| --- | --- | --- | --- | --- |"]
    latest: dict[tuple[str, str], dict[str, str]] = {}
    for r in speed:  # the latest row of each measure and thread count
        latest[(r["measure"], r["threads"])] = r
    for (measure, threads), r in sorted(latest.items()):
        unit = "×" if r["unit"] == "x real time" else " " + r["unit"]
        out.append(f"| {measure} | {threads} | {float(r['value']):.0f}{unit} | {r.get('load_avg', '') or '?'} "
                   f"| {r['date']} |")
    for key in sorted({_key(r) for r in quality if r["train_clips_per_s"]}, key=_sort):
        rs = [r for r in quality if _key(r) == key and r["train_clips_per_s"]]
        loads = [float(r["load_avg"]) for r in rs if r.get("load_avg")]
        out.append(f"| training, {key[0]}, {key[1]}, {key[4]} (quality runs) | {rs[0]['threads']} | "
                   f"{np.mean([float(r['train_clips_per_s']) for r in rs]):.1f} clips/s | "
                   f"{np.mean(loads):.1f} | {rs[-1]['date']} |" if loads else "")
    mem = [float(r["peak_rss_mb"]) for r in quality if r["peak_rss_mb"]]
    if mem:
        out.append(f"| peak RSS of the quality benchmark process | {quality[-1]['threads']} | {max(mem):.0f} MB | | |")
    return "\n".join(x for x in out if x) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    q = _rows(RESULTS / "audio_quality.csv")
    s = _rows(RESULTS / "audio_speed.csv")
    v = _rows(RESULTS / "audio_validation.csv")
    from polyclr.pipelines.audio.config import AudioConfig

    sim = _rows(RESULTS / "audio_caption_similarity.csv")
    text = narrative(q, sim, AudioConfig().objective.cwcl_power)
    for dataset in dict.fromkeys(r["dataset"] for r in q):  # one section per reference set
        rows = [r for r in q if r["dataset"] == dataset]
        text += f"### Held-out quality: `{dataset}`\n\n" + quality_table(rows)
        paired = paired_vs_clip(rows)
        if paired:
            text += f"\n### CWCL vs CLIP, paired by seed (held-out split of `{dataset}`)\n\n" + paired
        text += "\n"
    if v:
        text += ("\n### Settings selection on validation groups\n\nScored on a quarter of the training "
                 "groups (`audio_benchmark.py --validation`), trained on the other three quarters; the "
                 "test split is not used.\n\n" + quality_table(v, "Validation groups"))
    text += "\n### Speed\n\n" + speed_table(s, q)
    print(text)
    if args.write and DOC.is_file():
        doc = DOC.read_text(encoding="utf-8")
        new = re.sub(r"<!-- audio-table -->.*<!-- /audio-table -->",
                     lambda _: "<!-- audio-table -->\n" + text + "<!-- /audio-table -->", doc, flags=re.S)
        DOC.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
