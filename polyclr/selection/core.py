"""``select_items``: greedy redundancy removal in physical order, per group or globally.

Every method answers one question per item: is it a near-duplicate of an item already kept?
Items are visited group by group (groups in natural name order: ``vol_2`` before ``vol_10``)
and, inside a group, by physical position (affine coordinate along the slice axis, time stamp,
window start), never by file name. Ties in position keep the input order.

* ``dhash`` / ``ahash`` / ``phash``: an item is dropped if the Hamming distance of its 64-bit
  hash to ANY earlier kept item of its scope is ``<= threshold`` (default 6). This is the greedy
  of Wolf et al. 2024: keep a slice, drop every later slice within the distance of it.
* ``embedding``: same rule with cosine similarity ``>= threshold`` (default 0.95) on features;
  neighbours come from a nearest-neighbour index (faiss, else scikit-learn).
* ``ssim``: an item is dropped if its SSIM with the last kept item of its group (its kept
  physical neighbour) is ``>= threshold`` (default 0.9).
* ``entropy``: same with the normalised mutual information of the intensity histograms
  (default 0.5); the item's own entropy is reported, so constant items (entropy 0) are visible.
* ``every_n``: keep every N-th item in physical order (or, with ``target_count``, evenly spaced
  items reaching exactly that count), the baseline.

Documented edge cases: a group with a single item keeps it; constant images (e.g. all-zero
slices) hash identically, so every constant slice after the first in a scope is dropped
(the summary counts them); NaN/Inf values, empty input and out-of-range thresholds raise.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from polyclr.errors import ConfigError, DataError

METHODS = ("dhash", "ahash", "phash", "ssim", "embedding", "entropy", "every_n")
HASH_METHODS = ("dhash", "ahash", "phash")
DEFAULT_THRESHOLDS = {"dhash": 6.0, "ahash": 6.0, "phash": 6.0, "ssim": 0.9, "embedding": 0.95,
                      "entropy": 0.5}
COLUMNS = ["item", "group", "position", "kept", "score", "reason"]


@dataclass
class SelectionResult:
    """Outcome of :func:`select_items`: one row per input item, in INPUT order.

    Attributes:
        table: pandas DataFrame with columns ``item, group, position, kept, score, reason``
            (``score``: Hamming distance for hashes, similarity for ssim/embedding/entropy,
            order index for every_n; NaN where nothing was compared).
        method, threshold, every_n, scope: the settings used (threshold after defaults).
        extra: method-specific per-item arrays (e.g. ``hash`` uint64 codes, ``entropy``).
    """

    table: pd.DataFrame
    method: str
    threshold: float | None
    every_n: int | None
    scope: str
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, key: str) -> pd.Series:
        return self.table[key]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """``np.asarray(result)`` is the kept mask, so ``indices[np.asarray(result)]`` works."""
        mask = self.kept_mask
        return mask if dtype is None else mask.astype(dtype)

    @property
    def columns(self) -> list[str]:
        return list(self.table.columns)

    @property
    def kept_mask(self) -> np.ndarray:
        """(N,) bool, True for kept items, input order."""
        return self.table["kept"].to_numpy(dtype=bool)

    @property
    def kept_indices(self) -> np.ndarray:
        """Input indices of kept items, ascending."""
        return np.flatnonzero(self.kept_mask)

    def summary(self) -> dict[str, Any]:
        """Items in/out per group, overall reduction ratio and notes (JSON-serialisable)."""
        t = self.table
        per_group = {}
        for g, sub in t.groupby("group", sort=False):
            per_group[str(g)] = {"items_in": int(len(sub)), "items_kept": int(sub["kept"].sum()),
                                 "items_dropped": int((~sub["kept"]).sum())}
        n, k = len(t), int(t["kept"].sum())
        out: dict[str, Any] = {
            "method": self.method, "threshold": self.threshold, "every_n": self.every_n,
            "scope": self.scope, "items_in": n, "items_kept": k, "items_dropped": n - k,
            "reduction_ratio": (n - k) / n if n else 0.0,
            "groups": len(per_group), "per_group": per_group,
            "single_item_groups": sorted(g for g, v in per_group.items() if v["items_in"] == 1),
            "notes": [
                "constant (e.g. all-zero) items hash identically, so with a hash method all "
                "constant items of a scope after the first collapse into it",
                "a group with a single item keeps it (nothing to compare with)",
            ],
        }
        if "constant" in self.extra:
            const = self.extra["constant"]
            out["constant_items"] = int(const.sum())
            out["constant_items_dropped"] = int((const & ~self.kept_mask).sum())
        return out

    def to_csv(self, path: Any) -> None:
        """Write the manifest (``item, group, position, kept, score, reason``)."""
        self.table.to_csv(path, index=False, float_format="%.6g")


def natural_key(text: str) -> tuple:
    """Sort key that orders embedded integers numerically (``slice_2`` < ``slice_10``)."""
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", str(text)))


def processing_order(groups: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Indices in visiting order: groups by natural name, then position, then input index."""
    names = sorted({str(g) for g in groups}, key=natural_key)
    rank = {g: i for i, g in enumerate(names)}
    grank = np.array([rank[str(g)] for g in groups], dtype=np.int64)
    idx = np.arange(len(groups))
    return np.lexsort((idx, positions, grank))


