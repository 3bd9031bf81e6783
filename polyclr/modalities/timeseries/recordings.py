"""Clinical recordings: WFDB (``wfdb``), EDF/EDF+/BDF (``edfio``), CSV/Parquet signal tables.

A :class:`Recording` holds a record's header facts (id, patient, rate, channel names, units,
length, header label fields) and reads any sample range on demand, so long recordings are never
loaded whole. This module reads EDF/BDF files and signal tables; WFDB records are read by
:mod:`polyclr.modalities.timeseries.wfdb_records`, folders scanned by
:func:`polyclr.modalities.timeseries.folder.scan_folder`. Every failure on bad input is a
:class:`DataError` naming the file.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polyclr._optional import require
from polyclr.errors import DataError

SIGNAL_SUFFIXES = (".hea", ".edf", ".bdf", ".csv", ".parquet")
_TABLE_META = ("record", "file", "label", "patient", "patient_id", "subject")


@dataclass
class Recording:
    """One recording: header facts plus a reader of sample ranges.

    Attributes:
        record: record id (WFDB record name, file stem).
        path: header / signal file.
        fmt: ``"wfdb"``, ``"edf"``, ``"bdf"`` or ``"table"``.
        fs: sampling rate (Hz) of every channel.
        channels: channel names from the header.
        units: physical unit per channel.
        n_samples: samples per channel.
        patient: patient id from the header ("" if the header has none).
        header_labels: labels in the header (``# Dx:`` SNOMED codes, or a class comment).
        comments: header comment lines.
    """

    record: str
    path: Path
    fmt: str
    fs: float
    channels: list[str]
    units: list[str]
    n_samples: int
    patient: str = ""
    header_labels: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    _reader: Callable[[int, int, list[int]], np.ndarray] | None = field(default=None, repr=False)

    @property
    def duration(self) -> float:
        return self.n_samples / self.fs

    def channel_index(self, names: list[str] | None) -> list[int]:
        """Indices of ``names`` (all channels when None); raises naming the absent ones."""
        if not names:
            return list(range(len(self.channels)))
        lower = [c.strip().lower() for c in self.channels]
        missing = [n for n in names if n.strip().lower() not in lower]
        if missing:
            raise DataError(self.path, f"channel(s) {missing} not found (has: {', '.join(self.channels)})")
        return [lower.index(n.strip().lower()) for n in names]

    def read(self, start: int = 0, stop: int | None = None, channels: list[int] | None = None) -> np.ndarray:
        """Physical values of samples ``[start, stop)``.

        Shape:
            returns float32 ``(C, stop - start)``.
        """
        stop = self.n_samples if stop is None else stop
        if not 0 <= start <= stop <= self.n_samples:
            raise DataError(self.path, f"read [{start}, {stop}) outside the signal (0..{self.n_samples})")
        chans = list(range(len(self.channels))) if channels is None else list(channels)
        if self._reader is None:
            raise RuntimeError("recording has no reader")
        return self._reader(start, stop, chans)


# ------------------------------------------------------------------------------------- EDF
def read_edf(path: Path) -> Recording:
    """An EDF/EDF+ (memory-mapped: only the requested records are read) or BDF file.

    edfio is the reader: pure numpy, maintained, and it maps EDF data records lazily, so a
    window read touches only its bytes (pyedflib needs a C build; MNE loads far more machinery).
    """
    edfio = require("edfio", "timeseries")
    bdf = path.suffix.lower() == ".bdf"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            edf = edfio.read_bdf(path) if bdf else edfio.read_edf(path, lazy_load_data=True)
        except (ValueError, OSError, IndexError, UnicodeDecodeError, KeyError) as exc:
            raise DataError(path, f"cannot read {'BDF' if bdf else 'EDF'} file ({' '.join(str(exc).split())[:160]})") from exc
    for w in caught:
        msg = str(w.message)
        if "header indicates" in msg or "Incomplete data record" in msg:
            raise DataError(path, f"header and signal length disagree ({msg.strip()})")
    signals = [s for s in edf.signals]
    if not signals:
        raise DataError(path, "no signals in file")
    rates = {float(s.sampling_frequency) for s in signals}
    if min(rates) <= 0:
        raise DataError(path, f"a channel has sampling rate {min(rates)}")
    fs = max(rates)
    n = int(round(edf.duration * fs))
    patient = ""
    try:
        code = edf.patient.code
        patient = "" if code in ("X", "") else code
    except (ValueError, AttributeError):
        patient = ""

    def reader(start: int, stop: int, chans: list[int]) -> np.ndarray:
        out = np.empty((len(chans), stop - start), dtype=np.float32)
        for row, c in enumerate(chans):
            s = signals[c]
            r = float(s.sampling_frequency)
            if r == fs:  # EDF calibration in float32 (edfio's get_data_slice returns float64)
                dig = s.get_digital_slice(start / fs, stop / fs)[: stop - start]
                dmin, dmax, pmin, pmax = s.digital_min, s.digital_max, s.physical_min, s.physical_max
                gain = (pmax - pmin) / (dmax - dmin) if dmax != dmin and pmax != pmin else 1.0
                off = pmax / gain - dmax if gain != 1.0 or dmax != dmin else 0.0
                np.add(dig, np.float32(off), out=out[row], casting="unsafe")
                out[row] *= np.float32(gain)
            else:  # a slower channel: read its span and upsample to the file's highest rate
                from scipy.signal import resample_poly

                seg = s.get_data_slice(start / fs, min(stop / fs, edf.duration))
                up = resample_poly(seg, int(fs), int(r)) if float(fs / r).is_integer() else np.interp(
                    np.arange(stop - start) / fs, np.arange(len(seg)) / r, seg)
                out[row] = np.resize(up, stop - start)
        return out

    return Recording(record=path.stem, path=path, fmt="bdf" if bdf else "edf", fs=fs,
                     channels=[s.label.strip() for s in signals],
                     units=[s.physical_dimension.strip() for s in signals], n_samples=n,
                     patient=patient, _reader=reader)


# ----------------------------------------------------------------------------------- tables
def is_signal_table(columns: list[str], dtypes: list[bool]) -> bool:
    """A CSV/Parquet is a signal table when every column but ``time`` is numeric and none is a
    labels-table column (``record``, ``label``, ...)."""
    if any(c.lower() in _TABLE_META for c in columns):
        return False
    chans = [ok for c, ok in zip(columns, dtypes, strict=True) if c.lower() != "time"]
    return bool(chans) and all(chans)


def read_table_recording(path: Path, sampling_rate: float | None) -> Recording:
    """One recording per file: a column per channel, an optional ``time`` column (seconds)."""
    import pandas as pd

    try:
        df = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    except ImportError as exc:
        raise DataError(path, "reading Parquet needs pyarrow: pip install 'polyclr[timeseries]'") from exc
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(path, f"cannot read table ({' '.join(str(exc).split())[:160]})") from exc
    if df.empty:
        raise DataError(path, "empty table")
    cols = [str(c) for c in df.columns]
    time = next((c for c in df.columns if str(c).lower() == "time"), None)
    fs = sampling_rate
    if time is not None and len(df) > 1:
        dt = np.diff(df[time].to_numpy(dtype=np.float64))
        if (dt <= 0).any():
            raise DataError(path, "time column is not increasing")
        fs = float(np.round(1.0 / np.median(dt), 6))  # float time stamps: 100.0000000002 Hz is 100 Hz
    if not fs or fs <= 0:
        raise DataError(path, "no sampling rate: add a 'time' column (seconds) or set data.sampling_rate")
    chans = [c for c in cols if c.lower() != "time"]
    values = df[[c for c in df.columns if str(c).lower() != "time"]].to_numpy(dtype=np.float32).T.copy()

    def reader(start: int, stop: int, idx: list[int]) -> np.ndarray:
        return values[idx, start:stop]

    return Recording(record=path.stem, path=path, fmt="table", fs=fs, channels=chans,
                     units=["" for _ in chans], n_samples=values.shape[1], _reader=reader)


def peek_table(path: Path) -> tuple[list[str], list[bool]] | None:
    import pandas as pd

    try:
        if path.suffix.lower() == ".parquet":
            df = pd.read_parquet(path).head(50)
        else:
            df = pd.read_csv(path, nrows=50)
    except ImportError as exc:
        raise DataError(path, "reading Parquet needs pyarrow: pip install 'polyclr[timeseries]'") from exc
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    return [str(c) for c in df.columns], [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
