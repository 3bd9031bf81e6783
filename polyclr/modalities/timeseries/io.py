"""Readers: UCR/UEA ``.ts`` (aeon), ``.npz`` arrays, CSV/Parquet long tables, directories.

Every failure on bad input becomes :class:`polyclr.errors.DataError` naming the file.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from polyclr._optional import require
from polyclr.errors import DataError
from polyclr.modalities.timeseries.data import TimeSeriesData, build_dataset, concat

MAX_HEADER_BYTES = 1 << 20  # a .ts header longer than this is refused, not parsed
_TS_KEYS = {
    "problemname", "timestamps", "missing", "univariate", "dimension", "dimensions", "equallength",
    "serieslength", "classlabel", "targetlabel",
}
_META_COLUMNS = ("patient_id", "trial_id", "sample_id", "time", "label", "split")


def _check_ts_header(path: Path) -> list[str] | None:
    """Validate the ``@`` header of a ``.ts`` file before aeon parses it (aeon returns empty
    arrays for many malformed files instead of raising).

    Returns:
        the labels declared by ``@classLabel true ...`` (``None`` when none are listed).
    """
    size = path.stat().st_size
    if size == 0:
        raise DataError(path, "empty file")
    keys: set[str] = set()
    declared: list[str] | None = None
    read = 0
    with path.open("r", encoding="utf-8", errors="strict") as fh:
        try:
            for raw in fh:
                read += len(raw)
                if read > MAX_HEADER_BYTES:
                    raise DataError(path, f"malformed .ts header: no @data within {MAX_HEADER_BYTES} bytes")
                line = raw.strip()
                if not line or line.startswith(("#", "%")):  # "%" : ARFF-style comments, as aeon skips
                    continue
                if not line.startswith("@"):
                    raise DataError(path, f"malformed .ts header: unexpected line before @data: {line[:60]!r}")
                key = line[1:].split(maxsplit=1)[0].lower()
                if key == "data":
                    break
                if key not in _TS_KEYS:
                    raise DataError(path, f"malformed .ts header: unknown tag @{key}")
                keys.add(key)
                if key == "classlabel":
                    words = line.split()[1:]
                    if words and words[0].lower() == "true" and len(words) > 1:
                        declared = words[1:]
            else:
                raise DataError(path, "malformed .ts header: no @data line")
        except UnicodeDecodeError as exc:
            raise DataError(path, f"not a text .ts file ({exc.reason})") from exc
    if "classlabel" not in keys:
        raise DataError(path, "malformed .ts header: missing @classLabel (a labelled dataset is needed)")
    return declared


def _check_declared(path: Path, y: np.ndarray, declared: list[str] | None) -> None:
    """Refuse a case whose label the header does not declare (aeon reads it without complaint;
    the ``.ts`` format requires every class label in ``@classLabel``). Compared in lower case,
    as aeon lower-cases every data line."""
    if declared is None:
        return
    labels = np.asarray(y).astype(str)
    bad = np.flatnonzero(~np.isin(np.char.lower(labels), [d.lower() for d in declared]))
    if len(bad):
        i = int(bad[0])
        raise DataError(path, f"case {i + 1} has class label {str(labels[i])!r}, which @classLabel does not "
                        f"declare (declared: {' '.join(declared)})")


def _read_ts_file(path: Path, split: str | None) -> TimeSeriesData:
    declared = _check_ts_header(path)
    datasets = require("aeon.datasets", "timeseries")
    try:
        X, y = datasets.load_from_ts_file(str(path))
    except (OSError, ValueError, IndexError, TypeError, KeyError) as exc:
        raise DataError(path, f"cannot parse .ts file ({' '.join(str(exc).split())[:200]})") from exc
    if isinstance(X, list):  # unequal length: list of (C, T_i) arrays -> pad with NaN, never cut
        if not X:
            raise DataError(path, "no series in file")
        c = {a.shape[0] for a in X}
        if len(c) != 1:
            raise DataError(path, f"series have different channel counts {sorted(c)}")
        t = max(a.shape[1] for a in X)
        arr = np.full((len(X), c.pop(), t), np.nan, dtype=np.float32)
        for i, a in enumerate(X):
            arr[i, :, : a.shape[1]] = a
        X = arr
    X = np.asarray(X)
    if X.size == 0 or len(y) == 0:
        raise DataError(path, "no series in file (malformed .ts body)")
    _check_declared(path, y, declared)
    sp = None if split is None else np.full(len(X), split)
    return build_dataset(X, y, path, split=sp, require_labels=split != "test")


def _read_ts(path: Path) -> TimeSeriesData:
    name = path.name
    for tag, other in (("_TRAIN.ts", "_TEST.ts"), ("_TEST.ts", "_TRAIN.ts")):
        if name.upper().endswith(tag.upper()):
            sibling = path.with_name(name[: -len(tag)] + other)
            if sibling.is_file():
                train, test = (path, sibling) if tag == "_TRAIN.ts" else (sibling, path)
                return concat([_read_ts_file(train, "train"), _read_ts_file(test, "test")], str(path))
    return _read_ts_file(path, None)


def _read_npz(path: Path) -> TimeSeriesData:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DataError(path, f"not a readable .npz file ({' '.join(str(exc).split())[:160]})") from exc
    for key in ("X", "y"):
        if key not in arrays:
            raise DataError(path, f"missing array '{key}' (found: {', '.join(sorted(arrays)) or 'none'})")
    sr = arrays.get("sampling_rate")
    return build_dataset(
        arrays["X"], arrays["y"], path, patient_id=arrays.get("patient_id"),
        trial_id=arrays.get("trial_id"), split=arrays.get("split"),
        sampling_rate=float(sr) if sr is not None else None,
    )


def _read_table(path: Path) -> TimeSeriesData:
    """Long table: one row per (sample, time); columns patient_id, trial_id, time, label,
    optional sample_id / split, and one column per channel."""
    import pandas as pd

    try:
        df = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    except (ValueError, OSError, ImportError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(path, f"cannot read table ({' '.join(str(exc).split())[:160]})") from exc
    if df.empty:
        raise DataError(path, "empty table")
    missing = [c for c in ("patient_id", "trial_id", "time") if c not in df.columns]
    if missing:
        raise DataError(path, f"missing columns {missing} (need patient_id, trial_id, time, channels; "
                              "label optional)")
    if "label" not in df.columns:  # unlabelled: pre-training only
        df = df.assign(label=None)
    channels = [c for c in df.columns if c not in _META_COLUMNS]
    if not channels:
        raise DataError(path, "no channel columns")
    non_numeric = [c for c in channels if not pd.api.types.is_numeric_dtype(df[c])]
    if non_numeric:
        raise DataError(path, f"channel columns must be numeric: {non_numeric}")
    keys = ["patient_id", "trial_id"] + (["sample_id"] if "sample_id" in df.columns else [])
    df = df.sort_values(keys + ["time"], kind="stable")
    groups = df.groupby(keys, sort=False)
    if (groups["label"].nunique(dropna=True) > 1).any():
        raise DataError(path, "label changes within one sample (patient/trial[/sample_id])")
    lengths = groups.size().to_numpy()
    t = int(lengths.max())
    n = len(lengths)
    pos = groups.cumcount().to_numpy()
    sample = groups.ngroup().to_numpy()
    X = np.full((n, len(channels), t), np.nan, dtype=np.float32)
    X[sample, :, pos] = df[channels].to_numpy(dtype=np.float32)
    first = groups.head(1)
    split = first["split"].to_numpy() if "split" in df.columns else None
    labels = first["label"].to_numpy()
    return build_dataset(
        X, None if first["label"].isna().all() else labels, path, patient_id=first["patient_id"].to_numpy(),
        trial_id=(first["patient_id"].astype(str) + "/" + first["trial_id"].astype(str)).to_numpy(),
        split=split, channel_names=[str(c) for c in channels],
    )


def _pick_in_dir(path: Path) -> Path:
    trains = sorted(path.glob("*_TRAIN.ts"))
    if len(trains) == 1:
        return trains[0]
    if len(trains) > 1:
        raise DataError(path, f"several *_TRAIN.ts files ({', '.join(p.name for p in trains)}); pass one")
    found = [p for ext in ("*.npz", "*.parquet", "*.csv", "*.ts") for p in sorted(path.glob(ext))]
    if len(found) == 1:
        return found[0]
    if not found:
        raise DataError(path, "no .ts, .npz, .csv or .parquet file in directory")
    raise DataError(path, f"several data files ({', '.join(p.name for p in found[:5])}); pass one")


def _recordings_route(p: Path) -> bool:
    """WFDB/EDF/BDF files, or CSV/Parquet tables that are not one long table, are recordings."""
    from polyclr.modalities.timeseries.folder import is_recording_path

    if is_recording_path(p):
        return True
    if p.is_dir():
        if any(p.glob("*.ts")) or any(p.glob("*.npz")):
            return False
        tables = [q for ext in ("*.csv", "*.parquet") for q in p.glob(ext)]
        return len(tables) > 1
    return False


def load_dataset(path: str | Path, recording_options=None) -> TimeSeriesData:
    """Load a time-series dataset from a ``.ts`` TRAIN file (TEST found beside it), ``.npz``,
    CSV/Parquet long table, a directory holding one of these, or recordings (WFDB, EDF/BDF,
    CSV/Parquet signal tables: a file or a folder, windowed as ``recording_options`` says; see
    :func:`polyclr.modalities.timeseries.folder.load_recordings`).

    Returns:
        :class:`TimeSeriesData` (X float32 ``(n, C, T)``; NaN = end padding or a masked gap).

    Raises:
        DataError: the file is missing, empty or malformed (the message names the file).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(p, "no such file or directory")
    if _recordings_route(p):
        from polyclr.modalities.timeseries.folder import load_recordings

        return load_recordings(p, recording_options)
    if p.is_dir():
        p = _pick_in_dir(p)
    if p.stat().st_size == 0:
        raise DataError(p, "empty file")
    suffix = p.suffix.lower()
    if suffix == ".ts":
        return _read_ts(p)
    if suffix == ".npz":
        return _read_npz(p)
    if suffix in (".csv", ".parquet"):
        return _read_table(p)
    raise DataError(p, f"unsupported file type '{suffix}' (use .ts, .npz, .csv, .parquet, .hea, .edf or .bdf)")


