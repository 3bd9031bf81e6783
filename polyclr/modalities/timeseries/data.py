"""The time-series data model: ``X (n, C, T)`` plus per-sample patient / trial / label / split.

Variable-length series are stored right-padded with NaN (``lengths`` says how many timestamps
are real). NaN inside a series marks missing values (gaps): the encoders mask it, so it is left
out of the representation and the loss (long gaps in recordings are split, see ``windows``).
Normalisation is per channel and fitted on the training split only. ``y == -1`` marks an
unlabelled sample (used by pre-training only); multi-label data also carry multi-hot ``Y``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from polyclr.errors import DataError

SPLITS = ("train", "val", "test")


@dataclass
class TimeSeriesData:
    """A labelled, multichannel time-series dataset with its hierarchy.

    Attributes:
        X: float32 values; NaN = right padding of shorter series or a masked gap.
        y: integer class indices ``0..K-1`` (``-1`` = unlabelled; for multi-label data the
            sample's most frequent class, used only to stratify splits).
        patient_id: integer patient (group) ids.
        trial_id: integer trial / recording ids (unique across patients).
        split: ``"train"``, ``"val"``, ``"test"`` or ``""`` (not assigned yet).
        classes: original class names, ``classes[y[i]]``.
        lengths: number of real (non-padding) timestamps of each sample.
        path: the file or directory it came from (for error messages).
        sampling_rate: samples per second if known (``None`` for UCR/UEA).
        channel_names: optional channel names.
        Y: multi-hot targets of multi-label data (None for single-label).
        trial_names: recording name of each trial id (recordings read from a folder).
        notes: reader warnings (files not read, labels not used), shown by ``check``.

    Shape:
        X: ``(n, C, T)``; y, patient_id, trial_id, split, lengths: ``(n,)``; Y: ``(n, K)``.
    """

    X: np.ndarray
    y: np.ndarray
    patient_id: np.ndarray
    trial_id: np.ndarray
    split: np.ndarray
    classes: list[str]
    lengths: np.ndarray
    path: str = ""
    sampling_rate: float | None = None
    channel_names: list[str] = field(default_factory=list)
    Y: np.ndarray | None = None
    trial_names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def multilabel(self) -> bool:
        return self.Y is not None

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask of labelled samples. Shape: ``(n,)``."""
        return self.y >= 0

    @property
    def n_channels(self) -> int:
        return int(self.X.shape[1])

    @property
    def length(self) -> int:
        return int(self.X.shape[2])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def variable_length(self) -> bool:
        return bool((self.lengths < self.length).any())

    def indices(self, split: str) -> np.ndarray:
        """Indices of the samples in ``split``."""
        return np.flatnonzero(self.split == split)

    def summary(self) -> dict[str, Any]:
        """Counts, shape, classes and patients (what ``polyclr check`` prints)."""
        counts = {s: int((self.split == s).sum()) for s in SPLITS if (self.split == s).any()}
        if self.Y is not None:
            per_class = {self.classes[c]: int(self.Y[:, c].sum()) for c in range(self.n_classes)}
        else:
            per_class = {self.classes[c]: int((self.y == c).sum()) for c in range(self.n_classes)}
        lab = self.labelled
        return {
            "samples": int(len(self.y)),
            "labelled": int(lab.sum()),
            "labelled_trials": int(len(np.unique(self.trial_id[lab]))),
            "multilabel": self.multilabel,
            "channels": self.n_channels,
            "length": self.length,
            "min_length": int(self.lengths.min()),
            "classes": self.n_classes,
            "class_counts": per_class,
            "patients": int(len(np.unique(self.patient_id))),
            "trials": int(len(np.unique(self.trial_id))),
            "splits": counts or "unassigned",
        }


def _encode_labels(raw: np.ndarray, path: str) -> tuple[np.ndarray, list[str]]:
    """Class codes ``0..K-1`` of the labelled samples; missing labels (NaN / None / "") are
    unlabelled (``-1``: pre-training only)."""
    raw = np.asarray(raw)
    if raw.dtype.kind == "f":
        missing = np.isnan(raw)
    elif raw.dtype.kind == "O":
        missing = np.array([v is None or (isinstance(v, float) and np.isnan(v)) or str(v) == "" for v in raw])
    else:
        missing = np.zeros(len(raw), dtype=bool)
    if missing.all():
        return np.full(len(raw), -1, dtype=np.int64), []
    present = raw[~missing]
    names, codes = np.unique(present.astype(str) if raw.dtype.kind in "OUS" else present, return_inverse=True)
    out = np.full(len(raw), -1, dtype=np.int64)
    out[~missing] = codes
    return out, [str(n) for n in names]


def _to_int_ids(raw: np.ndarray | None, n: int, path: str, what: str) -> np.ndarray:
    if raw is None:
        return np.arange(n, dtype=np.int64)
    raw = np.asarray(raw)
    if raw.shape != (n,):
        raise DataError(path, f"{what} has shape {raw.shape}, expected ({n},) to match X")
    _, codes = np.unique(raw.astype(str), return_inverse=True)
    return codes.astype(np.int64)


def series_lengths(X: np.ndarray, path: str) -> np.ndarray:
    """Real length of each series: the index after its last timestamp with any value (NaN
    before it is a masked gap, NaN after it is end padding); raises if a series is all NaN.

    Shape:
        X: ``(n, C, T)``; returns ``(n,)`` int64.
    """
    has_value = ~np.isnan(X).all(axis=1)  # (n, T)
    t = X.shape[2]
    last = np.where(has_value.any(axis=1), t - np.argmax(has_value[:, ::-1], axis=1), 0)
    if (last == 0).any():
        raise DataError(path, f"series {int(np.argmax(last == 0))} is empty (all values missing)")
    return last.astype(np.int64)


def build_dataset(
    X: Any,
    y: Any,
    path: str | Path,
    patient_id: Any = None,
    trial_id: Any = None,
    split: Any = None,
    sampling_rate: float | None = None,
    channel_names: list[str] | None = None,
    require_labels: bool = True,
) -> TimeSeriesData:
    """Validate raw arrays and build :class:`TimeSeriesData` (errors name ``path``).

    Shape:
        X: ``(n, C, T)``; the other arrays ``(n,)``.
    """
    p = str(path)
    X = np.asarray(X)
    if X.dtype.kind not in "fiub":
        raise DataError(p, f"X must be numeric, got dtype {X.dtype}")
    if X.ndim != 3:
        raise DataError(p, f"X must have 3 dimensions (n, channels, length), got shape {X.shape}")
    if 0 in X.shape:
        raise DataError(p, f"X is empty (shape {X.shape})")
    X = X.astype(np.float32)
    if np.isinf(X).any():
        raise DataError(p, "X contains infinite values")
    if y is None:  # unlabelled: pre-training only
        codes, classes = np.full(len(X), -1, dtype=np.int64), []
        require_labels = False
    else:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise DataError(p, f"X has {len(X)} samples but y has shape {y.shape}")
        codes, classes = _encode_labels(y, p)
    if require_labels and len(classes) < 2:
        raise DataError(p, f"a single class ({classes[0] if classes else 'none'}): need at least 2 classes")
    lengths = series_lengths(X, p)
    pid = _to_int_ids(patient_id, len(X), p, "patient_id")
    tid = _to_int_ids(trial_id, len(X), p, "trial_id")  # no trial ids: one trial per sample
    if split is None:
        sp = np.full(len(X), "", dtype=object)
    else:
        sp = np.asarray(split).astype(str).astype(object)
        if sp.shape != (len(X),):
            raise DataError(p, f"split has shape {sp.shape}, expected ({len(X)},)")
        bad = sorted(set(sp.tolist()) - set(SPLITS))
        if bad:
            raise DataError(p, f"unknown split names {bad}; use train, val, test")
    return TimeSeriesData(
        X=X, y=codes, patient_id=pid, trial_id=tid, split=sp, classes=classes, lengths=lengths,
        path=p, sampling_rate=sampling_rate, channel_names=list(channel_names or []),
    )


def concat(parts: list[TimeSeriesData], path: str) -> TimeSeriesData:
    """Join datasets (e.g. TRAIN + TEST files), padding to the longest series with NaN.

    Class names are merged (the label codes are re-mapped); patient and trial ids are offset so
    that ids of different parts never collide.
    """
    if not parts:
        raise DataError(path, "no data found")
    c = {d.n_channels for d in parts}
    if len(c) != 1:
        raise DataError(path, f"parts have different channel counts {sorted(c)}")
    t = max(d.length for d in parts)
    classes = sorted({name for d in parts for name in d.classes})
    xs, ys, pids, tids = [], [], [], []
    p_off = t_off = 0
    for d in parts:
        pad = np.full((len(d.X), d.n_channels, t - d.length), np.nan, dtype=np.float32)
        xs.append(np.concatenate([d.X, pad], axis=2))
        lut = np.array([classes.index(n) for n in d.classes], dtype=np.int64)
        ys.append(lut[d.y])
        pids.append(d.patient_id + p_off)
        tids.append(d.trial_id + t_off)
        p_off += int(d.patient_id.max()) + 1
        t_off += int(d.trial_id.max()) + 1
    return TimeSeriesData(
        X=np.concatenate(xs), y=np.concatenate(ys), patient_id=np.concatenate(pids),
        trial_id=np.concatenate(tids), split=np.concatenate([d.split for d in parts]),
        classes=classes, lengths=np.concatenate([d.lengths for d in parts]), path=path,
        sampling_rate=parts[0].sampling_rate, channel_names=parts[0].channel_names,
    )


class ChannelNormalizer:
    """Per-channel z-scoring fitted on the training split only (NaN padding ignored).

    Shape:
        fit/transform X: ``(n, C, T)``; mean_, std_: ``(C,)``.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        if eps <= 0:
            raise ValueError(f"eps must be positive, got {eps}")
        self.eps = eps
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> ChannelNormalizer:
        self.mean_ = np.nanmean(X, axis=(0, 2)).astype(np.float32)
        self.std_ = np.nanstd(X, axis=(0, 2)).astype(np.float32)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if self.mean_ is None or self.std_ is None:
            raise RuntimeError("ChannelNormalizer.transform called before fit")
        return ((X - self.mean_[None, :, None]) / (self.std_[None, :, None] + self.eps)).astype(np.float32)

    def state(self) -> dict[str, list[float]]:
        return {"mean": [float(v) for v in self.mean_], "std": [float(v) for v in self.std_]}
