"""Volume-level classification (synthetic lesion present?) on subjects no model has seen.

``polyclr run volume`` scores classification on its 4 held-out segmentation subjects, too few
for an AUROC. Here the classifiers are trained on every reference volume with a volume label
except those 4 test subjects (the 12 segmentation-training subjects + the 24 unlabelled ones;
the encoders saw their images during pre-training, never their labels) and scored on a fresh
set of subjects generated with another seed, which neither pre-training nor training saw.

For each pre-training seed, random init and every strategy (``pretrain_net``, the function
``polyclr run volume`` calls), two downstream tasks, all reported (nothing is chosen on the
test subjects):

* probe: frozen encoder, ``volume_features`` with ``mean`` and with ``mean_max`` pooling,
  logistic regression (``linear_probe``; C chosen by CV on the training volumes);
* finetune: encoder + head fine-tuned on the class labels (``finetune_classifier``, the
  pipeline's classification fine-tuning, ``classify.*`` settings; ``--set`` overrides them).

Both come from the pipeline's own ``classification_rows``, given this train/test split.
Writes ``results/volume_classification_unseen{--tag}.csv`` (one row per method x task x
seed) and ``..._summary{--tag}.csv`` (mean ± std over seeds, paired difference to random init).

    .venv/bin/python benchmarks/volume_classification.py [--variation strong] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from volume_label_efficiency import BENCH_SETTINGS, DATA, RES, _stamp, pretrain_inits

from polyclr.config import merge, parse_set
from polyclr.modalities.volume.networks import POOLINGS
from polyclr.modalities.volume.reference import generate_reference
from polyclr.pipelines.volume.config import VolumeConfig
from polyclr.pipelines.volume.data import num_classes, prepare, resolve, split_cases
from polyclr.pipelines.volume.evaluate import classification_rows
from polyclr.rundir import write_csv


def downstream_rows(cfg: VolumeConfig, inits: dict, train: list, test: list, n_cls: int, seed: int,
                    finetune: bool) -> list[dict]:
    """The pipeline's ``classification_rows`` with ``train`` / ``test`` as the split: the
    frozen-encoder probe with each pooling and (``finetune``) encoder + head fine-tuned with
    ``cfg.classify.pooling``, all for this seed. One row per (method, task)."""
    rows = []
    for pooling in POOLINGS:
        c = dataclasses.replace(
            cfg, classify=dataclasses.replace(cfg.classify, pooling=pooling,
                                              finetune=finetune and pooling == cfg.classify.pooling),
            finetune=dataclasses.replace(cfg.finetune, seeds=[seed]))
        for r in classification_rows(c, {"train": train, "test": test}, inits, n_cls):
            kind = "probe" if r["task"].endswith("linear_probe") else "finetune"
            rows.append({"method": r["method"], "task": f"{kind} ({pooling})", "seed": seed,
                         "auroc": round(r["auroc"], 4), "accuracy": round(r["accuracy"], 4),
                         "train_volumes": len(train), "test_volumes": len(test),
                         "test_positives": sum(x.item.class_label for x in test)})
            print(f"seed {seed} {r['method']:12s} {rows[-1]['task']:20s} AUROC {r['auroc']:.3f} "
                  f"acc {r['accuracy']:.3f}", flush=True)
    return rows


def _r(x: float) -> float:
    return round(float(x), 4)


def summarise(rows: list[dict], stamp: dict) -> list[dict]:
    """Mean ± std over seeds per (method, task) and the paired difference to random init."""
    base = {(r["task"], r["seed"]): r["auroc"] for r in rows if r["method"] == "random_init"}
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        for task in dict.fromkeys(r["task"] for r in rows):
            sel = [r for r in rows if r["method"] == method and r["task"] == task]
            diffs = [r["auroc"] - base[(task, r["seed"])] for r in sel]
            paired = method != "random_init"
            out.append({**stamp, "method": method, "task": task, "seeds": len(sel),
                        "auroc_mean": _r(np.mean([r["auroc"] for r in sel])),
                        "auroc_std": _r(np.std([r["auroc"] for r in sel])),
                        "accuracy_mean": _r(np.mean([r["accuracy"] for r in sel])),
                        "accuracy_std": _r(np.std([r["accuracy"] for r in sel])),
                        "auroc_minus_random_mean": _r(np.mean(diffs)) if paired else "",
                        "auroc_minus_random_std": _r(np.std(diffs)) if paired else "",
                        "wins": int(sum(d > 0 for d in diffs)) if paired else "",
                        "train_volumes": sel[0]["train_volumes"], "test_volumes": sel[0]["test_volumes"]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--variation", default=DATA["variation"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--test-subjects", type=int, default=24, help="fresh subjects for the test")
    ap.add_argument("--test-seed", type=int, default=1000, help="generator seed of the fresh subjects")
    ap.add_argument("--no-finetune", action="store_true", help="probe rows only")
    ap.add_argument("--set", action="append", default=[], help="config overrides (classify.steps=...)")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    started = _stamp()
    t0 = time.perf_counter()
    cfg = merge(merge(VolumeConfig(), BENCH_SETTINGS), parse_set(args.set))
    data = generate_reference(**{**DATA, "variation": args.variation})
    fresh = generate_reference(n_subjects=args.test_subjects, n_unlabelled=0, variation=args.variation,
                               seed=args.test_seed)
    cfg, prep, _ = resolve(cfg, data)
    cases = prepare(cfg, prep)
    split = split_cases(cfg, cases, None)
    held_out = {id(c) for c in split["test"]}
    train = [c for c in cases if c.item.class_label is not None and id(c) not in held_out]
    test = [c for c in prepare(cfg, fresh) if c.item.class_label is not None]
    n_cls = num_classes(cases)
    print(f"probe: {len(train)} training volumes, {len(test)} unseen test volumes; "
          f"pre-training on {len(split['pretrain'])} volumes", flush=True)
    rows = []
    for seed in args.seeds:
        c = dataclasses.replace(cfg, engine=dataclasses.replace(cfg.engine, seed=seed))
        inits, _ = pretrain_inits(c, split, n_cls, [1.0], list(cfg.pretrain.strategies))
        rows += downstream_rows(c, inits, train, test, n_cls, seed, not args.no_finetune)
    stamp = {**started, "variation": args.variation, "test_seed": args.test_seed,
             "wall_seconds": round(time.perf_counter() - t0, 1)}
    write_csv(RES / f"volume_classification_unseen{args.tag}.csv", [{**stamp, **r} for r in rows])
    summary = summarise(rows, stamp)
    write_csv(RES / f"volume_classification_unseen_summary{args.tag}.csv", summary)
    for r in summary:
        print(f"{r['method']:12s} {r['task']:20s} AUROC {r['auroc_mean']:.3f} ± {r['auroc_std']:.3f}"
              f"  minus random {r['auroc_minus_random_mean']} ({r['wins']} wins)")


if __name__ == "__main__":
    main()
