"""The CLI steps of the volume pipeline: pretrain, finetune, evaluate, run (+ report)."""

from __future__ import annotations

import copy
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polyclr.engine import load_encoder, save_encoder
from polyclr.errors import CheckpointError, ConfigError, DataError
from polyclr.evaluation import classification_metrics, linear_probe, mean_std
from polyclr.modalities.volume.io import save_label_like
from polyclr.modalities.volume.networks import SegMonaiUNet, SegUNet, check_spatial_size
from polyclr.modalities.volume.transforms import invert_label
from polyclr.pipelines.volume.classify import POOLINGS, finetune_classifier, predict_proba
from polyclr.pipelines.volume.config import VolumeConfig, parse_strategy
from polyclr.pipelines.volume.prepare import Case, num_classes, prepare, split_cases
from polyclr.pipelines.volume.train import (
    build_net,
    dice_per_class,
    encoder_meta,
    finetune_net,
    predict,
    pretrain_net,
    volume_features,
)


def apply_selection(cfg: VolumeConfig, cases: list[Case], out: Path | None = None
                     ) -> list[np.ndarray] | None:
    """Redundancy-reducing selection of pre-training slices (``cfg.selection``).

    Slices along ``data.axis`` of every pre-training volume go through
    :func:`polyclr.selection.select_items` (grouped per volume, in physical order, positions in
    mm from the affine). Returns one keep-mask per volume (None when selection is off); the
    selection table is written to ``out/selection.csv``.
    """
    if cfg.selection.method == "none":
        return None
    from polyclr.selection import select_items

    axis = cfg.data.axis
    images, groups, positions, names = [], [], [], []
    for vi, c in enumerate(cases):
        vol = c.image[0].movedim(axis, 0).numpy()  # (n_planes, ., .)
        aff = c.affine
        world = int(np.argmax(np.abs(aff[:3, axis])))
        mm = aff[world, axis] * np.arange(vol.shape[0]) + aff[world, 3]
        images.append(vol)
        groups += [vi] * vol.shape[0]
        positions += mm.tolist()
        names += [f"{c.item.case_id}:{k}" for k in range(vol.shape[0])]
    result = select_items(np.concatenate(images), groups=np.array(groups), positions=np.array(positions),
                          item_names=names, config=cfg.selection)
    kept = np.asarray(result.table["kept"], dtype=bool)
    if out is not None:
        result.table.to_csv(out / "selection.csv", index=False)
    masks, start = [], 0
    for im in images:
        masks.append(kept[start:start + im.shape[0]])
        start += im.shape[0]
    return masks


def _validate(cfg: VolumeConfig) -> None:
    for s in [cfg.pretrain.strategy, *cfg.pretrain.strategies]:
        try:
            parse_strategy(s)
        except ValueError as exc:
            raise ConfigError(f"config key 'pretrain.strategies': {exc}") from exc
    if cfg.net.spatial_dims not in (2, 3):
        raise ConfigError("config key 'net.spatial_dims': must be 2 or 3")
    if cfg.finetune.combinations < 1 or not cfg.finetune.seeds:
        raise ConfigError("finetune.combinations must be >= 1 and finetune.seeds non-empty")
    if not cfg.finetune.pretrained_encoder_lr_scale > 0:
        raise ConfigError("config key 'finetune.pretrained_encoder_lr_scale': must be > 0, got "
                          f"{cfg.finetune.pretrained_encoder_lr_scale}")
    k = cfg.classify
    if k.pooling not in POOLINGS:
        raise ConfigError(f"config key 'classify.pooling': must be one of {POOLINGS}, got {k.pooling!r}")
    if k.steps < 1 or k.batch_volumes < 1 or k.slices < 1 or not k.lr > 0:
        raise ConfigError("config section 'classify': steps, batch_volumes and slices must be >= 1 "
                          "and lr > 0")
    try:
        net = build_net(cfg, 2)
    except ValueError as exc:
        raise ConfigError(f"config section 'net': {exc}") from exc
    key, size = (("data.slice_size", cfg.data.slice_size) if cfg.net.spatial_dims == 2
                 else ("data.patch_size", cfg.data.patch_size))
    try:
        check_spatial_size(size, net.divisor, cfg.net.architecture)
    except ValueError as exc:
        raise ConfigError(f"config key {key!r}: {exc}") from exc
    stages = len(net.decoder_channels)
    if any(parse_strategy(s)[1] for s in [cfg.pretrain.strategy, *cfg.pretrain.strategies]) and not (
            1 <= cfg.pretrain.decoder_stage <= stages):
        raise ConfigError(f"config key 'pretrain.decoder_stage': must be in 1..{stages} for "
                          f"{cfg.net.architecture}, got {cfg.pretrain.decoder_stage}")


