"""Clinical recordings: WFDB (``wfdb``), EDF/EDF+/BDF (``edfio``), CSV/Parquet signal tables.

A :class:`Recording` holds a record's header facts (id, patient, rate, channel names, units,
length, header label fields) and reads any sample range on demand, so long recordings are never
loaded whole. :func:`scan_folder` reads every supported file of a folder and names every file it
does not use in a warning. Every failure on bad input is a :class:`DataError` naming the file.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polyclr._optional import require
from polyclr.errors import DataError

SIGNAL_SUFFIXES = (".hea", ".edf", ".bdf", ".csv", ".parquet")
# files WFDB records and PhysioNet folders carry beside the headers (read through the header)
_COMPANION_SUFFIXES = (".dat", ".mat", ".atr", ".qrs", ".ecg", ".apn", ".st", ".pu", ".pu0", ".pu1")
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


# ------------------------------------------------------------------------------------ WFDB
_DX = re.compile(r"^\s*#?\s*Dx\s*:\s*(.+)$", re.IGNORECASE)
_WFDB_TMP: tempfile.TemporaryDirectory | None = None


def _fixed_header_dir(hea: Path) -> Path:
    """A private folder with a copy of ``hea`` whose record line wfdb can parse (the base date
    and time dropped: wfdb rejects date-first lines such as CinC 2017's ``2014-05-08 05:05:15``)
    and links to the record's signal files; wfdb has no API to parse a header from text."""
    global _WFDB_TMP
    if _WFDB_TMP is None:
        _WFDB_TMP = tempfile.TemporaryDirectory(prefix="polyclr-wfdb-")
    folder = Path(_WFDB_TMP.name) / str(abs(hash(str(hea.resolve()))))
    if not (folder / hea.name).is_file():
        folder.mkdir(parents=True, exist_ok=True)
        lines = hea.read_text(encoding="latin-1").splitlines()
        first = next(i for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#"))
        lines[first] = " ".join(lines[first].split()[:4])
        for ln in lines[first + 1:]:
            tok = ln.split()
            if tok and not ln.lstrip().startswith("#"):
                src = hea.parent / tok[0]
                if src.exists() and not (folder / tok[0]).exists():
                    os.symlink(src.resolve(), folder / tok[0])
        (folder / hea.name).write_text("\n".join(lines) + "\n", encoding="latin-1")
    return folder / hea.stem


def _rdheader(hea: Path):
    wfdb = require("wfdb", "timeseries")
    name = str(hea.with_suffix(""))
    try:
        return wfdb.rdheader(name), name
    except ValueError as exc:
        if "unconverted data" not in str(exc) and "does not match format" not in str(exc):
            raise DataError(hea, f"cannot parse WFDB header ({' '.join(str(exc).split())[:160]})") from exc
    except (OSError, IndexError, KeyError, TypeError) as exc:
        raise DataError(hea, f"cannot parse WFDB header ({' '.join(str(exc).split())[:160]})") from exc
    fixed = str(_fixed_header_dir(hea))
    try:
        return wfdb.rdheader(fixed), fixed
    except (ValueError, OSError, IndexError, KeyError, TypeError) as exc:
        raise DataError(hea, f"cannot parse WFDB header ({' '.join(str(exc).split())[:160]})") from exc


def _check_wfdb_files(hea: Path, h) -> None:
    """Formats known, signal files present and exactly as long as the header says."""
    from wfdb.io._signal import BYTES_PER_SAMPLE

    fmts = [str(f) for f in (h.fmt or [])]
    bad = sorted({f for f in fmts if f not in BYTES_PER_SAMPLE})
    if bad:
        raise DataError(hea, f"unknown WFDB format code(s) {bad} (known: {', '.join(BYTES_PER_SAMPLE)})")
    if h.sig_len is None or h.sig_len <= 0:
        raise DataError(hea, "header gives no signal length")
    per_file: dict[str, list[int]] = {}
    for i, f in enumerate(h.file_name or []):
        per_file.setdefault(f, []).append(i)
    for fname, idx in per_file.items():
        fmt = fmts[idx[0]]
        if BYTES_PER_SAMPLE[fmt] == 0:  # FLAC-compressed formats: length known only after decoding
            continue
        p = hea.parent / fname
        if not p.is_file():
            raise DataError(hea, f"signal file {fname} named in the header is missing")
        spf = sum(int((h.samps_per_frame or [1] * len(fmts))[i]) for i in idx)
        offset = int((h.byte_offset or [0] * len(fmts))[idx[0]] or 0)
        need = offset + int(np.ceil(h.sig_len * spf * BYTES_PER_SAMPLE[fmt]))
        have = p.stat().st_size
        if have < need:
            raise DataError(p, f"truncated signal file: header says {h.sig_len} samples x {len(idx)} channel(s) "
                               f"({need} bytes), file has {have} bytes")
        if have > need + 4:  # format 212/310 pad to whole bytes / words
            raise DataError(p, f"header and signal length disagree: header says {h.sig_len} samples "
                               f"({need} bytes), file has {have} bytes")


_DIRECT_DTYPES = {"16": ("<i2", -32768), "32": ("<i4", -2147483648)}


def _direct_reader(hea: Path, h) -> Callable[[int, int, list[int]], np.ndarray] | None:
    """Reader of single-file, one-sample-per-frame format 16/32 records through a memory map:
    the same physical values as ``wfdb.rdrecord`` (``(d - baseline) / gain``, the invalid-sample
    code as NaN) at about the speed of reading the bytes (rdrecord goes through float64 and
    several copies). None when the record needs wfdb's general reader."""
    fmts = {str(f) for f in h.fmt}
    files = set(h.file_name)
    if len(fmts) != 1 or len(files) != 1 or fmts - set(_DIRECT_DTYPES):
        return None
    if any(int(v or 1) != 1 for v in (h.samps_per_frame or [])) or any(int(v or 0) for v in (h.skew or [])):
        return None
    dtype, invalid = _DIRECT_DTYPES[fmts.pop()]
    offset = int((h.byte_offset or [0])[0] or 0)
    path = hea.parent / files.pop()
    gain = np.array([g if g else 200.0 for g in h.adc_gain], dtype=np.float32)  # WFDB: gain 0 means 200
    base = np.array(h.baseline, dtype=np.float32)

    def read(start: int, stop: int, chans: list[int]) -> np.ndarray:
        mm = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(int(h.sig_len), int(h.n_sig)))
        raw = mm[start:stop]
        raw = raw[:, chans] if chans != list(range(int(h.n_sig))) else raw
        x = np.empty((len(chans), stop - start), dtype=np.float32)
        np.copyto(x, raw.T, casting="unsafe")
        bad = raw.T == invalid
        x -= base[chans, None]
        x *= (1.0 / gain[chans])[:, None]
        if bad.any():
            x[bad] = np.nan
        return x

    return read


def read_wfdb(hea: Path) -> Recording:
    """A WFDB record (single- or multi-segment, ``.dat`` or MAT ``.mat`` signals)."""
    wfdb = require("wfdb", "timeseries")
    h, name = _rdheader(hea)
    multi = getattr(h, "seg_name", None) is not None
    if not multi:
        _check_wfdb_files(hea, h)
    if not h.fs or h.fs <= 0:
        raise DataError(hea, f"sampling rate {h.fs} is not positive")
    channels = list(h.sig_name or []) if not multi else list(wfdb.rdheader(name, rd_segments=True).sig_name)
    units = list(getattr(h, "units", None) or ["" for _ in channels])
    comments = list(h.comments or [])
    dx = [m.group(1) for c in comments if (m := _DX.match(c))]
    labels = [t.strip() for t in dx[0].split(",") if t.strip()] if dx else []
    patient = next((c.split(":", 1)[1].strip() for c in comments if c.lower().startswith(("patient:", "patient id:"))), "")

    direct = None if multi else _direct_reader(hea, h)

    def reader(start: int, stop: int, chans: list[int]) -> np.ndarray:
        if stop == start:
            return np.zeros((len(chans), 0), dtype=np.float32)
        if direct is not None:
            return direct(start, stop, chans)
        try:
            rec = wfdb.rdrecord(name, sampfrom=start, sampto=stop, channels=chans, physical=True,
                                return_res=32, m2s=True)
        except (ValueError, OSError, IndexError) as exc:
            raise DataError(hea, f"cannot read WFDB signal ({' '.join(str(exc).split())[:160]})") from exc
        return np.ascontiguousarray(rec.p_signal.T, dtype=np.float32)

    return Recording(record=str(h.record_name or hea.stem), path=hea, fmt="wfdb", fs=float(h.fs),
                     channels=[str(c) for c in channels], units=[str(u) for u in units],
                     n_samples=int(h.sig_len), patient=patient, header_labels=labels,
                     comments=comments, _reader=reader)


def read_annotations(rec: Recording, extension: str = "atr") -> tuple[np.ndarray, list[str], list[str]]:
    """``(sample, symbol, aux_note)`` of a WFDB annotation file; refuses annotations outside the
    signal. Shape: sample ``(n,)`` int64."""
    wfdb = require("wfdb", "timeseries")
    p = rec.path.with_suffix("." + extension)
    try:
        ann = wfdb.rdann(str(rec.path.with_suffix("")), extension)
    except (ValueError, OSError, IndexError, KeyError) as exc:
        raise DataError(p, f"cannot read annotations ({' '.join(str(exc).split())[:160]})") from exc
    sample = np.asarray(ann.sample, dtype=np.int64)
    outside = np.flatnonzero((sample < 0) | (sample > rec.n_samples))
    if len(outside):
        raise DataError(p, f"annotation at sample {int(sample[outside[0]])} is outside the signal "
                           f"(0..{rec.n_samples})")
    return sample, list(ann.symbol), [a or "" for a in (ann.aux_note or [""] * len(sample))]


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


def _peek_table(path: Path) -> tuple[list[str], list[bool]] | None:
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


# ----------------------------------------------------------------------------------- folder
def _segment_headers(hea: Path) -> list[Path]:
    """Segment header paths named by a multi-segment header (``name/n_seg`` record line)."""
    lines = [ln.split() for ln in hea.read_text(encoding="latin-1").splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines or "/" not in lines[0][0]:
        return []
    return [hea.parent / tok[0] for tok in lines[1:] if tok and tok[0] != "~"]


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
    segments = {seg for p in files if p.suffix.lower() == ".hea" for seg in _segment_headers(p)}
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
            peek = _peek_table(p)
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
