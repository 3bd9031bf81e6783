"""Write docs/results_selection.md from benchmarks/results/selection_*.csv.

    .venv/bin/python benchmarks/selection_table.py
"""

from __future__ import annotations

import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "benchmarks" / "results"
OUT = ROOT / "docs" / "results_selection.md"


def _rows(name: str) -> list[dict[str, str]]:
    path = RES / name
    return list(csv.DictReader(path.open())) if path.is_file() else []


_ROUTES_NOTE = (
    "How: Pillow's two 8-bit Lanczos passes are computed exactly, as integer products of "
    "coefficient digits (base 128, int8). Two routes give identical hashes. **vnni** (the default "
    "where the CPU has AVX-512 VNNI): one compiled function per batch (LLVM IR via llvmlite) lists "
    "each image's live rows while reading them, multiplies blocks of 8 live rows, still in cache, "
    "by the digits with `vpdpbusd` on the raw uint8 pixels (columns limited to each block's "
    "non-zero words), rounds like Pillow in registers and writes the vertical pass's input, while "
    "it prefetches the next image into L2. **int8** (every other CPU): live rows are gathered with "
    "a -128 shift and multiplied with oneDNN's int8 GEMM (`torch._int_mm`); numba kernels gather, "
    "recombine, round and scatter. Both do the vertical pass of a whole batch as one int8 product "
    "over the horizontal results of all images.")


def _profile_section() -> list[str]:
    """Per-stage times from ``selection_hash_profile.py`` (one thread), one table per route."""
    rows = _rows("selection_hash_profile.csv")
    if not rows:
        return []
    r0 = rows[0]
    out = [f"Where one thread's time goes (`benchmarks/selection_hash_profile.py`, dHash, "
           f"{r0['n_slices']} distinct slices streamed in batches of {r0['batch_size']}, median of "
           f"{r0['rounds']} rounds, the routes alternating; {r0['machine']}, commit "
           f"`{(r0['commit'] or '')[:10]}`, {r0['date']}, load avg {r0['load_avg']}):", "",
           "| route | stage | us per slice (median) | us per slice (min) |",
           "| --- | --- | ---: | ---: |"]
    out += [f"| {r.get('route') or 'int8'} | {r['stage']} | {float(r['us_per_slice_median']):.2f} | "
            f"{float(r['us_per_slice_min']):.2f} |" for r in rows]
    sums = []
    for route in dict.fromkeys(r.get("route") or "int8" for r in rows):
        staged = sum(float(r["us_per_slice_median"]) for r in rows
                     if (r.get("route") or "int8") == route and not r["stage"].startswith(("hash_images", "read"))
                     )
        sums.append(f"{route} {staged:.2f}")
    out += ["", f"Sum of the stages (us per slice): {', '.join(sums)}; the rest of the whole call is "
            "Python between the stages. The last row of a route reads every byte of the 64 KB "
            "slices once and does nothing else: the memory floor that a pass over the pixels "
            "cannot beat on this VM. Absolute times follow the VM's speed, which drifts between "
            "runs; compare stages within this table.", ""]
    return out


def _routes_section() -> list[str]:
    """The uint8 product route that was tried and reverted (``selection_hash_routes.csv``)."""
    rows = _rows("selection_hash_routes.csv")
    if not rows:
        return []
    r0 = rows[0]
    out = ["Tried and reverted: the horizontal pass through oneDNN's uint8 x int8 linear "
           "(`torch.ops.onednn.qlinear_pointwise`, AMX; raw rows, float32 sums exact below 2**24) "
           "instead of `torch._int_mm` on rows shifted by -128. The product stage got faster, but "
           "rounding float32 sums (oneDNN has no int32 output) got slower, and the whole call did "
           f"not get measurably faster, so the simpler int8 route stayed. Side by side (dHash, {r0['rounds']} interleaved rounds, best of 3 "
           f"passes each; {r0['machine']}, commit `{(r0['commit'] or '')[:10]}` with "
           f"`selection_hash_bench.py --routes`, {r0['date']}):", "",
           "| route | threads | best slices/s | median slices/s |", "| --- | ---: | ---: | ---: |"]
    out += [f"| {r['route']} | {r['threads']} | {float(r['best_slices_per_s']):,.0f} | "
            f"{float(r['median_slices_per_s']):,.0f} |" for r in rows]
    return out + [""]


def _route(row: dict[str, str]) -> str:
    """The resize route of a row; rows written before the VNNI route existed used int8."""
    if row["implementation"].startswith("imagehash"):
        return "–"
    return row.get("route") or "int8"


def _per_core(row: dict[str, str], loop_rate: float) -> float:
    """polyclr's slices/s per thread over the one-thread imagehash loop's: the like-for-like ratio."""
    return float(row["slices_per_s"]) / max(1, int(row["threads"])) / loop_rate