def class_names(data: Path, n: int) -> list[str]:
    """Segmentation class names from ``data/dataset.json``'s ``labels`` (``class_<i>`` where
    absent), index order; used for the per-class Dice keys."""
    import json

    names = {i: f"class_{i}" for i in range(n)}
    ds = data / "dataset.json" if data.is_dir() else None
    if ds is not None and ds.is_file():
        try:
            labels = json.loads(ds.read_text()).get("labels", {})
            for k, v in labels.items():
                if str(v).isdigit():
                    names[int(v)] = k
                elif str(k).isdigit():
                    names[int(k)] = str(v)
        except (ValueError, AttributeError):
            pass
    return [names[i] for i in range(1, n)]


def _combos(train: list[Case], k: int, n: int, seed: int) -> list[list[Case]]:
    """``n`` fixed, distinct sets of ``k`` training volumes (deterministic in ``seed``, ``k``)."""
    idx = list(range(len(train)))
    total = math.comb(len(idx), k)
    if total <= n:
        return [[train[i] for i in c] for c in itertools.combinations(idx, k)]
    rng = np.random.default_rng([seed, k])
    seen: list[tuple[int, ...]] = []
    while len(seen) < n:
        c = tuple(sorted(rng.choice(idx, size=k, replace=False).tolist()))
        if c not in seen:
            seen.append(c)
    return [[train[i] for i in c] for c in seen]


def _evaluate(cfg: VolumeConfig, net: SegUNet | SegMonaiUNet, test: list[Case], n_cls: int, names: list[str],
              pred_dir: Path | None) -> tuple[float, dict[str, float], list[float]]:
    per_case = []
    for case in test:
        pred = predict(cfg, net, case)
        per_case.append(dice_per_class(pred, case.label, n_cls))
        if pred_dir is not None:
            ras = invert_label(pred.numpy(), case.data, case.transform)
            save_label_like(ras, case.volume, pred_dir / f"{case.item.case_id}.nii.gz")
    arr = np.array(per_case)
    per_class = {n: float(np.nanmean(arr[:, i])) for i, n in enumerate(names)}
    case_means = [float(np.nanmean(r)) for r in arr]
    return float(np.nanmean(case_means)), per_class, case_means


def _row(method: str, k: int, combo: int, seed: int, vols: list[Case], dice: float,
         per_class: dict[str, float], cases: list[float]) -> dict[str, Any]:
    return {"method": method, "labeled_volumes": k, "combination": combo, "seed": seed,
            "train_volumes": [c.item.case_id for c in vols], "dice_mean": dice, "dice": per_class,
            "dice_per_test_volume": cases}


def finetune_rows(cfg: VolumeConfig, method: str, init: dict[str, torch.Tensor] | None,
                  split: dict[str, list[Case]], k: int, n_cls: int, names: list[str],
                  pred_root: Path | None) -> list[dict[str, Any]]:
    """Fine-tune from ``init`` (None = random) for every fixed combination x seed at K = ``k``."""
    rows = []
    for ci, vols in enumerate(_combos(split["train"], k, cfg.finetune.combinations, cfg.finetune.split_seed)):
        for seed in cfg.finetune.seeds:
            torch.manual_seed(seed)
            net = build_net(cfg, n_cls)
            if init is not None:
                net.load_state_dict(init)
            net = finetune_net(cfg, net, vols, seed, pretrained=init is not None)
            pred_dir = None
            if pred_root is not None and ci == 0 and seed == cfg.finetune.seeds[0] and cfg.finetune.write_predictions:
                pred_dir = pred_root / f"{method}_K{k}"
            dice, per_class, per_case = _evaluate(cfg, net, split["test"], n_cls, names, pred_dir)
            rows.append(_row(method, k, ci, seed, vols, dice, per_class, per_case))
    return rows


def _load_init(checkpoint: Path | None) -> tuple[dict[str, torch.Tensor] | None, dict[str, Any]]:
    if checkpoint is None:
        return None, {}
    p = Path(checkpoint)
    if p.is_dir():
        for name in ("encoder.safetensors", "model.safetensors"):
            if (p / name).is_file():
                p = p / name
                break
        else:
            raise CheckpointError(checkpoint, "run directory holds no encoder.safetensors")
    state, meta = load_encoder(p)
    if meta.get("modality") != "volume":
        raise CheckpointError(p, f"not a volume checkpoint (modality {meta.get('modality')!r})")
    return state, meta


def _check_compatible(cfg: VolumeConfig, meta: dict[str, Any], n_cls: int, path: Any) -> None:
    enc = meta.get("encoder", {})
    if enc.get("out_channels") != n_cls:
        raise CheckpointError(path, f"checkpoint has {enc.get('out_channels')} classes, data {n_cls}")
    want = build_net(cfg, n_cls).config
    if {k: enc.get(k) for k in want} != want:
        raise CheckpointError(path, f"checkpoint network {enc} does not match the net config {want}")


