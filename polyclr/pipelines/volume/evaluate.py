"""Evaluation of the volume pipeline: segmentation on the held-out volumes (Dice, masks written
back onto each scan's grid), the label-efficiency table, and volume-level classification."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polyclr.engine.progress import track
from polyclr.evaluation import classification_metrics, linear_probe
from polyclr.modalities.volume.io import save_label_like
from polyclr.modalities.volume.networks import (
    SegMonaiUNet,
    SegUNet,
    VolumeClassifier,
    pool_positions,
    volume_bottleneck,
)
from polyclr.modalities.volume.transforms import invert_label
from polyclr.pipelines.volume.config import VolumeConfig, build_net
from polyclr.pipelines.volume.data import Case, combinations, volume_input
from polyclr.pipelines.volume.train import finetune_classifier, finetune_net
from polyclr.rundir import StageMarkers, is_rank_zero

Net = SegUNet | SegMonaiUNet


@torch.no_grad()
def predict(cfg: VolumeConfig, net: Net, case: Case) -> torch.Tensor:
    """Label map on the preprocessed grid: slice by slice (2D) or sliding window (3D).

    Shape:
        returns ``(X, Y, Z)`` long.
    """
    net.eval()
    device = next(net.parameters()).device
    img = case.image.to(device)
    if cfg.net.spatial_dims == 2:
        axis = cfg.data.axis + 1
        slices = img.movedim(axis, 0)  # (Z, 1, X, Y) for axis 2
        logits = torch.cat([net(slices[i:i + 32]) for i in range(0, slices.shape[0], 32)])
        pred = logits.argmax(1).movedim(0, cfg.data.axis)
    else:
        from monai.inferers import sliding_window_inference

        logits = sliding_window_inference(img[None], tuple(cfg.data.patch_size),
                                          cfg.finetune.sw_batch_size, net, overlap=0.25)
        pred = logits.argmax(1)[0]
    return pred.cpu()


def dice_per_class(pred: torch.Tensor, label: torch.Tensor, n_classes: int) -> np.ndarray:
    """MONAI DiceMetric per foreground class (NaN where a class is absent from both).

    Shape:
        pred, label: ``(X, Y, Z)`` integer; returns ``(n_classes - 1,)``.
    """
    from monai.metrics import DiceMetric
    from monai.networks.utils import one_hot

    metric = DiceMetric(include_background=False, reduction="none", ignore_empty=True)
    p = one_hot(pred[None, None].long(), n_classes)
    y = one_hot(label.reshape(pred.shape)[None, None].long(), n_classes)
    return metric(p, y)[0].cpu().numpy().astype(np.float64)




def hd95_per_class(pred: torch.Tensor, label: torch.Tensor, n_classes: int, spacing: list[float]) -> np.ndarray:
    """MONAI 95 % Hausdorff distance (mm) per foreground class; NaN where the class is missing
    from the prediction or the label.

    Shape:
        pred, label: ``(X, Y, Z)`` integer; returns ``(n_classes - 1,)``.
    """
    from monai.metrics import compute_hausdorff_distance
    from monai.networks.utils import one_hot

    p = one_hot(pred[None, None].long(), n_classes)
    y = one_hot(label.reshape(pred.shape)[None, None].long(), n_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MONAI warns for every empty class (returned as NaN / inf)
        d = compute_hausdorff_distance(p, y, include_background=False, percentile=95,
                                       spacing=[float(s) for s in spacing])
    out = d[0].cpu().numpy().astype(np.float64)
    return np.where(np.isfinite(out), out, np.nan)


def inference_device(cfg: VolumeConfig) -> torch.device:
    """The accelerator when there is one and ``engine.accelerator`` allows it, else the CPU."""
    acc = str(getattr(cfg.engine, "accelerator", "auto")).lower()
    if acc in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    if acc in ("auto", "mps") and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@torch.no_grad()
def volume_features(cfg: VolumeConfig, net: Net, case: Case, pooling: str = "mean") -> np.ndarray:
    """Frozen-encoder volume descriptor: ``pool_positions`` of ``volume_bottleneck``.

    Shape:
        returns ``(C_bottleneck,)`` (``"mean"``) or ``(2 * C_bottleneck,)`` (``"mean_max"``).
    """
    net.eval()
    feats = volume_bottleneck(net, volume_input(cfg, case), cfg.net.spatial_dims)
    return pool_positions(feats, pooling).cpu().numpy()


@torch.no_grad()
def predict_proba(cfg: VolumeConfig, model: VolumeClassifier, cases: list[Case]) -> np.ndarray:
    """Class probabilities of each volume from all of its slices (2D) or the whole volume.

    Shape:
        returns ``(len(cases), num_classes)``.
    """
    model.eval()
    out = [torch.softmax(model.predict_volume(volume_input(cfg, c)), dim=0) for c in cases]
    return torch.stack(out).numpy()


def evaluate_cases(cfg: VolumeConfig, net: SegUNet | SegMonaiUNet, test: list[Case], n_cls: int, names: list[str],
                   pred_dir: Path | None) -> tuple[float, dict[str, float], list[float], dict[str, float]]:
    """Mean Dice, Dice per class, mean Dice per test volume, 95 % Hausdorff distance (mm) per
    class; inference on the accelerator when there is one."""
    net.to(inference_device(cfg))
    per_case, hd = [], []
    for case in track(test, "predict test volumes", unit="volumes"):
        pred = predict(cfg, net, case)
        per_case.append(dice_per_class(pred, case.label, n_cls))
        hd.append(hd95_per_class(pred, case.label, n_cls, cfg.data.spacing))
        if pred_dir is not None and is_rank_zero():  # one writer under DDP
            ras = invert_label(pred.numpy(), case.data, case.transform)
            save_label_like(ras, case.volume, pred_dir / f"{case.item.case_id}.nii.gz")
    arr, hda = np.array(per_case), np.array(hd)
    per_class = {n: float(np.nanmean(arr[:, i])) for i, n in enumerate(names)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-NaN class: no test volume had it in both maps
        hd95 = {n: float(np.nanmean(hda[:, i])) for i, n in enumerate(names)}
    case_means = [float(np.nanmean(r)) for r in arr]
    return float(np.nanmean(case_means)), per_class, case_means, hd95



def _row(method: str, k: int, combo: int, seed: int, vols: list[Case], dice: float,
         per_class: dict[str, float], cases: list[float], hd95: dict[str, float]) -> dict[str, Any]:
    return {"method": method, "labeled_volumes": k, "combination": combo, "seed": seed,
            "train_volumes": [c.item.case_id for c in vols], "dice_mean": dice, "dice": per_class,
            "hd95_mm": hd95, "dice_per_test_volume": cases}



def finetune_rows(cfg: VolumeConfig, method: str, init: dict[str, torch.Tensor] | None,
                  split: dict[str, list[Case]], k: int, n_cls: int, names: list[str],
                  pred_root: Path | None, stages: StageMarkers | None = None,
                  keep: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Fine-tune from ``init`` (None = random) for every fixed combination x seed at K = ``k``;
    each one is a resumable stage of ``stages`` (its done marker holds the row); ``keep["net"]``
    receives the model of the first combination and seed (trained again when its stage was done)."""
    stages = stages or StageMarkers(None)
    rows = []
    for ci, vols in enumerate(combinations(split["train"], k, cfg.finetune.combinations, cfg.split.split_seed)):
        for seed in cfg.finetune.seeds:
            key = f"finetune_{method}_K{k}_c{ci}_s{seed}"
            keep_this = keep is not None and ci == 0 and seed == cfg.finetune.seeds[0]

            def train(ci: int = ci, vols: list[Case] = vols, seed: int = seed, key: str = key) -> Net:
                torch.manual_seed(seed)
                net = build_net(cfg, n_cls)
                if init is not None:
                    net.load_state_dict(init)
                return finetune_net(cfg, net, vols, seed, pretrained=init is not None,
                                    desc=f"finetune {method} K={k} combination {ci} seed {seed}",
                                    log_dir=stages.log_dir(key))

            def one_row(ci: int = ci, vols: list[Case] = vols, seed: int = seed, keep_this: bool = keep_this,
                        train=train) -> dict[str, Any]:
                net = train()
                if keep_this:
                    keep["net"] = net
                pred_dir = None
                if pred_root is not None and ci == 0 and seed == cfg.finetune.seeds[0] and cfg.finetune.write_predictions:
                    pred_dir = pred_root / f"{method}_K{k}"
                dice, per_class, per_case, hd95 = evaluate_cases(cfg, net, split["test"], n_cls, names, pred_dir)
                return _row(method, k, ci, seed, vols, dice, per_class, per_case, hd95)

            rows.append(stages.run(key, one_row))
            if keep_this and "net" not in keep:  # the stage was done in an earlier, resumed run
                keep["net"] = train()
    return rows



