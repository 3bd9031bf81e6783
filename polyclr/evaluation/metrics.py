"""Metrics shared by the pipelines (scikit-learn based): classification, retrieval, aggregation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray | None = None
) -> dict[str, float]:
    """Accuracy, macro-F1, one-vs-rest AUROC and macro AUPRC from class probabilities.

    Shape:
        y_true: ``(n,)`` integer class indices into the columns of ``proba``;
        proba: ``(n, n_classes)``. AUROC/AUPRC are NaN if the test set has a single class.
    """
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score

    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    n_classes = proba.shape[1]
    pred = proba.argmax(axis=1)
    out = {
        "accuracy": float(accuracy_score(y_true, pred)),
        "macro_f1": float(f1_score(y_true, pred, average="macro", labels=np.arange(n_classes), zero_division=0)),
    }
    present = np.unique(y_true)
    if len(present) < 2:
        out["auroc"] = float("nan")
        out["auprc"] = float("nan")
        return out
    onehot = np.eye(n_classes)[y_true]
    if n_classes == 2:
        out["auroc"] = float(roc_auc_score(y_true, proba[:, 1]))
        out["auprc"] = float(average_precision_score(y_true, proba[:, 1]))
    else:
        cols = [c for c in range(n_classes) if c in present]
        p = proba[:, cols] / np.clip(proba[:, cols].sum(1, keepdims=True), 1e-12, None)
        try:
            out["auroc"] = float(roc_auc_score(y_true, p, multi_class="ovr", labels=cols))
        except ValueError:
            out["auroc"] = float("nan")
        out["auprc"] = float(average_precision_score(onehot[:, cols], proba[:, cols], average="macro"))
    return out


def multilabel_metrics(Y_true: np.ndarray, proba: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Multi-label macro AUROC / AUPRC (over labels with both values in ``Y_true``), macro-F1
    and subset accuracy at ``threshold``.

    Shape:
        Y_true: ``(n, K)`` multi-hot; proba: ``(n, K)`` per-label probabilities.
    """
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    Y = np.asarray(Y_true).astype(int)
    P = np.asarray(proba, dtype=np.float64)
    pred = (P >= threshold).astype(int)
    both = [k for k in range(Y.shape[1]) if 0 < Y[:, k].sum() < len(Y)]
    present = [k for k in range(Y.shape[1]) if Y[:, k].any()]
    out = {
        "accuracy": float((pred == Y).all(axis=1).mean()),
        "macro_f1": float(f1_score(Y[:, present], pred[:, present], average="macro", zero_division=0))
        if present else float("nan"),
        "auroc": float(np.mean([roc_auc_score(Y[:, k], P[:, k]) for k in both])) if both else float("nan"),
        "auprc": float(np.mean([average_precision_score(Y[:, k], P[:, k]) for k in both])) if both else float("nan"),
        "labels_scored": float(len(both)),
    }
    return out


def retrieval_metrics(similarity: np.ndarray, relevant: np.ndarray, ks: Iterable[int] = (1, 5, 10)) -> dict[str, float]:
    """Recall@k and mAP@10 for query→item retrieval.

    Args:
        similarity: query × item scores (higher = more similar).
        relevant: boolean query × item relevance (several relevant items allowed, as in Clotho).

    Shape:
        similarity, relevant: ``(n_queries, n_items)``.

    R@k is the fraction of queries with at least one relevant item in the top k; mAP@10 is the
    mean over queries of average precision over the top 10 (normalised by min(#relevant, 10)).
    """
    sim = np.asarray(similarity, dtype=np.float64)
    rel = np.asarray(relevant, dtype=bool)
    order = np.argsort(-sim, axis=1, kind="stable")
    ranked = np.take_along_axis(rel, order, axis=1)
    out: dict[str, float] = {}
    for k in ks:
        out[f"R@{k}"] = float(ranked[:, :k].any(axis=1).mean())
    top = ranked[:, :10].astype(np.float64)
    hits = np.cumsum(top, axis=1)
    precision = hits / np.arange(1, top.shape[1] + 1)
    denom = np.minimum(rel.sum(axis=1), 10).clip(min=1)
    out["mAP@10"] = float(((precision * top).sum(axis=1) / denom).mean())
    return out


def mean_std(rows: Iterable[Mapping[str, Any]], by: Iterable[str], keys: Iterable[str]) -> list[dict[str, Any]]:
    """Aggregate metric rows: mean and std of ``keys`` for each combination of ``by`` columns."""
    rows = list(rows)
    by, keys = list(by), list(keys)
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(b) for b in by), []).append(r)
    out = []
    for gk, members in groups.items():
        agg: dict[str, Any] = dict(zip(by, gk, strict=True))
        agg["n"] = len(members)
        for k in keys:
            vals = np.array([m[k] for m in members if m.get(k) is not None], dtype=np.float64)
            agg[f"{k}_mean"] = float(np.nanmean(vals)) if len(vals) else float("nan")
            agg[f"{k}_std"] = float(np.nanstd(vals)) if len(vals) else float("nan")
        out.append(agg)
    return out
