"""A folder (or one file) of recordings → windowed :class:`TimeSeriesData` with its hierarchy.

Patient → recording (``trial_id``, named in ``trial_names``) → window (sample) → time step.
Labels are optional (``y == -1``); multi-label targets come as multi-hot ``Y``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polyclr.errors import DataError
from polyclr.modalities.timeseries.data import TimeSeriesData
from polyclr.modalities.timeseries.labels import RecordLabels, record_labels
from polyclr.modalities.timeseries.recordings import (
    Recording,
    is_signal_table,
    peek_table,
    read_edf,
    read_table_recording,
)
from polyclr.modalities.timeseries.wfdb_records import read_annotations, read_wfdb, segment_headers
from polyclr.modalities.timeseries.windows import WindowSpec, recording_windows

RECORDING_SUFFIXES = (".hea", ".edf", ".bdf")
# files WFDB records and PhysioNet folders carry beside the headers (read through the header)
_COMPANION_SUFFIXES = (".dat", ".mat", ".atr", ".qrs", ".ecg", ".apn", ".st", ".pu", ".pu0", ".pu1")


@dataclass
class FolderScan:
    """What :func:`scan_folder` found: recordings, label-table candidates, unused files."""

    recordings: list[Recording]
    tables: list[Path]
    ignored: list[str]


def scan_folder(root: Path, sampling_rate: float | None = None) -> FolderScan:
    """Read every supported recording under ``root`` (recursively, sorted); metadata tables are
    returned for the labels step; every other file is listed in ``ignored`` (to be warned about)."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    heads = {p.with_suffix("") for p in files if p.suffix.lower() == ".hea"}
    segments = {seg for p in files if p.suffix.lower() == ".hea" for seg in segment_headers(p)}
    recs: list[Recording] = []
    tables: list[Path] = []
    ignored: list[str] = []
    for p in files:
        suf = p.suffix.lower()
        rel = str(p.relative_to(root))
        if suf == ".hea":
            if p.with_suffix("") not in segments:  # a segment is read through its multi-segment record
                recs.append(read_wfdb(p))
        elif suf in (".edf", ".bdf"):
            recs.append(read_edf(p))
        elif suf in (".csv", ".parquet"):
            peek = peek_table(p)
            if peek is not None and is_signal_table(*peek):
                recs.append(read_table_recording(p, sampling_rate))
            else:
                tables.append(p)
        elif suf in _COMPANION_SUFFIXES and p.with_suffix("") in heads:
            continue
        elif p.name == "RECORDS" or p.name.upper() == "RECORDS":
            continue  # PhysioNet's list of record names; the headers themselves are read
        else:
            ignored.append(rel)
    seen: dict[str, Path] = {}
    for r in recs:
        if r.record in seen:
            raise DataError(r.path, f"record id '{r.record}' also used by {seen[r.record]}")
        seen[r.record] = r.path
    return FolderScan(recs, tables, ignored)


@dataclass
class RecordingOptions:
    """How to read recordings (the ``data.*`` keys of the time-series config).

    Attributes:
        window: windowing (seconds, stride, target rate, channels, max gap).
        labels: labels table (path, relative to the folder); "" = ``labels.csv`` /
            ``REFERENCE.csv`` / header ``# Dx:`` codes, whichever is found first.
        record_column, label_column, patient_column: columns of the labels table
            (``patient_column`` "" = ``patient`` / ``patient_id`` / ``subject`` if present).
        label_separator: split label cells into several labels (multi-label), "" = single label.
        table_rate: sampling rate of CSV/Parquet signal tables without a ``time`` column.
        annotations: WFDB annotation extension to validate (e.g. ``atr``; "" = none).
    """

    window: WindowSpec = field(default_factory=WindowSpec)
    labels: str = ""
    record_column: str = "record"
    label_column: str = "label"
    patient_column: str = ""
    label_separator: str = ""
    table_rate: float = 0.0
    annotations: str = "atr"


def is_recording_path(path: Path) -> bool:
    """True for a WFDB/EDF/BDF file, or a folder holding one or several signal files that are
    not a UCR/UEA, ``.npz`` or long-table dataset."""
    if path.is_file():
        return path.suffix.lower() in RECORDING_SUFFIXES
    if not path.is_dir():
        return False
    return any(p.suffix.lower() in RECORDING_SUFFIXES for p in path.rglob("*") if p.is_file())


