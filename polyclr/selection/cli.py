"""``polyclr select``: run a selection on files and write a manifest, a summary and plots.

Outputs in ``--out DIR``: ``manifest.csv`` (item, group, position, kept, score, reason),
``summary.json`` (items in/out per group, reduction ratio, notes) and, with ``--plot``,
``selection_strip_<group>.png`` for up to :data:`MAX_PLOTS` groups. Everything is validated and
computed before DIR is created, so bad input leaves no partial output.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from polyclr.errors import ConfigError, DataError
from polyclr.selection.core import METHODS, _validate, select_items
from polyclr.selection.sources import ItemSet

MAX_PLOTS = 8


def thumbnail_features(items: Any, groups: np.ndarray, size: int = 16) -> np.ndarray:
    """Encoder-free features: mean-centred, unit-norm 16x16 Lanczos thumbnails (so cosine
    similarity is the Pearson correlation of thumbnails), plus one extra dimension that is 1 for
    constant items (all constant items are then identical, and orthogonal to the rest).

    Shape:
        returns (N, size * size + 1) float32.
    """
    from polyclr.selection import hashing, strategies

    imgs = strategies.as_uint8_items(items, groups, "group")
    if isinstance(imgs, np.ndarray):
        small = hashing.pil_resize_lanczos(imgs, size, size)
    else:
        small = np.stack([hashing.pil_resize_lanczos(a[None], size, size)[0] for a in imgs])
    f = small.reshape(len(small), -1).astype(np.float32)
    f -= f.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(f, axis=1, keepdims=True)
    const = (norm[:, 0] == 0).astype(np.float32)
    f = np.where(norm > 0, f / np.where(norm > 0, norm, 1), 0.0)
    return np.concatenate([f, const[:, None]], axis=1).astype(np.float32)


def load_features(path: Path, n: int) -> np.ndarray:
    """Features (N, D) from a ``.npy`` / ``.npz`` file written by ``polyclr embed`` or the user."""
    name = path.name.lower()
    try:
        if name.endswith(".npy"):
            f = np.load(path, allow_pickle=False)
        elif name.endswith(".npz"):
            with np.load(path, allow_pickle=False) as z:
                key = "features" if "features" in z.files else z.files[0]
                f = z[key]
        else:
            raise DataError(path, "--checkpoint for --method embedding must be a .npy/.npz "
                                  "feature file (N, D) aligned with the items (e.g. from "
                                  "`polyclr embed`), or a time-series encoder run dir / "
                                  ".safetensors")
    except (OSError, ValueError) as exc:
        raise DataError(path, f"cannot read features ({type(exc).__name__}: {exc})") from exc
    f = np.asarray(f)
    if f.ndim < 2 or len(f) != n:
        raise DataError(path, f"features have shape {f.shape}; expected ({n}, D), one row per item")
    return f.reshape(n, -1)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:80] or "group"


def run_select(args: argparse.Namespace, load_items: Callable[[Path, str | None], ItemSet],
               encoder_features: Callable[[Path, str, list[np.ndarray]], np.ndarray]) -> int:
    """Entry point of ``polyclr select`` (see module doc); returns the exit code.

    Args:
        load_items: ``(path, modality or None) -> ItemSet``; the modality pipelines provide it
            (this layer reads no modality's files itself).
        encoder_features: ``(checkpoint, modality, items) -> (N, D)`` features of a pre-trained
            encoder, for ``--method embedding --checkpoint RUN_DIR``.
    """
    from polyclr.rundir import atomic_write_text, write_json
    from polyclr.selection.plots import strip_plot

    method = str(args.method).lower()
    if method not in METHODS:
        raise ConfigError(f"--method: unknown method {args.method!r}; choose one of {', '.join(METHODS)}")
    _validate(method, args.threshold, args.every_n, args.scope, None)
    data = Path(args.data)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise DataError(out, "output path exists and is not a directory")
    t0 = time.perf_counter()
    items = load_items(data, args.modality)
    if not items.items:
        raise DataError(data, "no items to select from (empty dataset)")
    groups = np.asarray(items.groups, dtype=object)
    payload: Any = items.items
    feature_source = None
    if method == "embedding":
        ckpt = None if args.checkpoint is None else Path(args.checkpoint)
        if ckpt is not None and (ckpt.is_dir() or ckpt.name.endswith(".safetensors")):
            payload = encoder_features(ckpt, items.modality, items.items)
            feature_source = f"encoder {ckpt}"
        elif ckpt is not None:
            payload = load_features(ckpt, len(items.items))
            feature_source = str(ckpt)
        else:
            payload = thumbnail_features(items.items, groups)
            feature_source = "16x16 Lanczos thumbnails (no --checkpoint given)"
    try:
        result = select_items(payload, items.groups, items.positions, method, args.threshold,
                              args.every_n, args.scope, items.names)
    except DataError as exc:
        if exc.path is None:  # name the dataset in the one-line message
            raise DataError(data, exc.problem) from exc
        raise
    seconds = time.perf_counter() - t0
    summary = result.summary()
    summary.update({"data": str(data), "modality": items.modality,
                    "position_unit": items.position_unit, "seconds": round(seconds, 3)})
    if feature_source:
        summary["features"] = feature_source
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "manifest.csv", result.table.to_csv(index=False, float_format="%.6g"))
    plots = []
    if getattr(args, "plot", False):
        for g in list(dict.fromkeys(items.groups))[:MAX_PLOTS]:
            path = out / f"selection_strip_{_safe(g)}.png"
            strip_plot(result, g, path, items.volumes.get(g), items.position_unit)
            plots.append(path.name)
        summary["plots"] = plots
    write_json(out / "summary.json", summary)
    print(f"select {items.modality} {method}: kept {summary['items_kept']} of "
          f"{summary['items_in']} items in {summary['groups']} group(s) "
          f"(reduction {summary['reduction_ratio']:.1%}) in {seconds:.1f} s")
    print(f"wrote {out / 'manifest.csv'} and {out / 'summary.json'}")
    return 0
