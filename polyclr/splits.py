"""Patient-independent splits and label-fraction subsets; the one place leakage is checked.

Every pipeline splits through :func:`group_split` (or checks its own split with
:func:`assert_group_disjoint`) and records the group ids per split with
:func:`write_split_record`, optionally as salted hashes for de-identified outputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polyclr.errors import DataError, LeakageError


@dataclass
class SplitConfig:
    """How every pipeline holds out data when the dataset gives no split of its own.

    Attributes:
        test_size: fraction of groups (patients) held out for testing.
        val_size: fraction of groups held out for validation (0 = none).
        split_seed: seed of the group split.
        deidentify_salt: write group ids in ``splits.json`` as hashes salted with this
            ("" = plain ids).
    """

    test_size: float = 0.25
    val_size: float = 0.0
    split_seed: int = 0
    deidentify_salt: str = ""


def assert_group_disjoint(groups_by_split: Mapping[str, Sequence[Any]], source: str | None = None) -> None:
    """Fail loudly if any group (patient) id appears in two splits.

    Args:
        groups_by_split: split name → group ids of its items.
        source: file or dataset name used in the error message.
    """
    seen: dict[Any, str] = {}
    for split, groups in groups_by_split.items():
        for g in set(np.asarray(groups).tolist()):
            if g in seen and seen[g] != split:
                raise LeakageError(source, f"patient/group '{g}' appears in both '{seen[g]}' and '{split}' splits")
            seen[g] = split


def group_split(
    groups: Sequence[Any],
    labels: Sequence[Any] | None = None,
    test_size: float = 0.2,
    val_size: float = 0.0,
    seed: int = 0,
    source: str | None = None,
) -> dict[str, np.ndarray]:
    """Split item indices into train/val/test with no group in two splits.

    With labels, groups are stratified by their majority label (scikit-learn's
    ``StratifiedShuffleSplit`` over groups) so every split sees every class where the groups
    allow; otherwise ``GroupShuffleSplit``.

    Returns:
        ``{"train": idx, "val": idx, "test": idx}`` (``val`` may be empty), sorted indices.
    """
    from sklearn.model_selection import GroupShuffleSplit, StratifiedShuffleSplit

    groups = np.asarray(groups)
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise DataError(source, f"need at least 2 patients/groups to split, found {n_groups}")
    idx = np.arange(len(groups))

    def _split(sub: np.ndarray, frac: float, salt: int) -> tuple[np.ndarray, np.ndarray]:
        g = groups[sub]
        uniq, inverse = np.unique(g, return_inverse=True)
        if labels is not None:
            # Stratify at the group level: each group takes its majority label, then
            # StratifiedShuffleSplit splits groups (sklearn's StratifiedGroupKFold(shuffle=True)
            # can put a single class into a fold).
            y = np.asarray(labels)[sub]
            group_label = np.array([_majority(y[inverse == i]) for i in range(len(uniq))])
            _, counts = np.unique(group_label, return_counts=True)
            n_test = max(1, int(round(frac * len(uniq))))
            if counts.min() >= 2 and n_test >= len(counts) and len(uniq) - n_test >= len(counts):
                sss = StratifiedShuffleSplit(n_splits=1, test_size=n_test, random_state=seed + salt)
                ga, gb = next(sss.split(uniq, group_label))
                return sub[np.isin(g, uniq[ga])], sub[np.isin(g, uniq[gb])]
        gss = GroupShuffleSplit(n_splits=1, test_size=frac, random_state=seed + salt)
        a, b = next(gss.split(sub, groups=g))
        return sub[a], sub[b]

    train, test = _split(idx, test_size, 0)
    val = np.array([], dtype=int)
    if val_size > 0 and len(np.unique(groups[train])) > 1:
        train, val = _split(train, val_size / max(1e-9, 1 - test_size), 1)
    out = {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}
    assert_group_disjoint({k: groups[v] for k, v in out.items()}, source)
    return out


def _majority(values: np.ndarray) -> Any:
    vals, counts = np.unique(values, return_counts=True)
    return vals[np.argmax(counts)]


def label_fraction_subset(
    indices: Sequence[int], labels: Sequence[Any], fraction: float, seed: int = 0
) -> np.ndarray:
    """A stratified subset of ``indices`` holding ``fraction`` of them, at least one per class.

    Drawn only from the given (training) indices, so test patients are never touched.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    indices = np.asarray(indices)
    if fraction >= 1.0:
        return np.sort(indices)
    y = np.asarray(labels)[indices]
    rng = np.random.default_rng(seed)
    n_total = max(1, int(round(fraction * len(indices))))
    chosen: list[int] = []
    classes = np.unique(y)
    for c in classes:
        members = indices[y == c]
        k = max(1, int(round(fraction * len(members))))
        chosen.extend(rng.choice(members, size=min(k, len(members)), replace=False).tolist())
    if len(chosen) > max(n_total, len(classes)):
        chosen = rng.choice(chosen, size=max(n_total, len(classes)), replace=False).tolist()
    return np.sort(np.asarray(chosen, dtype=int))


def pseudonymise(ids: Sequence[Any], salt: str) -> list[str]:
    """Salted SHA-256 pseudonyms (first 16 hex chars) for ids written to de-identified outputs."""
    return [hashlib.sha256(f"{salt}:{i}".encode()).hexdigest()[:16] for i in ids]


def write_split_record(
    out: str | Path,
    groups_by_split: Mapping[str, Sequence[Any]],
    deidentify_salt: str | None = None,
) -> Path:
    """Write ``OUT/splits.json``: the group (patient) ids of every split, hashed if asked."""
    from polyclr.rundir import write_json

    assert_group_disjoint(groups_by_split)
    record: dict[str, Any] = {"deidentified": deidentify_salt is not None, "splits": {}}
    for split, groups in groups_by_split.items():
        uniq = sorted({str(g) for g in np.asarray(groups).tolist()})
        record["splits"][split] = pseudonymise(uniq, deidentify_salt) if deidentify_salt else uniq
    return write_json(Path(out) / "splits.json", record)
