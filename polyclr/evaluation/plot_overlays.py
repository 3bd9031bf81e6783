"""Image-like figures: segmentation overlays on slices and selection strips along an axis.

Re-exported by :mod:`polyclr.evaluation.plots` (import them from there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polyclr.evaluation._plotbase import _as_1d, _colors, _figure, _save


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
