"""Evaluation of the time-series pipeline: linear probe on frozen embeddings and the
label-efficiency table (every method at every label fraction and seed, on the test patients).

Scores are single- or multi-label; recordings (data read from WFDB / EDF / signal tables) are
scored per window and per recording, the mean of its windows' probabilities being the
recording's prediction.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from torch import nn

from polyclr._lazy import lazy_module
from polyclr.engine import seed_everything
from polyclr.errors import DataError
from polyclr.evaluation import (
    classification_metrics,
    linear_probe,
    multilabel_metrics,
    multilabel_probe,
    svm_probe,
)
from polyclr.modalities.timeseries.encoders import Classifier, TsaiBackbone
from polyclr.modalities.timeseries.windows import aggregate
from polyclr.pipelines.timeseries.config import TimeSeriesConfig
from polyclr.pipelines.timeseries.data import Prepared
from polyclr.rundir import StageMarkers
from polyclr.splits import label_fraction_subset

T = lazy_module("polyclr.pipelines.timeseries.train")  # Lightning loads when training starts


def clean(m: dict[str, Any]) -> dict[str, Any]:
    """NaN → None (JSON)."""
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in m.items()}


def targets(data, idx: np.ndarray) -> np.ndarray:
    """Multi-hot rows (multi-label) or class indices. Shape: ``(n, K)`` or ``(n,)``."""
    return data.Y[idx] if data.multilabel else data.y[idx]


def _metrics(data, idx: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    if data.multilabel:
        return multilabel_metrics(data.Y[idx], proba)
    return classification_metrics(data.y[idx], proba)


def score(data, idx: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Window metrics, plus ``recording_*`` metrics for recordings.

    Shape:
        idx: ``(n,)`` indices of the scored samples; proba: ``(n, K)``.
    """
    out = _metrics(data, idx, proba)
    if data.trial_names:
        trials, agg = aggregate(proba, data.trial_id[idx])
        first = np.array([idx[np.argmax(data.trial_id[idx] == t)] for t in trials])
        rec = _metrics(data, first, agg)
        out.update({f"recording_{k}": v for k, v in rec.items()})
        out["recordings"] = float(len(trials))
    return clean(out)


def probe_embeddings(data, emb_tr: np.ndarray, tr: np.ndarray, emb_te: np.ndarray, te: np.ndarray, seed: int) -> dict[str, Any]:
    """Linear probe on frozen embeddings (one-vs-rest per label for multi-label), scored by
    :func:`score` on the test samples ``te``."""
    if data.multilabel:
        _, proba = multilabel_probe(emb_tr, data.Y[tr], emb_te, data.Y[te], seed=seed)
    else:
        _, proba = linear_probe(emb_tr, data.y[tr], emb_te, data.y[te], seed=seed, return_proba=True)
    return score(data, te, proba)


def metric_keys(rows: list[dict[str, Any]]) -> list[str]:
    """The metric columns present in ``rows`` (window and recording level)."""
    base = ("accuracy", "macro_f1", "auroc", "auprc")
    keys = list(base) + [f"recording_{k}" for k in base]
    return [k for k in keys if rows and k in rows[0]]