def _scan(path: Path, opts: RecordingOptions) -> tuple[FolderScan, Path]:
    if path.is_dir():
        return scan_folder(path, opts.table_rate or None), path
    suf = path.suffix.lower()
    if suf == ".hea":
        rec = read_wfdb(path)
    elif suf in (".edf", ".bdf"):
        rec = read_edf(path)
    else:
        rec = read_table_recording(path, opts.table_rate or None)
    return FolderScan([rec], [], []), path.parent


def _targets(recs: list[Recording], lab: RecordLabels) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """Class names, per-recording class index (-1 unlabelled), multi-hot per recording."""
    names = sorted({c for r in recs for c in lab.labels.get(r.record, [])})
    pos = {c: i for i, c in enumerate(names)}
    y = np.full(len(recs), -1, dtype=np.int64)
    Y = np.zeros((len(recs), len(names)), dtype=np.float32) if lab.multilabel else None
    freq = {c: sum(c in lab.labels.get(r.record, []) for r in recs) for c in names}
    for i, r in enumerate(recs):
        got = lab.labels.get(r.record)
        if not got:
            continue
        y[i] = pos[max(got, key=lambda c: (freq[c], c))] if Y is not None else pos[got[0]]
        if Y is not None:
            Y[i, [pos[c] for c in got]] = 1.0
    return names, y, Y


def load_recordings(path: str | Path, opts: RecordingOptions | None = None) -> TimeSeriesData:
    """Read, label and window recordings (every supported file of a folder; the others are named
    in ``notes``).

    Raises:
        DataError: a file is unreadable or inconsistent (the message names it).
    """
    opts = opts or RecordingOptions()
    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file or directory")
    scan, root = _scan(path, opts)
    if not scan.recordings:
        raise DataError(path, "no recording found (.hea, .edf, .bdf, or CSV/Parquet signal tables)")
    recs = scan.recordings
    notes = [f"not read (unsupported file type): {', '.join(scan.ignored[:10])}"
             + (" ..." if len(scan.ignored) > 10 else "")] if scan.ignored else []
    lab = record_labels(recs, root, scan.tables, opts.labels, opts.record_column, opts.label_column,
                        opts.patient_column, opts.label_separator)
    notes += lab.warnings
    used = {lab.source.lower(), "reference.csv", "labels.csv"}
    other = [t.name for t in scan.tables if t.name.lower() not in used and t.name != Path(opts.labels).name]
    if other:
        notes.append(f"tables neither signals nor the labels source (not used): {', '.join(other)}")
    if opts.annotations:
        for r in recs:
            if r.fmt == "wfdb" and r.path.with_suffix("." + opts.annotations).is_file():
                read_annotations(r, opts.annotations)
    rate, channels = opts.window.resolve(recs, str(path))
    classes, y_rec, Y_rec = _targets(recs, lab)
    patients = [lab.patients[r.record] for r in recs]
    if len(set(patients)) == len(recs) and not any(r.patient for r in recs) and len(recs) > 1:
        notes.append("no patient ids (header or labels table): each recording is its own patient")
    parts, owner = [], []
    for i, r in enumerate(recs):
        w = recording_windows(r, opts.window, rate, channels)
        if len(w) == 0:
            notes.append(f"{r.record}: no window (all values missing)")
            continue
        parts.append(w)
        owner.append(np.full(len(w), i, dtype=np.int64))
    if not parts:
        raise DataError(path, "no window in any recording (all values missing)")
    X = np.concatenate(parts)
    src = np.concatenate(owner)
    _, pid = np.unique(np.asarray(patients, dtype=str), return_inverse=True)
    length = X.shape[2]
    has = ~np.isnan(X).all(axis=1)
    lengths = np.where(has.any(1), length - np.argmax(has[:, ::-1], axis=1), 0).astype(np.int64)
    return TimeSeriesData(
        X=X, y=y_rec[src], patient_id=pid[src].astype(np.int64), trial_id=src,
        split=np.full(len(X), "", dtype=object), classes=classes, lengths=lengths, path=str(path),
        sampling_rate=rate, channel_names=channels, Y=None if Y_rec is None else Y_rec[src],
        trial_names=[r.record for r in recs], notes=notes,
    )