def pretrain_step(cfg: VolumeConfig, data: Path, out: Path, resume: bool = False) -> dict[str, Any]:
    """``polyclr pretrain volume``: writes ``encoder.safetensors`` (+ stage checkpoints)."""
    _validate(cfg)
    cases = prepare(cfg, data)
    split = split_cases(cfg, cases, out)
    pre = split["pretrain"]
    keep = apply_selection(cfg, pre, out)
    n_cls = num_classes(cases)
    net, info = pretrain_net(cfg, pre, cfg.pretrain.strategy, out, n_cls, resume, keep=keep)
    glob, loc = parse_strategy(cfg.pretrain.strategy)
    trained = (["encoder"] if glob else []) + (["decoder"] if loc else [])
    save_encoder(out / "encoder.safetensors", net.state_dict(), encoder_meta(cfg, net, cfg.pretrain.strategy, trained))
    if keep is not None:
        info["selection"] = {"method": cfg.selection.method, "kept_slices": int(sum(k.sum() for k in keep)),
                             "total_slices": int(sum(len(k) for k in keep))}
    return {"strategy": cfg.pretrain.strategy, "pretrain_volumes": len(pre), **info}


def finetune_step(cfg: VolumeConfig, data: Path, checkpoint: Path | None, out: Path,
                  labeled_volumes: int | None, label_fraction: float | None) -> dict[str, Any]:
    """``polyclr finetune volume``: K labelled volumes, every combination x seed; test Dice."""
    _validate(cfg)
    cases = prepare(cfg, data)
    split = split_cases(cfg, cases, out)
    n_cls = num_classes(cases)
    init, meta = _load_init(checkpoint)
    if init is not None:
        _check_compatible(cfg, meta, n_cls, checkpoint)
    n_train = len(split["train"])
    if labeled_volumes is None and label_fraction is not None:
        labeled_volumes = max(1, round(label_fraction * n_train))
    k = labeled_volumes or cfg.finetune.labeled_volumes[0]
    if not 1 <= k <= n_train:
        raise DataError(data, f"asked for {k} labelled volumes but the training split has {n_train}")
    method = meta.get("objective", {}).get("strategy", "pretrained") if init else "random_init"
    names = class_names(data, n_cls)
    rows = finetune_rows(cfg, method, init, split, k, n_cls, names, out / "predictions")
    # keep one fine-tuned model (first combination, first seed) for `evaluate`
    net = build_net(cfg, n_cls)
    if init is not None:
        net.load_state_dict(init)
    net = finetune_net(cfg, net, _combos(split["train"], k, 1, cfg.finetune.split_seed)[0], cfg.finetune.seeds[0],
                       pretrained=init is not None)
    m = encoder_meta(cfg, net, method, ["finetuned"])
    m["task"] = "segmentation"
    save_encoder(out / "model.safetensors", net.state_dict(), m)
    summary = mean_std(rows, ["method", "labeled_volumes"], ["dice_mean"])
    return {"rows": rows, "summary": summary, "test_volumes": len(split["test"])}


def evaluate_step(cfg: VolumeConfig, data: Path, checkpoint: Path, out: Path) -> dict[str, Any]:
    """``polyclr evaluate volume``: Dice of a fine-tuned model on the held-out split + masks."""
    cases = prepare(cfg, data)
    split = split_cases(cfg, cases, out)
    n_cls = num_classes(cases)
    state, meta = _load_init(checkpoint)
    if meta.get("task") != "segmentation":
        raise CheckpointError(checkpoint, "not a fine-tuned segmentation model (use the finetune run dir)")
    _check_compatible(cfg, meta, n_cls, checkpoint)
    net = build_net(cfg, n_cls)
    net.load_state_dict(state)
    names = class_names(data, n_cls)
    dice, per_class, per_case = _evaluate(cfg, net, split["test"], n_cls, names, out / "predictions")
    return {"dice_mean": dice, "dice": per_class, "dice_per_test_volume": per_case,
            "test_volumes": [c.item.case_id for c in split["test"]]}


def finetune_table(cfg: VolumeConfig, split: dict[str, list[Case]], inits: dict[str, Any], n_cls: int,
                   names: list[str], pred_root: Path | None) -> list[dict[str, Any]]:
    """Rows for every K in ``cfg.finetune.labeled_volumes`` (that fits) x method x combination x seed."""
    ks = [k for k in cfg.finetune.labeled_volumes if k <= len(split["train"])]
    rows: list[dict[str, Any]] = []
    for k in ks:
        for method, init in inits.items():
            rows += finetune_rows(cfg, method, init, split, k, n_cls, names,
                                  pred_root if k == max(ks) else None)
    return rows