def window_dataset(data: TimeSeriesData, length: int, stride: int) -> TimeSeriesData:
    """Cut each series into windows (samples) that keep the series' patient, trial, label and
    split; the window index is the new sample. Windows never cross padding.

    Shape:
        returns X ``(n_windows, C, length)``.
    """
    if length <= 0 or stride <= 0:
        raise ValueError(f"window length and stride must be positive, got {length}, {stride}")
    starts_per = [np.arange(0, max(int(n) - length, -1) + 1, stride) for n in data.lengths]
    src = np.concatenate([np.full(len(s), i) for i, s in enumerate(starts_per)]).astype(np.int64)
    starts = np.concatenate(starts_per).astype(np.int64)
    if len(src) == 0:
        raise DataError(data.path, f"every series is shorter than window length {length}")
    idx = starts[:, None] + np.arange(length)[None, :]
    X = data.X[src[:, None, None], np.arange(data.n_channels)[None, :, None], idx[:, None, :]]
    return TimeSeriesData(
        X=X.astype(np.float32), y=data.y[src], patient_id=data.patient_id[src],
        trial_id=data.trial_id[src], split=data.split[src], classes=data.classes,
        lengths=np.full(len(src), length, dtype=np.int64), path=data.path,
        sampling_rate=data.sampling_rate, channel_names=data.channel_names,
    )