def _embeddings(encoder: nn.Module, prep: Prepared, tr: np.ndarray,
                emb_all: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of the samples ``tr`` and of the test split (rows of ``emb_all`` when given)."""
    if emb_all is not None:
        return emb_all[tr], emb_all[prep.test]
    return T.embed(encoder, prep.data.X[tr]), T.embed(encoder, prep.data.X[prep.test])


def probe(encoder: nn.Module, prep: Prepared, seed: int, subset: np.ndarray | None = None,
          emb_all: np.ndarray | None = None) -> dict[str, float]:
    """Logistic-regression probe on frozen embeddings (one per label for multi-label data):
    ``subset`` (default the labelled training samples) against the test split (``emb_all``:
    the encoder's embeddings of every sample, when already computed)."""
    d = prep.data
    tr = prep.train_labelled if subset is None else subset
    emb_tr, emb_te = _embeddings(encoder, prep, tr, emb_all)
    return probe_embeddings(d, emb_tr, tr, emb_te, prep.test, seed)


def svm(encoder: nn.Module, prep: Prepared, emb_all: np.ndarray | None = None) -> dict[str, float] | None:
    """RBF-SVM probe (TS2Vec's evaluation protocol) fitted on the labelled training samples,
    scored on the test split; None for multi-label data."""
    d = prep.data
    if d.multilabel:
        return None
    tr = prep.train_labelled
    emb_tr, emb_te = _embeddings(encoder, prep, tr, emb_all)
    return clean(svm_probe(emb_tr, d.y[tr], emb_te, d.y[prep.test]))


def label_efficiency(cfg: TimeSeriesConfig, prep: Prepared, encoder: nn.Module, spec: dict[str, Any],
                     stages: StageMarkers | None = None, emb_all: np.ndarray | None = None) -> list[dict[str, Any]]:
    """One row per (method, label fraction, seed), scored on the test patients; each row is a
    resumable stage of ``stages`` (its done marker holds the row). ``emb_all`` (the pre-trained
    encoder's embeddings of every sample, computed here when not given) serves the linear probe
    and the pre-trained head's initial probe of every label subset."""
    stages = stages or StageMarkers(None)
    d, ds = prep.data, cfg.downstream
    unknown = set(ds.methods) - {"linear_probe", "pretrained", "random_init", "supervised"}
    if unknown:
        raise DataError(None, f"unknown downstream methods {sorted(unknown)}")
    if ds.class_weight not in ("balanced", "none"):
        raise DataError(None, f"downstream.class_weight must be 'balanced' or 'none', got '{ds.class_weight}'")
    if emb_all is None and ({"linear_probe", "pretrained"} & set(ds.methods)):
        emb_all = T.embed(encoder, d.X)
    X_te = d.X[prep.test]
    rows = []
    for frac in ds.label_fractions:
        for seed in ds.seeds:
            subset = label_fraction_subset(prep.train_labelled, d.y, frac, seed)
            for method in ds.methods:
                def one_row(method: str = method, frac: float = frac, seed: int = seed,
                            subset: np.ndarray = subset) -> dict[str, Any]:
                    seed_everything(seed)
                    if method == "linear_probe":
                        m = probe_embeddings(d, emb_all[subset], subset, emb_all[prep.test], prep.test, seed)
                    else:
                        model = _finetuned(cfg, prep, method, encoder, spec, subset, seed, emb_all,
                                           stages.log_dir(f"finetune_{method}_f{frac:g}_s{seed}"),
                                           f"finetune {method} {frac:g} seed {seed}")
                        m = score(d, prep.test, T.predict_proba(model, X_te, multilabel=d.multilabel))
                    return {"method": method, "label_fraction": frac, "seed": seed,
                            "n_labelled": int(len(subset)), **m}

                rows.append(stages.run(f"finetune_{method}_f{frac:g}_s{seed}", one_row))
    return rows


def _finetuned(cfg: TimeSeriesConfig, prep: Prepared, method: str, encoder: nn.Module, spec: dict[str, Any],
               subset: np.ndarray, seed: int, emb_all: np.ndarray | None, log_dir: Any, desc: str) -> nn.Module:
    """A classifier fine-tuned by ``method`` on the labelled ``subset`` (the pre-trained
    encoder at ``downstream.encoder_lr_scale`` of the learning rate; random-init and supervised
    encoders at the full rate). The supervised baseline trains as a plain supervised model, with a
    random head: a probe on a random network's eval-mode features (batch norm on running
    statistics) would not match its batch-statistics features in training."""
    d, ds = prep.data, cfg.downstream
    scale, emb = 1.0, None
    if method == "pretrained":
        enc, scale = copy.deepcopy(encoder), ds.encoder_lr_scale
        emb = emb_all[subset] if emb_all is not None else None
    elif method == "random_init":
        enc = T.make_encoder(spec)
    else:
        enc = TsaiBackbone(ds.supervised_arch, d.n_channels, d.length)
    return T.finetune_model(cfg, Classifier(enc, d.n_classes), d.X[subset], targets(d, subset), seed,
                            desc=desc, log_dir=log_dir, encoder_lr_scale=scale, emb=emb,
                            probe_head=method != "supervised")
