"""Scores of the time-series pipeline: single- or multi-label, per window and per recording.

Recordings (data read from WFDB / EDF / signal tables) are scored twice: per window, and per
recording with the mean of its windows' probabilities as the recording's prediction.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from polyclr.evaluation import (
    classification_metrics,
    linear_probe,
    multilabel_metrics,
    multilabel_probe,
)
from polyclr.modalities.timeseries.windows import aggregate


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


def probe(data, emb_tr: np.ndarray, tr: np.ndarray, emb_te: np.ndarray, te: np.ndarray, seed: int) -> dict[str, Any]:
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