def finetune_table(cfg: VolumeConfig, split: dict[str, list[Case]], inits: dict[str, Any], n_cls: int,
                   names: list[str], pred_root: Path | None,
                   stages: StageMarkers | None = None, keep: dict[str, Any] | None = None
                   ) -> list[dict[str, Any]]:
    """Rows for every K in ``cfg.finetune.labeled_volumes`` (that fits) x method x combination x seed;
    ``keep`` receives the model at the largest K from ``GD+LD`` (else the last pre-trained
    initialisation), its first combination and seed."""
    ks = [k for k in cfg.finetune.labeled_volumes if k <= len(split["train"])]
    pretrained = [m for m in inits if inits[m] is not None]
    final = "GD+LD" if "GD+LD" in pretrained else (pretrained[-1] if pretrained else "random_init")
    rows: list[dict[str, Any]] = []
    for k in ks:
        for method, init in inits.items():
            rows += finetune_rows(cfg, method, init, split, k, n_cls, names,
                                  pred_root if k == max(ks) else None, stages,
                                  keep if (keep is not None and k == max(ks) and method == final) else None)
    if keep is not None and "net" in keep:
        keep.update(method=final, labeled_volumes=max(ks))
    return rows


def fully_supervised_rows(cfg: VolumeConfig, split: dict[str, list[Case]], n_cls: int,
                          names: list[str], stages: StageMarkers | None = None) -> list[dict[str, Any]]:
    """Upper reference: random init fine-tuned on *all* training volumes, one row per seed."""
    return finetune_rows(cfg, "fully_supervised", None, split, len(split["train"]), n_cls, names, None,
                         stages)


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
        both = track(train + test, f"features {method}", unit="volumes")
        feats = np.stack([volume_features(cfg, net, c, cfg.classify.pooling) for c in both])
        xtr, xte = feats[:len(train)], feats[len(train):]
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