def fully_supervised_rows(cfg: VolumeConfig, split: dict[str, list[Case]], n_cls: int,
                          names: list[str]) -> list[dict[str, Any]]:
    """Upper reference: random init fine-tuned on *all* training volumes, one row per seed."""
    return finetune_rows(cfg, "fully_supervised", None, split, len(split["train"]), n_cls, names, None)


def classification_rows(cfg: VolumeConfig, split: dict[str, list[Case]], inits: dict[str, Any],
                        n_cls: int) -> list[dict[str, Any]]:
    """Volume-level classification rows for each initialisation: a logistic-regression probe on
    the frozen encoder (task ``volume_classification_linear_probe``) and, with
    ``classify.finetune``, encoder + head fine-tuned per seed (``volume_classification_finetune``).
    Empty when the training or test volumes lack two classes."""
    train = [c for c in split["train"] if c.item.class_label is not None]
    test = [c for c in split["test"] if c.item.class_label is not None]
    ytr = np.array([c.item.class_label for c in train])
    yte = np.array([c.item.class_label for c in test])
    if len(np.unique(ytr)) < 2 or len(np.unique(yte)) < 2:
        return []
    n_classes = int(max(ytr.max(), yte.max())) + 1
    common = {"train_volumes": len(train), "test_volumes": len(test), "pooling": cfg.classify.pooling}
    rows = []
    for method, init in inits.items():
        torch.manual_seed(cfg.engine.seed)
        net = build_net(cfg, n_cls)
        if init is not None:
            net.load_state_dict(init)
        xtr = np.stack([volume_features(cfg, net, c, cfg.classify.pooling) for c in train])
        xte = np.stack([volume_features(cfg, net, c, cfg.classify.pooling) for c in test])
        res = linear_probe(xtr, ytr, xte, yte, seed=cfg.engine.seed)
        rows.append({"method": method, "task": "volume_classification_linear_probe", **common, **res})
        if not cfg.classify.finetune:
            continue
        for seed in cfg.finetune.seeds:
            torch.manual_seed(seed)
            net = build_net(cfg, n_cls)
            if init is not None:
                net.load_state_dict(init)
            model = finetune_classifier(cfg, net, train, n_classes, seed, pretrained=init is not None)
            res = classification_metrics(yte, predict_proba(cfg, model, test))
            rows.append({"method": method, "task": "volume_classification_finetune", "seed": seed,
                         "steps": cfg.classify.steps, **common, **res})
    return rows


def run_all(cfg: VolumeConfig, data: Path, out: Path) -> dict[str, Any]:
    """``polyclr run volume``: pre-train every strategy, fine-tune at each K, report."""
    _validate(cfg)
    cases = prepare(cfg, data)
    split = split_cases(cfg, cases, out)
    n_train = len(split["train"])
    if n_train < 1 or not split["test"]:
        raise DataError(data, "need labelled volumes for both training and testing")
    n_cls = num_classes(cases)
    names = class_names(data, n_cls)
    pre = split["pretrain"]
    keep = apply_selection(cfg, pre, out)
    inits: dict[str, dict[str, torch.Tensor] | None] = {"random_init": None}
    pretrain_info = []
    for strategy in cfg.pretrain.strategies:
        net, info = pretrain_net(cfg, pre, strategy, None, n_cls, keep=keep)
        inits[strategy] = copy.deepcopy(net.state_dict())
        pretrain_info.append(info)
        glob, loc = parse_strategy(strategy)
        trained = (["encoder"] if glob else []) + (["decoder"] if loc else [])
        safe = strategy.replace("+", "_").replace("-", "minus")
        save_encoder(out / "encoders" / f"{safe}.safetensors", net.state_dict(),
                     encoder_meta(cfg, net, strategy, trained))
    skipped = [k for k in cfg.finetune.labeled_volumes if k > n_train]
    rows = finetune_table(cfg, split, inits, n_cls, names, out / "predictions")
    if cfg.finetune.fully_supervised:
        rows += fully_supervised_rows(cfg, split, n_cls, names)
    summary = mean_std(rows, ["method", "labeled_volumes"], ["dice_mean"])
    classification = classification_rows(cfg, split, inits, n_cls) if cfg.finetune.classification else []
    metrics = {
        "rows": rows, "summary": summary, "classification": classification,
        "pretrain": pretrain_info, "classes": names, "train_volumes": n_train,
        "test_volumes": len(split["test"]), "pretrain_volumes": len(pre),
        "skipped_labeled_volumes": skipped,
    }
    from polyclr.pipelines.volume.report import write_volume_report

    write_volume_report(cfg, out, metrics, split["test"])
    return metrics
