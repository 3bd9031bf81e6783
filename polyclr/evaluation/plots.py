"""Figures for run reports and notebooks (matplotlib, no display needed).

Every function draws on its own :class:`matplotlib.figure.Figure` rendered with the Agg
canvas (no pyplot state, no global backend switch, nothing left open), writes a PNG
atomically and returns its path. In Jupyter, show a result with
``IPython.display.Image(path)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polyclr.errors import DataError
from polyclr.evaluation._plotbase import _MAX_LEGEND, _as_1d, _categories, _colors, _figure, _save
from polyclr.evaluation.plot_overlays import (
    plot_segmentation_overlay,
    plot_selection_strip,
    slice_dice,
)


def project_2d(emb: Any, method: str = "tsne", seed: int = 0) -> tuple[np.ndarray, str]:
    """Project embeddings to 2-D with scikit-learn (or UMAP when it is installed and asked for).

    t-SNE needs more points than its perplexity; with fewer than 10 points PCA is used instead.
    ``method="umap"`` falls back to t-SNE when ``umap-learn`` is not installed.

    Args:
        emb: embeddings.
        method: ``"tsne"``, ``"pca"`` or ``"umap"``.
        seed: random state of t-SNE / UMAP.

    Returns:
        The (N, 2) coordinates and the name of the method actually used.

    Shape:
        emb: (N, D) -> (N, 2)
    """
    x = np.asarray(emb, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"emb must be (N, D) with N >= 2, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("emb contains NaN or Inf")
    if method not in ("tsne", "pca", "umap"):
        raise ValueError(f"method must be 'tsne', 'pca' or 'umap', got {method!r}")
    if x.shape[1] == 1:
        return np.hstack([x, np.zeros_like(x)]), "identity"
    if x.shape[1] == 2 and method == "pca":
        return x, "identity"
    if method == "umap":
        try:
            import umap  # type: ignore[import-not-found]

            nn = max(2, min(15, len(x) - 1))
            return umap.UMAP(n_neighbors=nn, random_state=seed).fit_transform(x), "umap"
        except ImportError:
            method = "tsne"
    if method == "tsne" and len(x) >= 10:
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, (len(x) - 1) / 3.0))
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
        return tsne.fit_transform(x), "t-SNE"
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=seed).fit_transform(x), "PCA"


def embedding_separation(emb: Any, labels: Any, groups: Any = None) -> dict[str, float]:
    """How strongly an embedding clusters by label and by group (patient): silhouette scores.

    Computed on the embeddings themselves (cosine distance), not on the 2-D projection. A
    higher ``silhouette_group`` than ``silhouette_label`` means the space mostly separates
    patients rather than disease. A score is NaN when it is undefined (one class, or every
    point its own class).

    Shape:
        emb: (N, D); labels, groups: (N,)
    """
    from sklearn.metrics import silhouette_score

    x = np.asarray(emb, dtype=np.float64)
    out: dict[str, float] = {}
    for name, values in (("label", labels), ("group", groups)):
        if values is None:
            continue
        _, codes = _categories(_as_1d(values, name, len(x)))
        k = len(np.unique(codes))
        score = float("nan")
        if 2 <= k <= len(x) - 1:
            score = float(silhouette_score(x, codes, metric="cosine"))
        out[f"silhouette_{name}"] = score
    return out


def plot_embedding(
    emb: Any,
    labels: Any,
    path: str | Path,
    groups: Any = None,
    title: str = "",
    method: str = "tsne",
    seed: int = 0,
    label_name: str = "label",
    group_name: str = "patient",
    max_points: int = 3000,
) -> Path:
    """2-D map of an embedding space coloured by label and (side by side) by group/patient.

    The panel titles give the silhouette score of each colouring (see
    :func:`embedding_separation`), so one can read off whether the space separates the
    disease or just the patients.

    Args:
        emb: embeddings, one row per sample.
        labels: class of each sample (ints or strings).
        path: output PNG.
        groups: optional patient / group id of each sample (second panel).
        title: figure title.
        method: ``"tsne"``, ``"pca"`` or ``"umap"`` (see :func:`project_2d`).
        seed: projection random state.
        label_name: legend title of the first panel.
        group_name: legend title of the second panel.
        max_points: above this many points a seeded random subset is drawn (noted in the title).

    Shape:
        emb: (N, D); labels, groups: (N,)
    """
    emb = np.asarray(emb)
    labels = _as_1d(labels, "labels", len(emb))
    groups = None if groups is None else _as_1d(groups, "groups", len(emb))
    note = ""
    if len(emb) > max_points:  # t-SNE and silhouettes are quadratic-ish: plot a seeded sample
        keep = np.sort(np.random.default_rng(seed).choice(len(emb), max_points, replace=False))
        note = f" — random {max_points} of {len(emb)} points"
        emb, labels = emb[keep], labels[keep]
        groups = None if groups is None else groups[keep]
    xy, used = project_2d(emb, method, seed)
    n = len(xy)
    panels = [(label_name, labels)]
    if groups is not None:
        panels.append((group_name, groups))
    scores = embedding_separation(emb, labels, groups)
    fig = _figure(5.2 * len(panels), 4.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, values), key in zip(axes, panels, ("silhouette_label", "silhouette_group"), strict=False):
        cats, codes = _categories(values)
        colors = _colors(len(cats))
        for i, cat in enumerate(cats):
            sel = codes == i
            ax.scatter(xy[sel, 0], xy[sel, 1], s=14, color=colors[i], label=str(cat), alpha=0.85,
                       linewidths=0)
        score = scores.get(key, float("nan"))
        ax.set_title(f"coloured by {name} (silhouette {score:.2f})" if math.isfinite(score)
                     else f"coloured by {name}")
        ax.set_xlabel(f"{used} 1")
        ax.set_ylabel(f"{used} 2")
        ax.set_xticks([])
        ax.set_yticks([])
        if len(cats) <= _MAX_LEGEND:
            ax.legend(title=name, fontsize=7, title_fontsize=8, markerscale=1.2, loc="best")
        elif len(cats) == n:
            ax.text(0.01, 0.01, f"every sample is its own {name}: no {name} structure to see",
                    transform=ax.transAxes, fontsize=8)
        else:
            ax.text(0.01, 0.01, f"{len(cats)} {name}s", transform=ax.transAxes, fontsize=8)
    if title or note:
        fig.suptitle(f"{title}{note}" if title else note.lstrip(" —"))
    return _save(fig, path)


def aggregate_curve(
    rows: Iterable[Mapping[str, Any]],
    x_key: str = "label_fraction",
    y_key: str = "macro_f1",
    method_key: str = "method",
) -> dict[str, dict[str, np.ndarray]]:
    """Mean and standard deviation (over seeds / repeats) of ``y`` per method and ``x``.

    Rows whose ``y`` is missing or NaN are skipped. The standard deviation is the population
    one (``ddof=0``), 0 for a single repeat.

    Returns:
        ``{method: {"x": (K,), "mean": (K,), "std": (K,), "n": (K,)}}`` with x ascending.
    """
    acc: dict[Any, dict[float, list[float]]] = {}
    for r in rows:
        if x_key not in r or method_key not in r:
            raise ValueError(f"row lacks {x_key!r} or {method_key!r}: {dict(r)}")
        y = r.get(y_key)
        if y is None or not math.isfinite(float(y)):
            continue
        acc.setdefault(str(r[method_key]), {}).setdefault(float(r[x_key]), []).append(float(y))
    out: dict[str, dict[str, np.ndarray]] = {}
    for method, by_x in acc.items():
        xs = sorted(by_x)
        vals = [np.asarray(by_x[x]) for x in xs]
        out[method] = {
            "x": np.asarray(xs),
            "mean": np.asarray([v.mean() for v in vals]),
            "std": np.asarray([v.std() for v in vals]),
            "n": np.asarray([len(v) for v in vals]),
        }
    return out


def plot_label_efficiency(
    rows: Iterable[Mapping[str, Any]],
    path: str | Path,
    x_key: str = "label_fraction",
    y_key: str = "macro_f1",
    method_key: str = "method",
    title: str = "",
    logx: bool | None = None,
    min_span: float = 0.1,
) -> Path:
    """Label-efficiency curve: metric vs labels, mean ± std over seeds, one line per method.

    Args:
        rows: one dict per (method, label budget, seed) run, e.g.
            ``{"method": "pretrained", "label_fraction": 0.1, "seed": 0, "macro_f1": 0.71}``.
        path: output PNG.
        x_key: the label budget column (fraction of labels, number of labelled volumes...).
        y_key: the metric column.
        method_key: the column naming the method (pre-trained, random init...).
        title: figure title.
        logx: logarithmic x axis; default: when every x is positive and they span a factor of
            at least 8 (label fractions 1 %, 10 %, 100 %; 1, 2, 8 volumes).
        min_span: for scores in [0, 1], the y axis spans at least this much, so differences
            in the third decimal do not look like large effects.
    """
    curves = aggregate_curve(rows, x_key, y_key, method_key)
    if not curves:
        raise ValueError(f"no rows with a finite {y_key!r}")
    all_x = np.concatenate([c["x"] for c in curves.values()])
    if logx is None:
        logx = bool((all_x > 0).all() and all_x.max() / all_x.min() >= 8)
    fig = _figure(5.6, 4.0)
    ax = fig.subplots()
    colors = _colors(len(curves))
    for (method, c), color in zip(curves.items(), colors, strict=True):
        ax.errorbar(c["x"], c["mean"], yerr=c["std"], marker="o", capsize=3, color=color,
                    label=f"{method} (n={int(c['n'].max())})")
        ax.fill_between(c["x"], c["mean"] - c["std"], c["mean"] + c["std"], color=color, alpha=0.15)
    if logx:
        ax.set_xscale("log")
    lo = min(float((c["mean"] - c["std"]).min()) for c in curves.values())
    hi = max(float((c["mean"] + c["std"]).max()) for c in curves.values())
    if 0.0 <= lo and hi <= 1.0 and hi - lo < min_span:
        # Scores in [0, 1] that differ in the third decimal should not fill the whole axis.
        mid = min(max((lo + hi) / 2, min_span / 2), 1.0 - min_span / 2)
        ax.set_ylim(mid - min_span / 2 - 0.01, mid + min_span / 2 + 0.01)
    ticks = np.unique(all_x)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel(x_key.replace("_", " "))
    ax.set_ylabel(y_key.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or f"{y_key} vs {x_key} (mean ± std over seeds)")
    return _save(fig, path)


def plot_confusion(
    y_true: Any,
    y_pred: Any,
    class_names: Sequence[str],
    path: str | Path,
    title: str = "",
    normalize: str | None = None,
) -> Path:
    """Confusion matrix (scikit-learn ``ConfusionMatrixDisplay``).

    Args:
        y_true: true classes: integer indices into ``class_names`` or the names themselves.
        y_pred: predicted classes, same encoding.
        class_names: display names, in class-index order.
        path: output PNG.
        title: figure title.
        normalize: ``None`` (counts), ``"true"`` (rows sum to 1), ``"pred"`` or ``"all"``.

    Shape:
        y_true, y_pred: (N,)
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    yt = _as_1d(y_true, "y_true")
    yp = _as_1d(y_pred, "y_pred", len(yt))
    names = [str(c) for c in class_names]
    labels: Any = np.arange(len(names)) if np.issubdtype(yt.dtype, np.integer) else names
    k = len(names)
    fig = _figure(1.2 + 0.55 * max(k, 4), 1.0 + 0.5 * max(k, 4))
    ax = fig.subplots()
    ConfusionMatrixDisplay.from_predictions(
        yt, yp, labels=labels, display_labels=names, normalize=normalize, ax=ax,
        cmap="Blues", colorbar=False, values_format=".2f" if normalize else "d",
        xticks_rotation=45 if k > 4 else "horizontal",
    )
    ax.set_title(title or f"confusion matrix (n={len(yt)})")
    return _save(fig, path)

