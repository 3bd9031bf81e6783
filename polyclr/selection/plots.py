"""Kept-vs-dropped plots along a group's physical axis."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from polyclr.selection.core import SelectionResult


def strip_plot(result: SelectionResult, group: str, path: str | Path,
               volume: np.ndarray | None = None, unit: str = "mm") -> Path:
    """Save a figure of kept (green) and dropped (red) items of ``group`` along its axis.

    With ``volume`` (X, Y, Z), the left panel is the mid-coronal reformat with one line per
    axial slice; the right panel shows the score of each item against its position.

    Shape:
        volume: (X, Y, Z) RAS array of the group, slices along Z.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = result.table
    sub = t[t["group"] == str(group)].sort_values("position", kind="stable")
    pos = sub["position"].to_numpy(dtype=float)
    kept = sub["kept"].to_numpy(dtype=bool)
    ncols = 2 if volume is not None else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols + 1, 4.5), squeeze=False)
    if volume is not None:
        ax = axes[0, 0]
        coronal = volume[:, volume.shape[1] // 2, :].T  # (Z, X)
        ax.imshow(coronal, cmap="gray", origin="lower", aspect="auto")
        order = np.argsort(pos, kind="stable")
        nx = coronal.shape[1]
        margin = max(3, nx // 12)
        z = np.arange(volume.shape[2])[: len(order)]
        k = kept[order][: len(z)]
        ax.hlines(z[k], -margin - 1, -1, colors="tab:green", lw=1.2)
        ax.hlines(z[~k], -margin - 1, -1, colors="tab:red", lw=1.2)
        ax.set_xlim(-margin - 1.5, nx - 0.5)
        ax.set_title("mid-coronal view; left ticks: green kept, red dropped", fontsize=9)
        ax.set_xlabel("x (voxel)")
        ax.set_ylabel("axial slice index (inferior to superior)")
    ax = axes[0, -1]
    score = sub["score"].to_numpy(dtype=float)
    ax.scatter(pos[kept], np.nan_to_num(score[kept], nan=0.0), c="tab:green", s=14, label="kept")
    ax.scatter(pos[~kept], np.nan_to_num(score[~kept], nan=0.0), c="tab:red", s=14, marker="x",
               label="dropped")
    if result.threshold is not None:
        ax.axhline(result.threshold, color="k", ls="--", lw=0.8, label=f"threshold {result.threshold:g}")
    ax.set_xlabel(f"position ({unit})")
    ax.set_ylabel(f"score ({result.method})")
    ax.set_title(f"{group}: kept {int(kept.sum())} of {len(kept)}")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
