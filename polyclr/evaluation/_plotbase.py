"""Shared plumbing of polyclr's figures: a pyplot-free Agg figure, atomic PNG writes, colours."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

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
