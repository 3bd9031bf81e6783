"""Dice by pre-training strategy x labelled volumes on the MNI152-derived reference subjects.

Two stages, so that settings are chosen without looking at the test volumes:

* ``--stage validation``: the 12 training subjects are split (patient-disjoint) into a pool of
  8 and 4 *validation* subjects; pre-training uses the pool + the unlabelled subjects; every
  variant (``--pretrain-scales`` x ``--finetune-steps`` x ``--finetune-lrs``) is scored on the
  validation subjects -> ``results/volume_validation{--tag}.csv``.
* ``--stage test``: the chosen settings, the 12 training subjects (+ unlabelled) for
  pre-training and fine-tuning, the 4 held-out test subjects for Dice ->
  ``results/volume_label_efficiency.csv`` (+ ``_summary.csv``, ``volume_paired_margin.csv``,
  ``volume_classification.csv``; each name with ``--tag`` appended, if given).

Every row is one fixed combination of K labelled volumes x one training seed; the library
functions are the ones ``polyclr run volume`` calls (``pretrain_net``, ``finetune_table``).

Usage:
    .venv/bin/python benchmarks/volume_label_efficiency.py --stage validation
    .venv/bin/python benchmarks/volume_label_efficiency.py --stage test [--set k=v ...]
    real data over several processes (one K each, random init apart), then one table:
    ... --data DIR --inits I.pt --pretrain-only; ... --random-only; ... --no-random --inits I.pt
    --set 'finetune.labeled_volumes=[K]'; ... --merge OUT1 OUT2 ... --tag _hippocampus
    (GPU: add --set engine.precision=16-mixed)
"""

from __future__ import annotations

import argparse
import copy
import csv
import dataclasses
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from polyclr.config import merge, parse_set
from polyclr.evaluation import mean_std
from polyclr.modalities.volume.reference import generate_reference
from polyclr.pipelines.volume.config import VolumeConfig
from polyclr.pipelines.volume.data import class_names, num_classes, prepare, resolve, split_cases
from polyclr.pipelines.volume.evaluate import (
    classification_rows,
    finetune_table,
    fully_supervised_rows,
)
from polyclr.pipelines.volume.train import pretrain_net
from polyclr.rundir import git_commit, machine_description, thread_count, write_json

BENCH_SETTINGS = {
    "data": {"spacing": [4.0, 4.0, 4.0], "slice_size": [48, 48], "normalisation": "percentile"},
    "net": {"features": [8, 8, 16, 32, 64, 8]},
    "pretrain": {"strategies": ["GR", "GD-", "GD", "GD+LD"], "global_steps": 300, "local_steps": 200,
                 "volumes_per_batch": 4, "num_partitions": 4},
    "finetune": {"labeled_volumes": [1, 2], "combinations": 3, "seeds": [0, 1, 2], "steps": 150,
                 "batch_size": 16},
}
#: real data (``--data ../shared/data/msd_hippocampus``): the data's own plan (spacing, slice
#: size, normalisation, S; as ``polyclr run`` uses it) and the library's default network and
#: pre-training budget; only the runs per K are raised for paired margins.
REAL_SETTINGS = {
    "pretrain": {"strategies": ["GD+LD"]},
    "finetune": {"labeled_volumes": [1, 2], "combinations": 3, "seeds": [0, 1, 2], "steps": 150,
                 "batch_size": 16},
}
DATA = {"n_subjects": 16, "n_unlabelled": 24, "variation": "strong", "real_unlabelled": True, "seed": 0}
RES = Path(__file__).parent / "results"