def plot_training_curve(
    metrics_csv: str | Path,
    path: str | Path,
    key: str | Sequence[str] = "train/loss",
    x: str = "step",
) -> Path:
    """Training curve from Lightning's CSV log (``OUT/logs/metrics.csv``).

    Args:
        metrics_csv: the CSV written by Lightning's ``CSVLogger``.
        path: output PNG.
        key: column(s) to plot; ``"train/loss"`` also matches ``train/loss_step`` /
            ``train/loss_epoch`` when only those were logged.
        x: ``"step"`` or ``"epoch"``.

    Raises:
        DataError: the CSV is missing, unreadable, or has none of the requested columns.
    """
    import pandas as pd

    csv = Path(metrics_csv)
    if not csv.is_file():
        raise DataError(csv, "training log not found (is engine.logger 'none'?)")
    try:
        df = pd.read_csv(csv)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(csv, f"unreadable CSV log ({' '.join(str(exc).split())[:120]})") from exc
    keys = [key] if isinstance(key, str) else list(key)
    found = []
    for k in keys:
        for cand in (k, f"{k}_step", f"{k}_epoch"):
            if cand in df.columns and df[cand].notna().any():
                found.append(cand)
                break
    if not found:
        raise DataError(csv, f"no column {', '.join(keys)} (columns: {', '.join(map(str, df.columns))})")
    if x not in df.columns:
        x = "step" if "step" in df.columns else df.columns[0]
    fig = _figure(6.0, 3.8)
    ax = fig.subplots()
    for col in found:
        sub = df[[x, col]].dropna()
        ax.plot(sub[x].to_numpy(), sub[col].to_numpy(), marker="." if len(sub) < 40 else None,
                label=col)
    ax.set_xlabel(x)
    ax.set_ylabel(", ".join(found) if len(found) == 1 else "value")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{' / '.join(found)} vs {x}")
    return _save(fig, path)


__all__ = [
    "aggregate_curve",
    "embedding_separation",
    "plot_confusion",
    "plot_embedding",
    "plot_label_efficiency",
    "plot_segmentation_overlay",
    "plot_selection_strip",
    "plot_training_curve",
    "project_2d",
    "slice_dice",
]