class Scan:
    """What :func:`predict` and :func:`volume_features` read from a case: its ``image``.

    Shape:
        image: ``(C, X, Y, Z)`` preprocessed.
    """

    def __init__(self, image: Any) -> None:
        self.image = torch.as_tensor(image.as_tensor() if hasattr(image, "as_tensor") else image).float()


def load_model(checkpoint: Path, cli_cfg: VolumeConfig, task: str | None = None) -> tuple[Net, VolumeConfig, dict[str, Any]]:
    """Network + its own resolved config from a volume checkpoint (run dir, ``model.ckpt``, an
    encoder or a fine-tuned ``.safetensors``); the engine section comes from ``cli_cfg``.

    Raises:
        CheckpointError: no stored config, or (``task`` given) a model of another task.
    """
    import dataclasses

    from polyclr.config import from_dict
    from polyclr.errors import CheckpointError
    from polyclr.pipelines.volume.train import load_init

    state, meta = load_init(checkpoint)
    if task is not None and meta.get("task") != task:
        raise CheckpointError(checkpoint, f"not a fine-tuned {task} model (use OUT/model.ckpt of "
                              "`polyclr run volume` or a `polyclr finetune volume` run dir)")
    if "config" not in meta:
        raise CheckpointError(checkpoint, "the checkpoint stores no preprocessing config")
    cfg = dataclasses.replace(from_dict(VolumeConfig, meta["config"]), engine=cli_cfg.engine)
    net = build_net(cfg, int(meta["encoder"]["out_channels"]))
    net.load_state_dict(state)
    return net.eval(), cfg, meta


def scans(cfg: VolumeConfig, prep: Any, divisor: int):
    """Each opened scan loaded and preprocessed with ``cfg`` (a model's config), one at a time.

    Yields:
        ``(item, VolumeData, preprocessed dict with image (C, X', Y', Z'), transform)``.
    """
    from monai.data import MetaTensor

    from polyclr.errors import DataError
    from polyclr.modalities.volume.io import load_volume
    from polyclr.modalities.volume.transforms import build_preprocess, monai_safe_tensors

    t = build_preprocess(cfg.net.spatial_dims, cfg.data, False, divisor)
    for it in prep.items:
        vol = load_volume(it.image, series=it.series, channels=it.channels)
        if vol.channels != cfg.net.in_channels:
            raise DataError(it.image, f"scan has {vol.channels} channel(s), the model takes {cfg.net.in_channels}")
        with monai_safe_tensors():
            d = t({"image": MetaTensor(np.ascontiguousarray(vol.channels_first()), affine=vol.affine)})
        yield it, vol, d, t


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rows as CSV (columns: every key, first-seen order)."""
    import csv

    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