def _validate(method: str, threshold: float | None, every_n: int | None, scope: str,
              target_count: int | None) -> float | None:
    if method not in METHODS:
        raise ConfigError(f"selection.method: unknown method {method!r}; choose one of "
                          f"{', '.join(METHODS)} (or 'none' to switch selection off)")
    if scope not in ("group", "global"):
        raise ConfigError(f"selection.scope: {scope!r} is not 'group' or 'global'")
    if scope == "global" and method in ("ssim", "entropy"):
        raise ConfigError(f"selection.scope: 'global' is not defined for {method} (it compares "
                          "physical neighbours); use scope 'group'")
    if method == "every_n":
        if target_count is None and (every_n is None or int(every_n) < 1):
            raise ConfigError("selection.every_n: must be an integer >= 1 for method every_n")
        if target_count is not None and int(target_count) < 1:
            raise ConfigError("target_count must be >= 1")
        return None
    t = DEFAULT_THRESHOLDS[method] if threshold is None else float(threshold)
    if not np.isfinite(t):
        raise ConfigError(f"selection.threshold: {threshold!r} is not a finite number")
    if method in HASH_METHODS and not (0 <= t <= 64):
        raise ConfigError(f"selection.threshold: Hamming distance {t:g} out of range [0, 64]")
    if method in ("ssim", "embedding") and not (-1 <= t <= 1):
        raise ConfigError(f"selection.threshold: similarity {t:g} out of range [-1, 1]")
    if method == "entropy" and not (0 <= t <= 1):
        raise ConfigError(f"selection.threshold: normalised MI {t:g} out of range [0, 1]")
    return t