def _hash_table(rows: list[dict[str, str]]) -> list[str]:
    out = ["| hash | implementation | route | threads | per-core speed-up (best/best) | slices/s (best) "
           "| wall speed-up, N threads vs 1 | median of per-round ratios | slices per CPU-s | identical | load avg |",
           "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    loop = {r["method"]: float(r["slices_per_s"]) for r in rows if r["implementation"].startswith("imagehash")}
    for r in rows:
        n = float(r["n_slices"])
        cpu_rate = n / float(r["cpu_seconds"]) if float(r["cpu_seconds"] or 0) > 0 else float("nan")
        mine = r["implementation"].startswith("imagehash")
        per_core = "1.0x" if mine else f"**{_per_core(r, loop.get(r['method'], float('nan'))):.1f}x**"
        paired = f"{float(r['speedup_median_of_rounds']):.1f}x" if r.get("speedup_median_of_rounds") else "–"
        out.append(f"| {r['method']} | {r['implementation']} | {_route(r)} | {r['threads']} | {per_core} | "
                   f"{float(r['slices_per_s']):,.0f} | {float(r['speedup']):.1f}x | {paired} | "
                   f"{cpu_rate:,.0f} | {r['identical']} | {float(r.get('load_avg') or 'nan'):.2f} |")
    return out


def hash_section() -> list[str]:
    rows = _rows("selection_hash.csv")
    if not rows:
        return []
    out = [
        "### Perceptual hashing speed (`benchmarks/selection_hash_bench.py`)",
        "",
        "uint8 axial slices of the MNI152 1 mm template: padded to 256x256 with shifted copies, and "
        "(rows marked `unpadded`) the template's own 197x233 slices. The imagehash loop "
        "(`imagehash.<hash>(Image.fromarray(s))` per slice, one thread) and polyclr's batched "
        "hashes run interleaved in rounds in the same process on the same slices; `identical` "
        "compares every hash bit for bit. The leading column is the like-for-like ratio: "
        "polyclr's slices/s per thread over the one-thread loop's (best round of each side). The "
        "wall-clock ratio of a 2-thread row compares 2 threads with 1 and is shown only beside it; "
        "`median of per-round ratios` (same thread counts as that wall ratio) cannot be biased by "
        "the VM's speed drifting between rounds. Slices per CPU-second divides by the process's "
        "CPU time. Each machine's rows come from one run; compare ratios within a machine and "
        "slice kind.",
        "",
        _ROUTES_NOTE,
        "",
        *_profile_section(),
        *_routes_section(),
    ]
    for machine, size in dict.fromkeys((r["machine"], r["size"]) for r in rows):
        mine = [r for r in rows if (r["machine"], r["size"]) == (machine, size)]
        out += [f"**{machine}**, {size} slices (commit `{(mine[0]['commit'] or '')[:10]}`, {mine[0]['date']}):", ""]
        out += _hash_table(mine)
        busy = max(float(r.get("load_avg") or 0) for r in mine)
        if busy > max(int(r["threads"]) for r in mine):
            out += ["", f"Measured while other jobs loaded the machine (load average up to {busy:.1f} with at "
                    "most 2 threads here): the rounds interleave, so ratios within a round stay fair, but "
                    "absolute rates and the 2-thread rows are indicative only."]
        loop = {r["method"]: float(r["slices_per_s"]) for r in mine if _route(r) == "–"}
        ours = [r for r in mine if r["method"] == "dhash" and _route(r) != "–" and "dhash" in loop]
        one = [r for r in ours if int(r["threads"]) == 1]
        if one:
            best = max(one, key=lambda r: float(r["slices_per_s"]))
            out += ["", f"dHash on one core: {float(best['slices_per_s']):,.0f} slices/s ({_route(best)} "
                    f"route), {_per_core(best, loop['dhash']):.1f}x the one-thread imagehash loop."]
        out.append("")
    return out


def embedding_section() -> list[str]:
    rows = _rows("selection_embedding.csv")
    if not rows:
        return []
    out = [
        "### Embedding-similarity selection (`benchmarks/selection_embedding_bench.py`)",
        "",
        "Cosine threshold 0.95 on D=128 features with a known answer (N/5 random centres, 5 "
        "near-copies each). `kept` should equal `distinct`.",
        "",
        "| items | scope | neighbour search | seconds | kept | distinct |",
        "| ---: | --- | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        out.append(f"| {int(r['n_items']):,} | {r['scope']} | {r['index']} | {float(r['seconds']):.1f} | "
                   f"{int(r['items_kept']):,} | {int(r['true_distinct']):,} |")
    out += ["", "With scope `group` every group keeps its own copy of a centre, so `kept` is "
            "larger than `distinct` by design.", "",
            f"Machine: {rows[0]['machine']}; commit `{(rows[0]['commit'] or '')[:10]}`; "
            f"date {rows[0]['date']}.", ""]
    return out


def less_is_more_section() -> list[str]:
    rows = _rows("selection_less_is_more.csv")
    if not rows:
        return ["### Less is more (pre-training on all vs reduced items)", "",
                "Not measured: no `selection_less_is_more.csv` yet.", ""]
    import numpy as np

    conds = list(dict.fromkeys(r["condition"] for r in rows))
    seeds = sorted({r["seed"] for r in rows})
    out = [
        "### Less is more: pre-training on all vs reduced items (`benchmarks/selection_less_is_more.py`)",
        "",
        f"Time-series pipeline (TS2Vec), {rows[0]['dataset']} with its own train/test split, "
        f"{rows[0]['epochs']} pre-training epochs for every condition, then a linear probe on the "
        "embeddings of all training series (all labels), accuracy on the test split; mean +- std "
        f"over seeds {', '.join(seeds)}.",
        "",
        "| pre-training set | items | steps | pre-train s | test accuracy | test macro-F1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in conds:
        sub = [r for r in rows if r["condition"] == c]

        def ms(key: str, fmt: str = ".3f", sub: list = sub) -> str:
            v = np.array([float(r[key]) for r in sub])
            return f"{v.mean():{fmt}} +- {v.std():{fmt}}" if len(v) > 1 else f"{v.mean():{fmt}}"

        out.append(f"| {c} | {ms('n_pretrain_items', '.0f')} | {ms('pretrain_steps', '.0f')} | "
                   f"{ms('pretrain_seconds', '.1f')} | {ms('test_accuracy')} | {ms('test_macro_f1')} |")
    out += ["", f"Machine: {rows[0]['machine']}; commit `{(rows[0]['commit'] or '')[:10]}`; "
            f"date {rows[0]['date']}; pre-training seconds were measured on the shared, heavily "
            "loaded CPU and runs of different seeds overlapped in time.", ""]
    return out


def less_is_more_volume_section() -> list[str]:
    rows = _rows("selection_less_is_more_volume.csv")
    if not rows:
        return ["### Less is more on volumes", "", "Not measured yet: no "
                "`selection_less_is_more_volume.csv`.", ""]
    import numpy as np

    conds = list(dict.fromkeys(r["condition"] for r in rows))
    ks = sorted({int(r["labeled_volumes"]) for r in rows})
    seeds = sorted({r["seed"] for r in rows})
    r0 = rows[0]
    out = [
        "### Less is more on volumes (`benchmarks/selection_less_is_more_volume.py`)",
        "",
        f"Volume pipeline, strategy {r0['strategy']}, MNI152-derived reference subjects at "
        f"{float(r0['spacing_mm']):g} mm ({r0['slice_size']} slices); pre-training on the "
        "training + unlabelled subjects with the slices each condition keeps, epoch-matched (steps "
        "scaled by the kept fraction); then fine-tuning with K labelled volumes (3 fixed "
        f"combinations per seed); Dice on {r0['test_volumes']} held-out test subjects; mean +- std "
        f"over pre-training seeds {', '.join(seeds)}.",
        "",
        "| pre-training set | slices | global steps | pre-train wall s (per seed) | "
        + " | ".join(f"test Dice, K={k}" for k in ks) + " |",
        "| --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in ks) + " |",
    ]

    def ms(vals: list[float], fmt: str) -> str:
        v = np.asarray(vals, dtype=float)
        return f"{v.mean():{fmt}} +- {v.std():{fmt}}" if len(v) > 1 else f"{v.mean():{fmt}}"

    for c in conds:
        sub = [r for r in rows if r["condition"] == c]
        first_k = [r for r in sub if int(r["labeled_volumes"]) == ks[0]]
        cells = [ms([float(r["test_dice"]) for r in sub if int(r["labeled_volumes"]) == k], ".3f")
                 for k in ks]
        walls = " / ".join(f"{float(r['pretrain_seconds']):.0f}" for r in first_k)
        out.append(f"| {c} | {first_k[0]['slices']} | {first_k[0]['global_steps']} | {walls} | "
                   + " | ".join(cells) + " |")
    loads = [float(r["load_avg"]) for r in rows if r.get("load_avg")]
    out += ["", f"Machine: {r0['machine']}; commit `{(r0['commit'] or '')[:10]}`; date {r0['date']}; "
            f"load average during the run {min(loads):.1f}-{max(loads):.1f}. The wall-clock "
            "pre-training seconds include loading and caching the volumes on first use in each "
            "process and were taken on a shared CPU, so they vary far more than the work does; the "
            "step count (same batch size in every condition) is the reliable measure of "
            "pre-training cost.", ""]
    return out


def main() -> None:
    lines = ["## Redundancy-reducing dataset selection", "",
             "`polyclr select --data PATH --method dhash --threshold 6 --out DIR` writes "
             "`manifest.csv` (item, group, position, kept, score, reason) and `summary.json`; "
             "pipelines apply the same through the `selection:` config section. Each table gives "
             "its machine, commit and the load average at measurement time.", ""]
    lines += hash_section() + embedding_section()
    lines += less_is_more_volume_section() + less_is_more_section()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
