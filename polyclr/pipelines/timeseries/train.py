"""Training for time series: encoders, contrastive pre-training (TS2Vec / COMET / AutoTCL),
fine-tuning with a classification head, checkpoints, and the encoder's embeddings."""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from polyclr.config import to_dict
from polyclr.engine import (
    EngineConfig,
    FinetuneModule,
    PretrainModule,
    fit,
    load_encoder,
    make_loader,
    save_encoder,
)
from polyclr.engine.progress import track
from polyclr.engine.trainer import TrimHeapCallback
from polyclr.errors import CheckpointError, DataError
from polyclr.modalities.timeseries.data import TimeSeriesData
from polyclr.modalities.timeseries.encoders import Classifier, build_encoder, instance_embedding
from polyclr.modalities.timeseries.objectives import (
    AutoTCLObjective,
    COMETObjective,
    TS2VecObjective,
    build_dbpm,
    split_long_series,
    ts2vec_iterations,
)
from polyclr.modalities.timeseries.sampler import HierarchicalBatchSampler, collate_batch
from polyclr.pipelines.timeseries.config import TimeSeriesConfig
from polyclr.pipelines.timeseries.data import Prepared, PretrainItems, select_windows

HEAP_TRIM_MB = 256  # RSS growth above its smallest step-end value before glibc's heap is trimmed


def encoder_spec(cfg: TimeSeriesConfig, data: TimeSeriesData) -> dict[str, Any]:
    """Architecture name + constructor kwargs (stored in the encoder file's metadata)."""
    kwargs: dict[str, Any] = {}
    if cfg.encoder.name.lower() == "ts2vec":
        kwargs = {"output_dims": cfg.encoder.output_dims, "hidden_dims": cfg.encoder.hidden_dims,
                  "depth": cfg.encoder.depth}
    return {"name": cfg.encoder.name, "in_channels": data.n_channels, "seq_len": data.length, "kwargs": kwargs}


def make_encoder(spec: dict[str, Any]) -> nn.Module:
    return build_encoder(spec["name"], spec["in_channels"], spec["seq_len"], **spec.get("kwargs", {}))


def build_objective(cfg: TimeSeriesConfig, encoder: nn.Module, n_train: int, in_channels: int) -> nn.Module:
    o = cfg.objective
    dbpm = build_dbpm(o.dbpm, n_train, o.dbpm_warmup, o.dbpm_beta, o.dbpm_down_weight)
    if o.name == "ts2vec":
        return TS2VecObjective(encoder, o.alpha, o.temporal_unit, o.max_train_length, dbpm, o.average,
                               fast=o.fast_path, seed=cfg.engine.seed)
    if o.name == "comet":
        return COMETObjective(encoder, o.comet_weights, o.temperature, tuple(o.augmentations), dbpm, o.average,
                              seed=cfg.engine.seed)
    if o.name == "autotcl":
        return AutoTCLObjective(encoder, in_channels, o.aug_every, o.mask_weight, o.temperature, o.alpha,
                                dbpm, o.average, o.aug_adv_weight, o.aug_keep_ratio, o.aug_smooth_weight)
    raise DataError(None, f"unknown objective '{o.name}' (ts2vec, comet, autotcl)")