def select_items(
    images_or_features: Any,
    groups: Sequence[Hashable] | np.ndarray | None = None,
    positions: Sequence[float] | np.ndarray | None = None,
    method: str = "dhash",
    threshold: float | None = None,
    every_n: int | None = None,
    scope: str = "group",
    item_names: Sequence[str] | None = None,
    *,
    target_count: int | None = None,
    intensity: str = "group",
    config: Any = None,
    dense_max: int | None = None,
) -> SelectionResult:
    """Select non-redundant items (slices, windows, clips) greedily in physical order.

    Args:
        images_or_features: for hashes, ssim and entropy: 2D items ``(N, H, W)`` (uint8 used
            as is; other dtypes scaled to uint8, see ``intensity``), or a list of 2D arrays of
            any sizes (hashes only). For ``embedding``: features ``(N, D)`` (items with more
            dims are flattened). For ``every_n``: anything with ``len() == N``.
        groups: (N,) group id per item (volume / recording / patient); None = one group.
        positions: (N,) physical position along the group's order axis (mm along the slice
            axis from the affine, seconds); None = input order.
        method: dhash, ahash, phash, ssim, embedding, entropy or every_n.
        threshold: method threshold (see module doc for defaults and ranges).
        every_n: keep one item in N (``every_n`` method).
        scope: ``group`` (compare within a group) or ``global`` (across the dataset; hashes,
            embedding, every_n).
        item_names: (N,) names for the manifest; default ``item_<index>``.
        target_count: ``every_n`` only: keep exactly this many evenly spaced items instead
            (to compare with another method at the same count).
        intensity: non-uint8 images are scaled to uint8 with the min/max of their ``group``
            (default, as a per-volume PNG export), of each ``item``, or taken as ``none``
            (values must already lie in [0, 255]).
        config: a :class:`~polyclr.selection.config.SelectionConfig`; when given, its
            method/threshold/every_n/scope replace the arguments (method ``none`` keeps all).
        dense_max: hashes and embedding: scopes of up to this many items compare all pairs in
            one dense matrix, larger ones use a nearest-neighbour index (same result, bounded
            memory); None = ``strategies.DENSE_MAX``.

    Returns:
        SelectionResult whose ``table`` has columns item, group, position, kept, score, reason
        (input order) and whose ``kept_mask`` indexes the input.

    Raises:
        DataError: empty input, NaN/Inf values, length mismatches.
        ConfigError: unknown method/scope, threshold out of range, bad every_n.
    """
    from polyclr.selection import strategies

    if config is not None:
        method, threshold, every_n, scope = (config.method, config.threshold, config.every_n,
                                             config.scope)
        if method == "none":
            n = len(images_or_features)
            return SelectionResult(pd.DataFrame({
                "item": [f"item_{i}" for i in range(n)] if item_names is None else list(item_names),
                "group": ["all"] * n if groups is None else [str(x) for x in groups],
                "position": np.arange(n, dtype=float) if positions is None else positions,
                "kept": True, "score": np.nan, "reason": "selection off"}, columns=COLUMNS),
                "none", None, None, scope)
    t = _validate(method, threshold, every_n, scope, target_count)
    n = len(images_or_features)
    if n == 0:
        raise DataError(None, "no items to select from (empty dataset)")
    g = np.asarray(["all"] * n if groups is None else [str(x) for x in groups], dtype=object)
    if positions is None:
        p = np.arange(n, dtype=np.float64)
    else:
        try:
            p = np.asarray(positions, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise DataError(None, f"positions are not numbers: {exc}") from exc
    names = [f"item_{i}" for i in range(n)] if item_names is None else [str(s) for s in item_names]
    if len(g) != n or len(p) != n or len(names) != n:
        raise DataError(None, f"length mismatch: {n} items, {len(g)} groups, {len(p)} positions, "
                              f"{len(names)} names")
    if not np.all(np.isfinite(p)):
        raise DataError(None, "positions contain NaN or Inf")
    order = processing_order(g, p)
    scope_ids = np.zeros(n, dtype=np.int64) if scope == "global" else _codes(g)

    kept, score, ref, extra = strategies.run_method(
        method, images_or_features, order, scope_ids, t, every_n, target_count, intensity, g,
        strategies.DENSE_MAX if dense_max is None else int(dense_max))
    reasons = _reasons(method, kept, score, ref, names, t, every_n, target_count)
    table = pd.DataFrame({"item": names, "group": g.astype(str), "position": p, "kept": kept,
                          "score": score, "reason": reasons}, columns=COLUMNS)
    return SelectionResult(table, method, t, every_n, scope, extra)


def _codes(groups: np.ndarray) -> np.ndarray:
    _, inv = np.unique(groups.astype(str), return_inverse=True)
    return inv.astype(np.int64)


def _reasons(method: str, kept: np.ndarray, score: np.ndarray, ref: np.ndarray,
             names: list[str], t: float | None, every_n: int | None,
             target_count: int | None) -> list[str]:
    out = []
    for i in range(len(kept)):
        if kept[i]:
            out.append("kept")
            continue
        r = names[ref[i]] if ref[i] >= 0 else "?"
        s = score[i]
        if method in HASH_METHODS:
            out.append(f"{method} distance {int(s)} <= {t:g} to {r}")
        elif method == "embedding":
            out.append(f"cosine similarity {s:.4f} >= {t:g} to {r}")
        elif method == "ssim":
            out.append(f"ssim {s:.4f} >= {t:g} to {r}")
        elif method == "entropy":
            out.append(f"normalised mutual information {s:.4f} >= {t:g} to {r}")
        else:
            what = f"target_count {target_count}" if target_count else f"every_n {every_n}"
            out.append(f"not on the {what} grid (order index {int(s)})")
    return out


def apply_selection_config(cfg: Any, images_or_features: Any, groups: Any = None,
                           positions: Any = None, item_names: Any = None) -> SelectionResult | None:
    """Apply a :class:`~polyclr.selection.config.SelectionConfig`; None when ``method == "none"``."""
    if cfg is None or cfg.method == "none":
        return None
    return select_items(images_or_features, groups, positions, item_names=item_names, config=cfg)