def _stamp() -> dict[str, str]:
    return {"machine": machine_description(), "threads": thread_count(), "commit": git_commit(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d")}


def validation_split(cfg: VolumeConfig, split: dict) -> dict:
    """Hold out a third of the training subjects (patient-disjoint) as validation subjects;
    they leave fine-tuning *and* pre-training (the test subjects are never touched)."""
    from polyclr.splits import assert_group_disjoint, group_split

    train = split["train"]
    idx = group_split([c.item.patient_id for c in train], test_size=1 / 3, seed=cfg.split.split_seed + 1,
                      source="volume-validation")
    pool = [train[i] for i in idx["train"]] + [train[i] for i in idx.get("val", [])]
    val = [train[i] for i in idx["test"]]
    assert_group_disjoint({"pool": [c.item.patient_id for c in pool],
                           "val": [c.item.patient_id for c in val]}, source="volume-validation")
    val_ids = {id(c) for c in val}
    return {"train": pool, "test": val, "pretrain": [c for c in split["pretrain"] if id(c) not in val_ids]}


def pretrain_inits(cfg: VolumeConfig, split: dict, n_cls: int, scales: list[float],
                   strategies: list[str]) -> tuple[dict, list]:
    """Pre-train each strategy at each step scale (x global/local steps). Names: ``GD+LD`` at
    scale 1, ``GD+LD@x4`` at scale 4."""
    inits: dict = {"random_init": None}
    info = []
    for scale in scales:
        p = dataclasses.replace(cfg.pretrain, global_steps=int(cfg.pretrain.global_steps * scale),
                                local_steps=int(cfg.pretrain.local_steps * scale))
        c = dataclasses.replace(cfg, pretrain=p)
        for strategy in strategies:
            net, i = pretrain_net(c, split["pretrain"], strategy, None, n_cls)
            name = strategy if scale == 1 else f"{strategy}@x{scale:g}"
            inits[name] = copy.deepcopy(net.state_dict())
            info.append({"method": name, **i})
            print(f"pretrained {name}: {[round(s['seconds']) for s in i['stages']]} s", flush=True)
    return inits, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--stage", choices=["validation", "test"], default="test")
    ap.add_argument("--out", type=Path, default=Path("runs/bench_volume"))
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--pretrain-scales", type=float, nargs="+", default=[1.0])
    ap.add_argument("--finetune-steps", type=int, nargs="+", default=None)
    ap.add_argument("--finetune-lrs", type=float, nargs="+", default=None)
    ap.add_argument("--data", type=Path, default=None,
                    help="a real labelled dataset (MSD / nnU-Net / manifest) instead of the generated "
                         "reference subjects; its settings start from REAL_SETTINGS")
    ap.add_argument("--inits", type=Path, default=None,
                    help="file of the pre-trained initialisations: loaded when it exists (same settings "
                         "and stage), else written after pre-training")
    ap.add_argument("--pretrain-only", action="store_true", help="stop after pre-training (with --inits)")
    ap.add_argument("--wait-inits", action="store_true", help="read and split the data, then wait for --inits")
    ap.add_argument("--tag", default="", help="suffix of the CSV names (keeps earlier runs)")
    ap.add_argument("--strategies", nargs="+", default=None,
                    help="strategies to pre-train; with an existing --inits file, the initialisations "
                         "of it to fine-tune (names as stored, e.g. GD+LD@x5)")
    ap.add_argument("--variation", default=DATA["variation"],
                    help="reference-subject preset (polyclr.modalities.volume.reference.VARIATIONS)")
    ap.add_argument("--no-full", action="store_true", help="skip the fully supervised row")
    ap.add_argument("--random-only", action="store_true",
                    help="fine-tune random init only (no pre-training; its rows pair with another process's)")
    ap.add_argument("--no-random", action="store_true",
                    help="fine-tune only the pre-trained initialisations (random init runs in another process)")
    ap.add_argument("--no-classification", action="store_true", help="test stage: skip the volume probe")
    ap.add_argument("--merge", type=Path, nargs="+", default=None,
                    help="write the CSVs from the metrics_<stage>.json of these --out folders (runs "
                         "split by K over several processes) instead of training")
    args = ap.parse_args()
    if args.merge:
        merge_runs(args.merge, args.stage, args.tag)
        return
    torch.set_num_threads(max(1, torch.get_num_threads()))
    started = _stamp()  # the commit that runs, even if HEAD moves during the run
    base = REAL_SETTINGS if args.data is not None else BENCH_SETTINGS
    cfg = merge(merge(VolumeConfig(), base), parse_set(args.set))
    strategies = args.strategies or list(cfg.pretrain.strategies)
    if args.data is not None:
        data, args.variation, args.no_classification = args.data, args.data.name, True
    else:
        data = generate_reference(**{**DATA, "variation": args.variation})
    t0 = time.perf_counter()
    cfg, prep, _ = resolve(cfg, data)
    cases = prepare(cfg, prep)
    split = split_cases(cfg, cases, None)
    if args.stage == "validation":
        split = validation_split(cfg, split)
    n_cls, names = num_classes(cases), class_names(data, num_classes(cases))
    print(f"{args.stage}: {len(split['train'])} train, {len(split['test'])} scored, "
          f"{len(split['pretrain'])} pre-training volumes", flush=True)
    while args.wait_inits and not args.inits.is_file():  # another process is pre-training
        time.sleep(10)
    if args.random_only:
        inits, info = {"random_init": None}, []
    elif args.inits is not None and args.inits.is_file():  # pre-trained earlier, same settings
        saved = torch.load(args.inits, weights_only=True)
        if saved["settings"] != _pretrain_settings(cfg):
            raise SystemExit(f"--inits {args.inits}: made with other pre-training settings")
        if saved["stage"] != args.stage and not (saved["stage"] == "test" and args.stage == "validation"):
            raise SystemExit(f"--inits {args.inits}: made for the {saved['stage']} stage")
        # test-stage inits in the validation stage: pre-trained on every training volume, the
        # validation images included (labels unused), the test volumes never
        inits, info = {"random_init": None, **saved["inits"]}, saved["info"]
        if args.strategies:  # fine-tune only the named initialisations of the file
            inits = {k: v for k, v in inits.items() if k == "random_init" or k in args.strategies}
            info = [i for i in info if i["method"] in args.strategies]
        started["commit"] = f"{started['commit']} (pre-trained at {saved['commit']})"
        started["pretrained_on"] = f"{saved['stage']}-stage training volumes"
    else:
        inits, info = pretrain_inits(cfg, split, n_cls, args.pretrain_scales, strategies)
        if args.inits is not None:
            args.inits.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"inits": {k: v for k, v in inits.items() if v is not None}, "info": info,
                        "settings": _pretrain_settings(cfg), "stage": args.stage, "commit": started["commit"]},
                       args.inits)
    if args.pretrain_only:
        return
    if args.no_random:
        inits.pop("random_init")
    rows = []
    for steps in args.finetune_steps or [cfg.finetune.steps]:
        for lr in args.finetune_lrs or [cfg.finetune.lr]:
            c = dataclasses.replace(cfg, finetune=dataclasses.replace(cfg.finetune, steps=steps, lr=lr))
            new = finetune_table(c, split, inits, n_cls, names, None)
            if not args.no_full:
                new += fully_supervised_rows(c, split, n_cls, names)
            for r in new:
                r["finetune_steps"], r["finetune_lr"] = steps, lr
            rows += new
            print(f"fine-tune {steps} steps, lr {lr:g} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    seconds = time.perf_counter() - t0
    cls = (classification_rows(cfg, split, inits, n_cls)
           if args.stage == "test" and not args.no_classification else [])
    stamp = {**started, "stage": args.stage, "variation": args.variation,
             "pretrain_volumes": int(info[0].get("volumes", len(split["pretrain"]))) if info else len(split["pretrain"]),
             "scored_volumes": len(split["test"]),
             "wall_seconds": round(seconds, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / f"metrics_{args.stage}.json",
               {"rows": rows, "pretrain": info, "classification": cls, "stamp": stamp, "classes": names,
                "settings": _settings(cfg)})
    write_csvs(rows, cls, names, stamp, _settings(cfg), args.tag)
    print(f"done in {seconds:.0f} s")


def merge_runs(dirs: list[Path], stage: str, tag: str) -> None:
    """CSVs of several processes' runs (same settings, e.g. one process per K) as one table; the
    wall time is the longest process's (they ran side by side)."""
    import json

    parts = [json.loads((d / f"metrics_{stage}.json").read_text()) for d in dirs]
    if len({p["settings"] for p in parts}) != 1:
        raise SystemExit("--merge: the runs were made with different settings")
    stamp = {**parts[0]["stamp"], "wall_seconds": max(p["stamp"]["wall_seconds"] for p in parts)}
    commits = sorted({p["stamp"]["commit"].split()[0] for p in parts})
    if len(commits) != 1 and not _same_library(commits):
        raise SystemExit(f"--merge: the runs were made at commits whose polyclr/ differs: {commits}")
    # the pre-training note "(pre-trained at ...)" of whichever part fine-tuned pre-trained inits
    stamp.update({k: v for p in parts for k, v in p["stamp"].items() if k in ("commit", "pretrained_on")
                  and "pre-trained" in str(p["stamp"]["commit"])})
    if len(commits) != 1:
        stamp["commit"] = " + ".join(commits) + " (polyclr/ identical)" + stamp["commit"][len(stamp["commit"].split()[0]):]
    rows = [r for p in parts for r in p["rows"]]
    cls = [r for p in parts for r in p["classification"]]
    write_csvs(rows, cls, parts[0]["classes"], stamp, parts[0]["settings"], tag)


def _same_library(commits: list[str]) -> bool:
    """Whether ``polyclr/`` is the same at every commit (``-dirty`` stripped: a run stamped dirty had
    uncommitted changes somewhere in the tree, which ``git`` cannot recover afterwards)."""
    import subprocess

    revs = [c.removesuffix("-dirty") for c in commits]
    return all(subprocess.run(["git", "diff", "--quiet", revs[0], r, "--", "polyclr"], cwd=RES.parent.parent,
                              capture_output=True).returncode == 0 for r in revs[1:])


def _pretrain_settings(cfg: VolumeConfig) -> str:
    """What the pre-trained initialisations depend on (an --inits file is reused only with these)."""
    return (f"pretrain {cfg.pretrain.global_steps}/{cfg.pretrain.local_steps} steps x scale; "
            f"{cfg.data.spacing[0]:g} mm {cfg.data.slice_size[0]}x{cfg.data.slice_size[1]} {cfg.data.normalisation}; "
            f"features {cfg.net.features}; S={cfg.pretrain.num_partitions}")


def _settings(cfg: VolumeConfig) -> str:
    return (_pretrain_settings(cfg)
            + (f"; pre-trained encoder lr x{cfg.finetune.pretrained_encoder_lr_scale:g}"
               if cfg.finetune.pretrained_encoder_lr_scale != 1.0 else ""))


def paired_margins(rows: list[dict], baseline: str = "random_init") -> list[dict]:
    """Per (method, K, steps, lr): mean ± std over (combination, seed) of Dice(method) -
    Dice(baseline) on the same labelled volumes, seed and fine-tuning settings (paired)."""
    base = {(r["labeled_volumes"], r["combination"], r["seed"], *_variant(r)): r["dice_mean"]
            for r in rows if r["method"] == baseline}
    diffs: dict[tuple, list[float]] = {}
    for r in rows:
        key = (r["labeled_volumes"], r["combination"], r["seed"], *_variant(r))
        if r["method"] in (baseline, "fully_supervised") or key not in base:
            continue
        diffs.setdefault((r["method"], r["labeled_volumes"], *_variant(r)), []).append(
            r["dice_mean"] - base[key])
    return [{"method": m, "labeled_volumes": k, "finetune_steps": s, "finetune_lr": lr, "runs": len(d),
             "margin_mean": float(np.mean(d)), "margin_std": float(np.std(d)),
             "wins": int(sum(x > 0 for x in d))} for (m, k, s, lr), d in diffs.items()]


def _variant(r: dict) -> tuple:
    """The fine-tuning settings a row was trained with (its comparison group)."""
    return r["finetune_steps"], r["finetune_lr"]


def _write(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def write_csvs(rows: list[dict], cls: list[dict], classes: list[str], stamp: dict, settings: str,
               tag: str = "") -> None:
    RES.mkdir(exist_ok=True)
    meta_keys = list(stamp)
    meta = [stamp[k] for k in meta_keys]
    summary = mean_std(rows, ["method", "labeled_volumes", "finetune_steps", "finetune_lr"], ["dice_mean"])
    margins = paired_margins(rows)
    if stamp["stage"] == "validation":
        _write(RES / f"volume_validation{tag}.csv",
               ["method", "labeled_volumes", "finetune_steps", "finetune_lr", "runs", "dice_mean", "dice_std",
                "margin_vs_random", "margin_std", "wins", "settings", *meta_keys],
               [[s["method"], s["labeled_volumes"], s["finetune_steps"], s["finetune_lr"], s["n"],
                 f"{s['dice_mean_mean']:.4f}", f"{s['dice_mean_std']:.4f}",
                 *next(([f"{m['margin_mean']:.4f}", f"{m['margin_std']:.4f}", m["wins"]] for m in margins
                        if (m["method"], m["labeled_volumes"], *_variant(m))
                        == (s["method"], s["labeled_volumes"], *_variant(s))), ["", "", ""]),
                 settings, *meta] for s in summary])
    else:
        _write(RES / f"volume_label_efficiency{tag}.csv",
               ["method", "labeled_volumes", "combination", "seed", "finetune_steps", "finetune_lr",
                "train_volumes",
                "dice_mean", *[f"dice_{c}" for c in classes], *[f"hd95_mm_{c}" for c in classes], *meta_keys],
               [[r["method"], r["labeled_volumes"], r["combination"], r["seed"], r["finetune_steps"],
                 r["finetune_lr"], " ".join(r["train_volumes"]), f"{r['dice_mean']:.4f}",
                 *[f"{r['dice'][c]:.4f}" for c in classes],
                 *[f"{r.get('hd95_mm', {}).get(c, float('nan')):.2f}" for c in classes], *meta] for r in rows])
        _write(RES / f"volume_label_efficiency_summary{tag}.csv",
               ["method", "labeled_volumes", "finetune_steps", "finetune_lr", "runs", "dice_mean",
                "dice_std", "settings", *meta_keys],
               [[s["method"], s["labeled_volumes"], s["finetune_steps"], s["finetune_lr"], s["n"], f"{s['dice_mean_mean']:.4f}",
                 f"{s['dice_mean_std']:.4f}", settings, *meta] for s in summary])
        _write(RES / f"volume_paired_margin{tag}.csv",
               ["method", "labeled_volumes", "finetune_steps", "finetune_lr", "runs", "margin_mean",
                "margin_std", "wins", *meta_keys],
               [[m["method"], m["labeled_volumes"], m["finetune_steps"], m["finetune_lr"], m["runs"], f"{m['margin_mean']:.4f}",
                 f"{m['margin_std']:.4f}", m["wins"], *meta] for m in margins])
        if cls:
            _write(RES / f"volume_classification{tag}.csv",
                   ["method", "auroc", "accuracy", "train_volumes", "test_volumes", *meta_keys],
                   [[r["method"], f"{r['auroc']:.4f}", f"{r['accuracy']:.4f}", r["train_volumes"],
                     r["test_volumes"], *meta] for r in cls])
    for s in summary:
        print(f"{s['method']:<14} K={s['labeled_volumes']} steps={s['finetune_steps']} lr={s['finetune_lr']:g}: "
              f"{s['dice_mean_mean']:.3f} ± {s['dice_mean_std']:.3f}")
    for m in margins:
        print(f"margin {m['method']:<14} K={m['labeled_volumes']} steps={m['finetune_steps']} lr={m['finetune_lr']:g}: "
              f"{m['margin_mean']:+.3f} ± {m['margin_std']:.3f} ({m['wins']}/{m['runs']} wins)")


if __name__ == "__main__":
    main()
