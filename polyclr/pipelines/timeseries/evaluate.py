"""Evaluation of the time-series pipeline: linear probe on frozen embeddings and the
label-efficiency table (every method at every label fraction and seed, on the test patients)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from torch import nn

from polyclr.engine import seed_everything
from polyclr.errors import DataError
from polyclr.evaluation import classification_metrics, linear_probe
from polyclr.modalities.timeseries.encoders import Classifier, TsaiBackbone
from polyclr.pipelines.timeseries import train as T
from polyclr.pipelines.timeseries.config import TimeSeriesConfig
from polyclr.pipelines.timeseries.data import Prepared
from polyclr.rundir import StageMarkers
from polyclr.splits import label_fraction_subset

METRIC_KEYS = ("accuracy", "macro_f1", "auroc", "auprc")


def clean(m: dict[str, float]) -> dict[str, float]:
    """NaN metrics (e.g. AUROC with one class in the test split) as None, for JSON."""
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in m.items()}


def probe(encoder: nn.Module, prep: Prepared, seed: int, subset: np.ndarray | None = None) -> dict[str, float]:
    """Logistic-regression probe on frozen embeddings: ``subset`` (default the training split)
    against the test split."""
    d = prep.data
    tr = prep.train if subset is None else subset
    emb_tr, emb_te = T.embed(encoder, d.X[tr]), T.embed(encoder, d.X[prep.test])
    return linear_probe(emb_tr, d.y[tr], emb_te, d.y[prep.test], seed=seed)


def label_efficiency(cfg: TimeSeriesConfig, prep: Prepared, encoder: nn.Module, spec: dict[str, Any],
                     stages: StageMarkers | None = None) -> list[dict[str, Any]]:
    """One row per (method, label fraction, seed), scored on the test patients; each row is a
    resumable stage of ``stages`` (its done marker holds the row)."""
    stages = stages or StageMarkers(None)
    d, ds = prep.data, cfg.downstream
    unknown = set(ds.methods) - {"linear_probe", "pretrained", "random_init", "supervised"}
    if unknown:
        raise DataError(None, f"unknown downstream methods {sorted(unknown)}")
    emb_all = T.embed(encoder, d.X) if "linear_probe" in ds.methods else None
    y_te, X_te = d.y[prep.test], d.X[prep.test]
    rows = []
    for frac in ds.label_fractions:
        for seed in ds.seeds:
            subset = label_fraction_subset(prep.train, d.y, frac, seed)
            for method in ds.methods:
                def one_row(method: str = method, frac: float = frac, seed: int = seed,
                            subset: np.ndarray = subset) -> dict[str, Any]:
                    seed_everything(seed)
                    if method == "linear_probe":
                        m = linear_probe(emb_all[subset], d.y[subset], emb_all[prep.test], y_te, seed=seed)
                    else:
                        if method == "pretrained":
                            enc = copy.deepcopy(encoder)
                        elif method == "random_init":
                            enc = T.make_encoder(spec)
                        else:
                            enc = TsaiBackbone(ds.supervised_arch, d.n_channels, d.length)
                        model = T.finetune_model(cfg, Classifier(enc, d.n_classes), d.X[subset], d.y[subset],
                                                 seed, desc=f"finetune {method} {frac:g} seed {seed}",
                                                 log_dir=stages.log_dir(f"finetune_{method}_f{frac:g}_s{seed}"))
                        m = classification_metrics(y_te, T.predict_proba(model, X_te))
                    return {"method": method, "label_fraction": frac, "seed": seed,
                            "n_labelled": int(len(subset)), **clean(m)}

                rows.append(stages.run(f"finetune_{method}_f{frac:g}_s{seed}", one_row))
    return rows
