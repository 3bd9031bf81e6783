"""Figures for run reports and notebooks (matplotlib, no display needed).

Every function draws on its own :class:`matplotlib.figure.Figure` rendered with the Agg
canvas (no pyplot state, no global backend switch, nothing left open), writes a PNG
atomically and returns its path. In Jupyter, show a result with
``IPython.display.Image(path)``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polyclr.errors import DataError
from polyclr.rundir import atomic_write_bytes

_MAX_LEGEND = 20


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"plots are written as PNG; got {path.name!r}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    fig.clear()
    return atomic_write_bytes(path, buf.getvalue())


def _as_1d(values: Any, name: str, n: int | None = None) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if n is not None and len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} entries, expected {n}")
    return arr


def _categories(values: np.ndarray) -> tuple[list[Any], np.ndarray]:
    cats, codes = np.unique(values.astype(str) if values.dtype == object else values, return_inverse=True)
    return list(cats), codes.reshape(-1)


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


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


def slice_dice(pred: Any, label: Any) -> dict[int, float]:
    """Dice of each foreground class present in ``pred`` or ``label`` (one slice or volume).

    A class present in only one of them scores 0. (MONAI's ``DiceMetric`` works on one-hot
    batches; for a single display slice this direct count is simpler and exact.)
    """
    p, t = np.asarray(pred), np.asarray(label)
    out = {}
    for c in np.union1d(np.unique(p), np.unique(t)):
        if c == 0:
            continue
        a, b = p == c, t == c
        out[int(c)] = float(2 * (a & b).sum() / (a.sum() + b.sum()))
    return out


def plot_segmentation_overlay(
    image2d: Any,
    label2d: Any,
    pred2d: Any,
    path: str | Path,
    title: str = "",
    transpose: bool = False,
    origin: str = "lower",
    class_names: Mapping[int, str] | Sequence[str] | None = None,
) -> Path:
    """A slice with the ground truth and the prediction drawn over it, side by side.

    Each class gets one colour: a translucent fill plus its contour, named in a legend. The
    third panel's title gives the prediction's Dice on this slice, averaged over the foreground
    classes present in the ground truth or the prediction (see :func:`slice_dice`).

    Args:
        image2d: intensities of one slice.
        label2d: integer ground-truth classes (0 = background).
        pred2d: integer predicted classes.
        path: output PNG.
        title: figure title.
        transpose: arrays are row-major ``(rows, cols)`` as ``imshow`` takes them; for a slice
            ``vol[:, :, z]`` of a RAS volume (indexed ``(x, y)``) pass ``transpose=True`` (or
            ``.T``) so that x runs to the right.
        origin: ``"lower"`` (default) puts row 0 at the bottom, so a transposed RAS slice shows
            anterior up; ``"upper"`` for ordinary photographs / screen images.
        class_names: legend names by class index (default ``"class k"``).

    Shape:
        image2d, label2d, pred2d: (H, W)
    """
    img = np.asarray(image2d, dtype=np.float64)
    lab = np.asarray(label2d)
    pred = np.asarray(pred2d)
    if img.ndim != 2 or lab.shape != img.shape or pred.shape != img.shape:
        raise ValueError(
            f"image2d, label2d and pred2d must be 2-D of one shape, got {img.shape}, {lab.shape}, {pred.shape}"
        )
    lab = np.rint(lab).astype(np.int64)
    pred = np.rint(pred).astype(np.int64)
    if transpose:
        img, lab, pred = img.T, lab.T, pred.T
    classes = [int(c) for c in np.union1d(np.unique(lab), np.unique(pred)) if c != 0]
    colors = _colors(max(len(classes), 1))
    finite = img[np.isfinite(img)]
    lo, hi = (np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0))
    fig = _figure(12.0, 4.4)
    axes = fig.subplots(1, 3)
    panels = (("image", None), ("ground truth", lab), ("prediction", pred))
    for ax, (name, seg) in zip(axes, panels, strict=True):
        ax.imshow(img, cmap="gray", origin=origin, vmin=lo, vmax=hi, interpolation="nearest")
        if seg is not None:
            for cls, color in zip(classes, colors, strict=False):
                mask = seg == cls
                if not mask.any():
                    continue
                rgba = np.zeros((*mask.shape, 4))
                rgba[mask] = (*color[:3], 0.35)
                ax.imshow(rgba, origin=origin, interpolation="nearest")
                ax.contour(mask.astype(float), levels=[0.5], colors=[color], linewidths=1.2, origin=origin)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name)
    dice = slice_dice(pred, lab)
    if dice:
        axes[2].set_title(f"prediction (mean Dice {np.mean(list(dice.values())):.3f})")
    if classes:
        from matplotlib.patches import Patch

        def _name(c: int) -> str:
            if class_names is None:
                return f"class {c}"
            try:
                return str(class_names[c])
            except (KeyError, IndexError):
                return f"class {c}"

        handles = [Patch(facecolor=(*col[:3], 0.5), edgecolor=col,
                         label=_name(c) + (f" (Dice {dice[c]:.2f})" if c in dice else ""))
                   for c, col in zip(classes, colors, strict=False)]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6), fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_selection_strip(
    positions: Any,
    kept: Any,
    path: str | Path,
    scores: Any = None,
    title: str = "",
    xlabel: str = "position along the volume / recording",
    score_name: str = "score",
) -> Path:
    """Which items a redundancy-reducing selection kept, along the volume / recording axis.

    Kept items are drawn as green ticks, dropped ones as grey ticks; with ``scores`` (e.g.
    similarity to the previous kept item, entropy) a second panel plots the score per item.

    Args:
        positions: position of each item (slice index, window start in seconds...).
        kept: whether each item was kept.
        path: output PNG.
        scores: optional score per item.
        title: figure title (the kept count and fraction are appended).
        xlabel: x axis label.
        score_name: y axis label of the score panel.

    Shape:
        positions, kept, scores: (N,)
    """
    pos = _as_1d(positions, "positions").astype(np.float64)
    keep = _as_1d(kept, "kept", len(pos)).astype(bool)
    n, k = len(pos), int(keep.sum())
    rows = 2 if scores is not None else 1
    fig = _figure(9.0, 1.6 + 2.2 * (rows - 1))
    ratios = [2, 1] if rows == 2 else [1]
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False, height_ratios=ratios)[:, 0]
    strip = axes[-1]
    strip.vlines(pos[~keep], 0, 1, color="0.7", linewidth=1.0, label=f"dropped ({n - k})")
    strip.vlines(pos[keep], 0, 1, color="tab:green", linewidth=1.6, label=f"kept ({k})")
    strip.set_yticks([])
    strip.set_ylim(0, 1)
    strip.set_xlabel(xlabel)
    strip.legend(loc="upper right", fontsize=7, ncols=2)
    if scores is not None:
        sc = _as_1d(scores, "scores", n).astype(np.float64)
        ax = axes[0]
        order = np.argsort(pos, kind="stable")
        ax.plot(pos[order], sc[order], color="0.5", linewidth=0.8)
        ax.scatter(pos[~keep], sc[~keep], s=10, color="0.6")
        ax.scatter(pos[keep], sc[keep], s=14, color="tab:green")
        ax.set_ylabel(score_name)
        ax.grid(alpha=0.3)
    frac = f"kept {k}/{n} ({100.0 * k / n:.0f} %)" if n else "no items"
    axes[0].set_title(f"{title} — {frac}" if title else frac)
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
