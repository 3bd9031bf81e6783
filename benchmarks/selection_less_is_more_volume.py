""""Less is more" on the volume pipeline (the paper's setting): pre-train on all slices vs on the
dHash-reduced slices vs keep-every-N at about the same count; Dice after fine-tuning with K
labelled volumes on the held-out test subjects, and pre-training time, for several seeds.

Data, split, network and budgets are those of ``benchmarks/volume_label_efficiency.py`` (the
MNI152-derived reference subjects; pre-training on the training + unlabelled subjects, test
subjects never seen). Selection runs per volume along the slicing axis in physical order
(``polyclr.pipelines.volume.data.apply_selection``, the same code ``polyclr run volume`` uses
with a ``selection:`` section). Pre-training is epoch-matched: the step budget is scaled by the
kept fraction, so a reduced set trains for fewer steps, as in Wolf et al. (2024). Writes
benchmarks/results/selection_less_is_more_volume.csv.

    .venv/bin/python benchmarks/selection_less_is_more_volume.py [--seeds 0 1 2] [--strategy GD]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import volume_label_efficiency as V  # noqa: E402  (same data and settings as the Dice table)

from polyclr.config import merge, parse_set  # noqa: E402
from polyclr.modalities.volume.reference import generate_reference  # noqa: E402
from polyclr.pipelines.volume.config import VolumeConfig  # noqa: E402
from polyclr.pipelines.volume.data import (  # noqa: E402
    apply_selection,
    class_names,
    num_classes,
    prepare,
    resolve,
    split_cases,
)
from polyclr.pipelines.volume.evaluate import finetune_table  # noqa: E402
from polyclr.pipelines.volume.train import pretrain_net  # noqa: E402
from polyclr.rundir import git_commit, machine_description, thread_count, write_csv  # noqa: E402
from polyclr.selection import SelectionConfig  # noqa: E402

OUT = Path(__file__).parent / "results" / "selection_less_is_more_volume.csv"


def stride_mask(n: int, count: int) -> np.ndarray:
    """Keep ``count`` of ``n`` evenly spaced planes (keep-every-N generalised to a fractional N,
    so that the count matches dHash's in every volume).

    Shape:
        -> (n,) bool with ``count`` True entries.
    """
    mask = np.zeros(n, dtype=bool)
    if count > 0:
        mask[np.unique(np.round(np.linspace(0, n - 1, count)).astype(int))] = True
    return mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--strategy", default="GD")
    ap.add_argument("--threshold", type=float, default=6)
    ap.add_argument("--labeled-volumes", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    cfg = merge(merge(VolumeConfig(), V.BENCH_SETTINGS), parse_set(args.set))
    cfg = dataclasses.replace(cfg, finetune=dataclasses.replace(
        cfg.finetune, labeled_volumes=list(args.labeled_volumes)))
    data = generate_reference(**V.DATA)
    cfg, prep, _ = resolve(cfg, data)
    cases = prepare(cfg, prep)
    split = split_cases(cfg, cases, None)
    n_cls, names = num_classes(cases), class_names(data, num_classes(cases))
    pre = split["pretrain"]
    n_all = sum(int(c.image.shape[1 + cfg.data.axis]) for c in pre)
    dh_masks = apply_selection(dataclasses.replace(
        cfg, selection=SelectionConfig("dhash", args.threshold, None, "group")), pre)
    n_dh = int(sum(m.sum() for m in dh_masks))
    every = round(n_all / max(1, n_dh))
    conditions = [("all slices", None), (f"dhash <= {args.threshold:g} (per volume)", dh_masks),
                  ("uniform stride, same count per volume", [stride_mask(len(m), int(m.sum()))
                                                             for m in dh_masks])]
    if every >= 2:  # the plain keep-every-N baseline, when N >= 2 lands near the same count
        conditions.append((f"every_n, N={every} (per volume)", apply_selection(dataclasses.replace(
            cfg, selection=SelectionConfig("every_n", None, every, "group")), pre)))
    print(f"{len(pre)} pre-training volumes, {n_all} slices; dHash keeps {n_dh}", flush=True)
    common = {"machine": machine_description(), "threads": thread_count(), "commit": git_commit(),
              "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"), "strategy": args.strategy,
              "spacing_mm": cfg.data.spacing[0], "slice_size": "x".join(map(str, cfg.data.slice_size)),
              "test_volumes": len(split["test"])}
    rows = []
    for seed in args.seeds:
        for name, masks in conditions:
            kept = n_all if masks is None else int(sum(m.sum() for m in masks))
            frac = kept / n_all
            p = dataclasses.replace(cfg.pretrain, global_steps=max(1, round(cfg.pretrain.global_steps * frac)),
                                    local_steps=max(1, round(cfg.pretrain.local_steps * frac)))
            c = dataclasses.replace(cfg, pretrain=p, engine=dataclasses.replace(cfg.engine, seed=seed),
                                    finetune=dataclasses.replace(cfg.finetune, seeds=[seed]))
            t0 = time.perf_counter()
            net, _ = pretrain_net(c, pre, args.strategy, None, n_cls, keep=masks)
            seconds = time.perf_counter() - t0
            ft = finetune_table(c, split, {args.strategy: net.state_dict()}, n_cls, names, None)
            for k in args.labeled_volumes:
                dice = [r["dice_mean"] for r in ft if r["labeled_volumes"] == k]
                rows.append({**common, "condition": name, "seed": seed, "slices": kept,
                             "kept_fraction": round(frac, 4), "global_steps": p.global_steps,
                             "local_steps": p.local_steps, "pretrain_seconds": round(seconds, 1),
                             "labeled_volumes": k, "finetune_runs": len(dice),
                             "test_dice": round(float(np.mean(dice)), 4),
                             "load_avg": round(os.getloadavg()[0], 2)})
                print(f"seed {seed} {name:32s} slices {kept:5d} {seconds:6.1f} s  K={k} "
                      f"Dice {np.mean(dice):.4f} ({len(dice)} runs)", flush=True)
            write_csv(args.out, rows)  # rewritten after each condition: partial results survive
    print(f"wrote {args.out}")


if __name__ == "__main__":
    torch.set_num_threads(max(1, torch.get_num_threads()))
    main()
