"""WFDB records (``wfdb``): single- and multi-segment headers, ``.dat`` / MAT ``.mat`` signals,
annotations; headers ``wfdb.rdheader`` rejects as written (CinC 2017's date-first record lines)
are read through a corrected copy. Every failure on bad input is a :class:`DataError` naming
the file.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from polyclr._optional import require
from polyclr.errors import DataError
from polyclr.modalities.timeseries.recordings import Recording

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


def segment_headers(hea: Path) -> list[Path]:
    """Segment header paths named by a multi-segment header (``name/n_seg`` record line)."""
    lines = [ln.split() for ln in hea.read_text(encoding="latin-1").splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines or "/" not in lines[0][0]:
        return []
    return [hea.parent / tok[0] for tok in lines[1:] if tok and tok[0] != "~"]