class LeanPretrainModule(PretrainModule):
    """:class:`PretrainModule` with a leaner step for short, small-batch pre-training (where a
    step's compute is small next to the loop's overhead): Lightning's manual optimisation
    (zero_grad → backward → step, no closure / hook round-trips) and the loss logged every
    ``log_every_n_steps`` steps and on the last one. Same update as the automatic loop; used
    when no gradient clipping is configured (Lightning clips only in automatic mode).
    """

    def __init__(self, *args: Any, log_every_n_steps: int = 10, max_steps: int = -1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.automatic_optimization = False
        self.log_every_n_steps, self.max_steps = max(1, log_every_n_steps), max_steps

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        opt = self.optimizers()
        out = self.objective(batch)
        logs = out if isinstance(out, dict) else {"loss": out}
        loss = logs["loss"]
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        opt.step()
        step = self.trainer.global_step  # counts optimiser steps, already incremented
        if step % self.log_every_n_steps == 0 or step == self.max_steps:
            bs = int(batch["x"].shape[0])
            for key, value in logs.items():
                if torch.is_tensor(value) and value.numel() == 1:
                    self.log(f"train/{key}", value.detach().float(), prog_bar=key == "loss", batch_size=bs)
        return loss.detach()


def pretraining_budget(cfg: TimeSeriesConfig, data: TimeSeriesData, idx: np.ndarray | None,
                       n_items: int = 0) -> EngineConfig:
    """``cfg.engine`` with the step budget resolved: when neither ``max_steps`` nor
    ``max_epochs`` is set (> 0), the public TS2Vec code's rule by training-set size
    (:func:`ts2vec_iterations` on the pre-training rows ``idx``, padded to their longest series;
    ``idx=None``: ``n_items`` windows of ``data.length``)."""
    if cfg.engine.max_steps > 0 or cfg.engine.max_epochs > 0:
        return cfg.engine
    if idx is None:
        n, length = n_items, int(data.length)
    else:
        n, length = len(idx), (int(data.lengths[idx].max()) if len(idx) else 0)
    return dataclasses.replace(cfg.engine, max_steps=ts2vec_iterations(n, length, data.n_channels))


def pretrain_encoder(cfg: TimeSeriesConfig, prep: Prepared, out: Path, resume: bool = False,
                     items: Dataset | None = None) -> dict[str, Any]:
    """Pre-train on the training split only; writes ``out/encoder.safetensors``.

    ``items`` replaces the in-memory windows by another dataset of the same items (e.g.
    :class:`~polyclr.modalities.timeseries.windows.StreamedWindows`, which reads each window
    from disk: bounded memory for long recordings); its ``rec_idx`` / ``patient`` arrays feed
    COMET's hierarchical sampler.
    """
    torch.manual_seed(cfg.engine.seed)
    data = prep.data
    if items is None:
        idx = select_windows(cfg, prep, prep.train)
        engine = pretraining_budget(cfg, data, idx)
        x = None
        if cfg.objective.name == "ts2vec":  # TS2Vec's sections of series >= 2x max_train_length
            x, src = split_long_series(data.X[idx], cfg.objective.max_train_length)
            idx = idx[src]
        items = PretrainItems(data, idx, x)
        trial, patient = data.trial_id[idx], data.patient_id[idx]
    else:
        idx = np.arange(len(items))
        engine = pretraining_budget(cfg, data, None, n_items=len(items))
        trial, patient = getattr(items, "rec_idx", idx), getattr(items, "patient", idx)
    spec = encoder_spec(cfg, data)
    objective = build_objective(cfg, make_encoder(spec), len(idx), data.n_channels)
    bs = min(cfg.engine.batch_size, len(items))
    if cfg.objective.name == "comet":
        sampler = HierarchicalBatchSampler(trial, patient, bs, cfg.objective.per_trial, cfg.engine.seed)
        loader = DataLoader(items, batch_sampler=sampler, collate_fn=collate_batch)
    else:
        loader = make_loader(items, bs, cfg.engine.seed, shuffle=True, drop_last=len(items) > bs,
                             num_workers=cfg.engine.num_workers, collate_fn=collate_batch)
    meta = {"modality": "timeseries", "objective": cfg.objective.name}
    # fused AdamW: one kernel for all parameters instead of a loop over them; same update rule
    adamw = functools.partial(torch.optim.AdamW, lr=cfg.engine.lr, weight_decay=cfg.engine.weight_decay,
                              fused=True)
    if cfg.engine.gradient_clip_val:
        module = PretrainModule(objective, cfg.engine.lr, cfg.engine.weight_decay, meta, optimizer_factory=adamw)
    else:
        module = LeanPretrainModule(objective, cfg.engine.lr, cfg.engine.weight_decay, meta,
                                    optimizer_factory=adamw, log_every_n_steps=cfg.engine.log_every_n_steps,
                                    max_steps=engine.max_steps)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    if cfg.objective.checkpoint_every_n_steps > 0:
        every = max(1, round(cfg.objective.checkpoint_every_n_steps / max(1, len(loader))))
        engine = dataclasses.replace(engine, checkpoint_every_n_epochs=every)
    # random crop lengths fragment glibc's heap: trim it when RSS grows (polyclr.engine.memory)
    trims = [TrimHeapCallback(HEAP_TRIM_MB)] if HEAP_TRIM_MB > 0 else []
    trainer = fit(module, loader, engine, out, resume=resume, desc=f"pretrain {cfg.objective.name}",
                  extra_callbacks=trims)
    seconds = time.perf_counter() - t0
    enc = objective.export_encoder()
    save_encoder(out / "encoder.safetensors", enc.state_dict(), encoder_meta(cfg, spec, prep))
    logged = {k: float(v) for k, v in trainer.callback_metrics.items() if torch.is_tensor(v) and v.numel() == 1}
    return {
        "pretrain_seconds": round(seconds, 3), "pretrain_steps": int(trainer.global_step),
        "pretrain_samples": int(len(idx)), "peak_rss_mb": _peak_rss_mb(),
        "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None,
        "final_loss": logged.get("train/loss"), "objective": cfg.objective.name,
        "encoder": spec["name"], "objective_object": objective,
    }


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB; includes imported libraries)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def encoder_meta(cfg: TimeSeriesConfig, spec: dict[str, Any], prep: Prepared) -> dict[str, Any]:
    d = prep.data
    return {
        "modality": "timeseries", "encoder": spec, "objective": cfg.objective.name,
        "input": {"channels": d.n_channels, "length": d.length, "sampling_rate": d.sampling_rate,
                  "normalization": prep.normalizer, "channel_names": d.channel_names},
        "classes": d.classes, "config": to_dict(cfg),
    }


