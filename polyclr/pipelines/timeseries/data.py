"""The time-series pipeline's data: open (read + validate once), window, split by patient,
normalise on the training split, the pre-training dataset and the items selection sees."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from polyclr.errors import DataError
from polyclr.modalities.timeseries.data import ChannelNormalizer, TimeSeriesData
from polyclr.modalities.timeseries.io import load_dataset, window_dataset
from polyclr.pipelines import base
from polyclr.pipelines.timeseries.config import TimeSeriesConfig
from polyclr.selection.sources import ItemSet
from polyclr.splits import assert_group_disjoint, group_split, write_split_record


@dataclass(kw_only=True)
class Prepared(base.Prepared):
    """A time-series dataset read and validated once (:func:`open_dataset`); :func:`split`
    fills the split fields.

    Attributes:
        raw: the dataset as read.
        data: windowed, split and normalised copy of ``raw`` (None before :func:`split`).
        train, val, test: sample indices into ``data`` per split.
        normalizer: per-channel mean/std fitted on ``train`` (None when ``data.normalize`` is off).
        train_labelled: the labelled part of ``train`` (``train`` also holds every unlabelled
            sample, pre-training only; ``val`` and ``test`` hold labelled samples only).
    """

    raw: TimeSeriesData
    data: TimeSeriesData | None = field(default=None, repr=False)
    train: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    val: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    test: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    normalizer: dict[str, list[float]] | None = None
    train_labelled: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def open_dataset(path: Path, cfg: TimeSeriesConfig | None = None) -> Prepared:
    """Read ``path`` once and summarise it (what ``polyclr check timeseries`` prints)."""
    d = load_dataset(path, (cfg or TimeSeriesConfig()).data.recording_options())
    warnings = list(d.notes)
    summary = d.summary()
    if summary["labelled"] < summary["samples"]:
        warnings.append(f"{summary['samples'] - summary['labelled']} of {summary['samples']} samples unlabelled "
                        "(pre-training only)")
    if d.variable_length:
        warnings.append(f"variable-length series (min {summary['min_length']}, max {d.length}): padded and masked")
    if (d.split == "").all() and summary["labelled"]:
        if len(np.unique(d.patient_id)) < 2:
            raise DataError(path, "need at least 2 patients for a patient-independent split")
        if len(np.unique(d.patient_id)) == len(d.y) and not d.trial_names:
            warnings.append("no patient ids: each sample is treated as its own patient")
    if len(d.y) < 10:
        warnings.append(f"only {len(d.y)} samples")
    summary["class_counts"] = ";".join(f"{k}:{v}" for k, v in summary["class_counts"].items())
    if isinstance(summary["splits"], dict):
        summary["splits"] = ";".join(f"{k}:{v}" for k, v in summary["splits"].items())
    return Prepared(path=Path(path), summary=summary, warnings=warnings, raw=d)


def _assign_splits(cfg: TimeSeriesConfig, data: TimeSeriesData, path: Path) -> None:
    """Patient-disjoint split of the patients that have labels; patients without any label are
    pre-training data only (``train``)."""
    data.split = np.full(len(data.y), "", dtype=object)
    lab = data.labelled
    if not lab.any():
        data.split[:] = "train"
        return
    with_labels = np.isin(data.patient_id, np.unique(data.patient_id[lab]))
    sub = np.flatnonzero(with_labels)
    idx = group_split(data.patient_id[sub], data.y[sub], cfg.data.test_size, cfg.data.val_size,
                      cfg.data.split_seed, source=str(path))
    for name, ix in idx.items():
        data.split[sub[ix]] = name
    data.split[~with_labels] = "train"


def split(cfg: TimeSeriesConfig, prep: Prepared, out: Path | None = None, need_labels: bool = True) -> Prepared:
    """Window, split by patient (or keep the file's split), normalise on train only; returns a
    copy of ``prep`` with the split fields set (``prep.raw`` is left as read).

    Writes ``out/splits.json`` (patient ids per split) when ``out`` is given. With
    ``need_labels=False`` (pre-training) an unlabelled dataset is accepted.
    """
    path = prep.path
    data = copy.copy(prep.raw)
    if cfg.data.window_length > 0:
        data = window_dataset(data, cfg.data.window_length, cfg.data.window_stride or cfg.data.window_length)
    if (data.split == "").all():
        _assign_splits(cfg, data, path)
    elif (data.split == "").any():
        raise DataError(path, "split is given for some samples but not all")
    lab = data.labelled
    train = data.indices("train")
    val, test = (data.indices(s)[lab[data.indices(s)]] for s in ("val", "test"))
    if need_labels and not lab.any():
        raise DataError(path, "no labelled recording: fine-tuning and evaluation need labels "
                              "(labels.csv with record,label columns, REFERENCE.csv, or data.labels)")
    if len(train) == 0 or (lab.any() and len(test) == 0):
        raise DataError(path, f"need train and test samples, found {len(train)} train and {len(test)} test")
    groups = {s: data.patient_id[data.indices(s)] for s in ("train", "val", "test") if len(data.indices(s))}
    assert_group_disjoint(groups, str(path))
    if lab.any() and not data.multilabel and len(np.unique(data.y[train][lab[train]])) < 2:
        raise DataError(path, "the training split has a single class")
    norm = None
    if cfg.data.normalize:
        nz = ChannelNormalizer().fit(data.X[train])
        data.X = nz.transform(data.X)
        norm = nz.state()
    if out is not None:
        write_split_record(out, groups, cfg.data.deidentify_salt or None)
    return dataclasses.replace(prep, data=data, train=train, val=val, test=test, normalizer=norm,
                               train_labelled=train[lab[train]])


def prepare(cfg: TimeSeriesConfig, data: Path | Prepared, out: Path | None = None) -> Prepared:
    """Open ``data`` (unless already opened) and :func:`split` it."""
    prep = data if isinstance(data, Prepared) else open_dataset(Path(data), cfg)
    return split(cfg, prep, out)


class PretrainItems(Dataset):
    """Dict items ``x, index, trial, patient`` for pre-training."""

    def __init__(self, data: TimeSeriesData, idx: np.ndarray, x: np.ndarray | None = None) -> None:
        self.x = torch.from_numpy(data.X[idx] if x is None else x)
        self.index = torch.arange(len(idx))
        self.trial = torch.from_numpy(data.trial_id[idx])
        self.patient = torch.from_numpy(data.patient_id[idx])

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "index": self.index[i], "trial": self.trial[i], "patient": self.patient[i]}

    def __getitems__(self, idx: list[int]) -> dict[str, torch.Tensor]:
        """A whole batch by one gather per field (the DataLoader calls this instead of
        ``__getitem__`` per sample; :func:`collate_batch` passes the dict through)."""
        i = torch.as_tensor(idx, dtype=torch.long)
        return {"x": self.x[i], "index": self.index[i], "trial": self.trial[i], "patient": self.patient[i]}


def select_windows(cfg: TimeSeriesConfig, prep: Prepared, idx: np.ndarray) -> np.ndarray:
    """Redundancy-reducing selection of the pre-training windows (``cfg.selection``): each
    window (C, T) is an item, grouped by trial (recording) in window order."""
    if cfg.selection.method == "none":
        return idx
    from polyclr.selection import select_items

    items = np.nan_to_num(prep.data.X[idx], nan=0.0)
    result = select_items(items, groups=prep.data.trial_id[idx].tolist(), config=cfg.selection)
    return idx[np.asarray(result.kept_mask, dtype=bool)]



def selection_items(path: Path) -> ItemSet:
    """What ``polyclr select timeseries`` sees: each series (or window) is an item, grouped by
    ``patient_id`` (one group if every id is distinct), positioned at its index in the file (the
    time order of windows within a recording)."""
    data = load_dataset(path)
    n = len(data.X)
    if n == 0:
        raise DataError(path, "no series in the dataset")
    lengths = np.asarray(data.lengths, dtype=np.int64)
    items = [np.asarray(data.X[i][:, : int(lengths[i])], dtype=np.float32) for i in range(n)]
    pid = np.asarray(data.patient_id)
    if len(np.unique(pid)) == n:
        groups = ["all"] * n
    else:
        groups = [f"patient_{p}" for p in pid]
    name = Path(getattr(data, "path", path)).name
    names = [f"{name}:{i}" for i in range(n)]
    return ItemSet(items, groups, np.arange(n, dtype=np.float64), names, "timeseries", "index")