def load_checkpoint(checkpoint: Path) -> tuple[nn.Module, dict[str, Any], nn.Module | None]:
    """Rebuild ``(encoder, meta, classifier or None)`` from a run dir or a safetensors file."""
    p = Path(checkpoint)
    if p.is_dir():
        cands = [p / "classifier.safetensors", p / "encoder.safetensors"]
        p = next((c for c in cands if c.is_file()), cands[-1])
    state, meta = load_encoder(p)
    if meta.get("modality") != "timeseries" or "encoder" not in meta:
        raise CheckpointError(p, "not a polyclr time-series encoder (missing metadata)")
    encoder = make_encoder(meta["encoder"])
    if meta.get("n_classes"):
        clf = Classifier(encoder, int(meta["n_classes"]))
        _load_state(clf, state, p)
        return clf.encoder, meta, clf
    _load_state(encoder, state, p)
    return encoder, meta, None


def _load_state(module: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(path, f"weights do not match the encoder ({str(exc)[:160]})") from exc


def check_compatible(meta: dict[str, Any], data: TimeSeriesData, path: Path) -> None:
    ch = meta.get("input", {}).get("channels")
    if ch is not None and ch != data.n_channels:
        raise DataError(path, f"data has {data.n_channels} channels but the encoder expects {ch}")


def normalize_like(meta: dict[str, Any], X: np.ndarray) -> np.ndarray:
    """``X`` z-scored per channel with the training mean/std stored in an encoder's metadata
    (unchanged when the encoder was trained without normalisation).

    Shape:
        X: ``(n, C, T)`` -> same, float32.
    """
    norm = (meta.get("input") or {}).get("normalization")
    if not norm:
        return X
    mean = np.asarray(norm["mean"], dtype=np.float32)[None, :, None]
    std = np.asarray(norm["std"], dtype=np.float32)[None, :, None]
    return ((X - mean) / (std + 1e-8)).astype(np.float32)


@torch.no_grad()
def embed(encoder: nn.Module, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Instance embeddings (max-pooled). Shape: X ``(n, C, T)`` → ``(n, D)``."""
    encoder.eval()
    device = next(encoder.parameters()).device
    starts = range(0, len(X), batch_size)
    sizes = [min(batch_size, len(X) - i) for i in starts]  # progress only if it takes a while
    out = [instance_embedding(encoder, torch.from_numpy(X[i : i + batch_size]).to(device)).cpu()
           for i in track(starts, "embed series", unit="series", sizes=sizes, quiet_start=True)]
    return torch.cat(out).numpy()


@torch.no_grad()
def predict_proba(model: nn.Module, X: np.ndarray, batch_size: int = 256, multilabel: bool = False) -> np.ndarray:
    """Class probabilities (softmax), or per-label probabilities (sigmoid) when ``multilabel``."""
    model.eval()
    device = next(model.parameters()).device
    act = torch.sigmoid if multilabel else (lambda z: torch.softmax(z, -1))
    out = [act(model(torch.from_numpy(X[i : i + batch_size]).to(device))).cpu()
           for i in range(0, len(X), batch_size)]
    return torch.cat(out).numpy()


@torch.no_grad()
def init_head_from_probe(model: Classifier, X: np.ndarray, y: np.ndarray, seed: int,
                         emb: np.ndarray | None = None, balanced: bool = False) -> None:
    """Linear-probe-then-fine-tune (Kumar et al., ICLR 2022): start the head at a logistic
    regression fitted on the frozen embeddings of the labelled subset (scaler folded into the
    weights), so fine-tuning does not begin by back-propagating a random head into the encoder.
    ``emb`` (the encoder's embeddings of ``X``, when already computed) saves embedding ``X``;
    ``balanced`` weights the classes by inverse frequency, as the fine-tuning loss does.

    Shape:
        X: ``(n, C, T)``; y: ``(n,)``; emb: ``(n, D)``.
    """
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y)) < 2:
        return
    emb = (embed(model.encoder, X) if emb is None else emb).astype(np.float64)
    mu, sd = emb.mean(0), emb.std(0) + 1e-6
    lr = LogisticRegression(max_iter=1000, random_state=seed,
                            class_weight="balanced" if balanced else None).fit((emb - mu) / sd, y)
    coef, bias = lr.coef_ / sd, lr.intercept_ - (lr.coef_ / sd) @ mu
    w = torch.zeros_like(model.head.weight, dtype=torch.float64)
    b = torch.zeros_like(model.head.bias, dtype=torch.float64)
    cls = torch.as_tensor(lr.classes_, dtype=torch.long)
    if coef.shape[0] == 1:  # binary: softmax over (0, z) equals sigmoid(z)
        w[cls[1]], b[cls[1]] = torch.as_tensor(coef[0]), float(bias[0])
    else:
        w[cls], b[cls] = torch.as_tensor(coef), torch.as_tensor(bias)
    b[~torch.isin(torch.arange(len(b)), cls)] = -1e4  # classes absent from the labelled subset
    model.head.weight.copy_(w.to(model.head.weight.dtype))
    model.head.bias.copy_(b.to(model.head.bias.dtype))


def _dropout_off(model: nn.Module) -> None:
    """Dropout layers to eval mode: inverted dropout before the max-pool scales and perturbs
    the pooled features, so a head fitted on the deterministic features (the probe) would start
    fine-tuning far from its fitted loss."""
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.eval()


def finetune_steps(cfg: TimeSeriesConfig, n: int) -> int:
    """Optimiser steps of one fine-tuning run on ``n`` labelled samples:
    ``downstream.finetune_epochs`` passes over them, at most ``downstream.finetune_steps``
    (a few labels need few steps; more would only fit the same handful of windows again)."""
    ds = cfg.downstream
    bs = max(1, min(ds.finetune_batch_size, n))
    per_epoch = -(-max(1, n) // bs)
    return max(1, min(ds.finetune_steps, ds.finetune_epochs * per_epoch)) if ds.finetune_epochs > 0 \
        else max(1, ds.finetune_steps)


def class_weights(y: np.ndarray, n_classes: int) -> torch.Tensor:
    """Inverse-frequency ("balanced") class weights of the labels ``y``, 1 for absent classes,
    so the rare classes count as much as the common ones in the loss (macro metrics).

    Shape:
        y: ``(n,)`` class indices; returns ``(n_classes,)``.
    """
    from sklearn.utils.class_weight import compute_class_weight

    y = np.asarray(y, dtype=np.int64)
    present = np.unique(y)
    w = np.ones(n_classes)
    w[present] = compute_class_weight("balanced", classes=present, y=y)  # n / (k * count)
    return torch.as_tensor(w, dtype=torch.float32)


def finetune_model(cfg: TimeSeriesConfig, model: nn.Module, X: np.ndarray, y: np.ndarray, seed: int,
                   desc: str = "finetune", log_dir: Path | None = None, encoder_lr_scale: float = 1.0,
                   emb: np.ndarray | None = None, probe_head: bool = True) -> nn.Module:
    """Train encoder + head with cross-entropy for :func:`finetune_steps` steps on ``(X, y)``
    (head first initialised by a linear probe when ``downstream.head_init == "linear_probe"``,
    on the embeddings ``emb`` of ``X`` when given, else computed; ``probe_head=False`` keeps the
    random head); the encoder's learning rate is ``encoder_lr_scale`` times the head's;
    ``downstream.class_weight == "balanced"`` weights the classes by inverse frequency;
    ``downstream.finetune_dropout`` keeps dropout on. ``desc`` labels the progress, ``log_dir``
    receives the loss curve (``engine.logger``). A 2-D ``y`` is multi-hot (multi-label): binary
    cross-entropy per label, random head."""
    multilabel = np.ndim(y) == 2
    ds_cfg = cfg.downstream
    if ds_cfg.head_init == "linear_probe" and probe_head and not multilabel:
        init_head_from_probe(model, X, y, seed, emb, ds_cfg.class_weight == "balanced")
    if multilabel:
        ds = [{"x": torch.from_numpy(X[i]), "y": torch.from_numpy(np.asarray(y[i], dtype=np.float32))}
              for i in range(len(X))]
    else:
        ds = [{"x": torch.from_numpy(X[i]), "y": torch.tensor(int(y[i]))} for i in range(len(X))]
    bs = max(1, min(ds_cfg.finetune_batch_size, len(ds)))
    loader = make_loader(ds, bs, seed, shuffle=True, collate_fn=collate_batch)  # type: ignore[arg-type]
    model.train()  # Lightning keeps the modes it finds; embeddings leave encoders in eval mode
    if not ds_cfg.finetune_dropout:
        _dropout_off(model)
    if multilabel:
        loss: nn.Module = nn.BCEWithLogitsLoss()
    else:
        weight = class_weights(y, int(model.head.out_features)) if ds_cfg.class_weight == "balanced" else None
        loss = nn.CrossEntropyLoss(weight=weight)
    scales = [(list(model.encoder.parameters()), encoder_lr_scale)] if encoder_lr_scale != 1.0 else None
    module = FinetuneModule(model, loss, lr=ds_cfg.finetune_lr, weight_decay=cfg.engine.weight_decay,
                            lr_scales=scales)
    warnings.filterwarnings("ignore", message=".*validation_step.*but have no.*val_dataloader.*")
    fit(module, loader, cfg.engine, None, max_epochs=-1, checkpoints=False,
        max_steps=finetune_steps(cfg, len(ds)), desc=desc, log_dir=log_dir)
    return model
