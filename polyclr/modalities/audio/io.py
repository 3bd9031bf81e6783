"""Validated audio and caption-table reading.

Audio goes through ``soundfile`` (libsndfile: WAV, FLAC, OGG/Vorbis, ...); every failure on bad
input becomes :class:`polyclr.errors.DataError` naming the file. Long recordings are never read
whole when a window is asked for: ``start``/``frames`` are passed to libsndfile, which seeks.

Dataset layout read by :func:`read_captions`::

    DIR/
      captions.csv     file_name, caption [, label, split, patient_id, boundary_s]
      *.wav|*.flac|*.ogg

Several rows may name the same file (several captions per file, as in Clotho).
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polyclr.errors import DataError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif")
CAPTIONS_FILE = "captions.csv"
REQUIRED_COLUMNS = ("file_name", "caption")
OPTIONAL_COLUMNS = ("label", "split", "patient_id", "boundary_s")
MIN_SECONDS = 0.01  # shorter clips (e.g. a single sample) carry no usable spectrum
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")  # the only libsndfile encodings that can store NaN/Inf
SCAN_BLOCK_FRAMES = 1 << 16  # frames decoded at a time by the non-finite scan (bounded memory)


@dataclass(frozen=True)
class AudioInfo:
    """Header facts of an audio file (read without decoding the samples)."""

    path: str
    sample_rate: int
    frames: int
    channels: int
    subtype: str = ""

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return self.frames / float(self.sample_rate)


def audio_info(path: str | Path) -> AudioInfo:
    """Read and validate the header of ``path``.

    Raises:
        DataError: missing, empty, undecodable, or shorter than :data:`MIN_SECONDS`.
    """
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        raise DataError(p, "audio file not found")
    if p.stat().st_size == 0:
        raise DataError(p, "empty file (0 bytes)")
    try:
        info = sf.info(str(p))
    except Exception as exc:  # libsndfile raises LibsndfileError/RuntimeError on bad headers
        raise DataError(p, f"not a readable audio file ({_short(exc)})") from None
    if info.samplerate <= 0 or info.channels <= 0:
        raise DataError(p, f"invalid header (rate {info.samplerate}, channels {info.channels})")
    if info.frames <= 0:
        raise DataError(p, "no audio samples (header only)")
    if info.frames < max(2, int(MIN_SECONDS * info.samplerate)):
        raise DataError(
            p, f"clip too short: {info.frames} sample(s); need at least {MIN_SECONDS * 1000:.0f} ms"
        )
    return AudioInfo(str(p), int(info.samplerate), int(info.frames), int(info.channels), str(info.subtype))


def check_finite(info: AudioInfo) -> None:
    """Refuse a file holding NaN or ±Inf samples, before any training reads it.

    Only float encodings (:data:`FLOAT_SUBTYPES`) can hold non-finite values, so integer PCM,
    FLAC and compressed files cost nothing; float files are decoded once, block by block, and
    the verdict is cached per (file, size, mtime) so ``check`` then ``pretrain`` in one process
    decode each file once.

    Raises:
        DataError: naming the file and the number of non-finite samples.
    """
    if info.subtype.upper() not in FLOAT_SUBTYPES:
        return
    st = Path(info.path).stat()
    bad = _count_nonfinite(info.path, st.st_size, st.st_mtime_ns)
    if bad:
        raise DataError(info.path, f"{bad} non-finite sample(s) (NaN or Inf) of "
                        f"{info.frames * info.channels}; repair or drop the file")


@functools.lru_cache(maxsize=65536)
def _count_nonfinite(path: str, size: int, mtime_ns: int) -> int:
    """Non-finite samples of ``path`` in one blockwise pass (``size``/``mtime_ns`` key the cache)."""
    import soundfile as sf

    bad = 0
    try:
        for block in sf.blocks(path, blocksize=SCAN_BLOCK_FRAMES, dtype="float32", always_2d=True):
            bad += block.size - int(np.count_nonzero(np.isfinite(block)))
    except Exception as exc:
        raise DataError(path, f"cannot decode audio ({_short(exc)})") from None
    return bad


@functools.lru_cache(maxsize=16)
def _resampler(orig: int, new: int):
    import torchaudio

    return torchaudio.transforms.Resample(orig_freq=orig, new_freq=new)


def resample(waveform: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """Band-limited resampling with torchaudio's ``Resample`` (cached per rate pair).

    Shape:
        waveform: ``(C, T)``; returns ``(C, T * new_sr / orig_sr)`` float32.
    """
    if orig_sr == new_sr:
        return waveform.astype(np.float32, copy=False)
    import torch

    with torch.no_grad():
        out = _resampler(int(orig_sr), int(new_sr))(torch.from_numpy(np.ascontiguousarray(waveform)))
    return out.numpy().astype(np.float32, copy=False)


def load_audio(
    path: str | Path,
    sample_rate: int | None = None,
    start_s: float = 0.0,
    max_seconds: float | None = None,
) -> tuple[np.ndarray, int]:
    """Read (a window of) an audio file as float32, resampled to ``sample_rate``.

    Only ``[start_s, start_s + max_seconds)`` is decoded (libsndfile seeks), so a 10-minute
    recording costs only the window asked for.

    Args:
        path: audio file (WAV/FLAC/OGG/...).
        sample_rate: target rate; ``None`` keeps the file's rate.
        start_s: window start in seconds.
        max_seconds: window length in seconds (``None``: to the end of the file).

    Returns:
        ``(waveform, sample_rate)`` with waveform ``(C, T)`` float32 in [-1, 1] (channels kept;
        see :func:`downmix`).

    Raises:
        DataError: unreadable, empty, too short, or containing NaN/Inf.
    """
    import soundfile as sf

    info = audio_info(path)
    first = min(max(0, int(round(start_s * info.sample_rate))), info.frames - 1)
    frames = -1 if max_seconds is None else max(1, int(round(max_seconds * info.sample_rate)))
    try:
        data, sr = sf.read(info.path, start=first, frames=frames, dtype="float32", always_2d=True)
    except Exception as exc:
        raise DataError(path, f"cannot decode audio ({_short(exc)})") from None
    if data.size == 0:
        raise DataError(path, "no audio samples could be decoded")
    bad = data.size - int(np.count_nonzero(np.isfinite(data)))
    if bad:
        raise DataError(path, f"{bad} non-finite sample(s) (NaN or Inf) in the decoded window")
    wave = np.ascontiguousarray(data.T)
    if sample_rate is not None and int(sample_rate) != sr:
        wave = resample(wave, sr, int(sample_rate))
        sr = int(sample_rate)
    return wave, int(sr)


def downmix(waveform: np.ndarray) -> np.ndarray:
    """Average the channels to mono.

    Shape:
        waveform: ``(C, T)`` or ``(T,)``; returns ``(T,)`` float32.
    """
    w = np.asarray(waveform, dtype=np.float32)
    return w if w.ndim == 1 else w.mean(axis=0)


def load_mono(
    path: str | Path, sample_rate: int, start_s: float = 0.0, max_seconds: float | None = None
) -> np.ndarray:
    """:func:`load_audio` + :func:`downmix`. Shape: returns ``(T,)`` float32."""
    wave, _ = load_audio(path, sample_rate, start_s=start_s, max_seconds=max_seconds)
    return downmix(wave)


@dataclass
class CaptionTable:
    """The caption table of a dataset folder (one row per caption).

    Attributes:
        root: dataset folder.
        file_names: per row, the audio file (relative to ``root``).
        captions: per row, the caption text.
        labels: per row, the class label or ``""``.
        splits: per row, ``train``/``val``/``test`` or ``""`` (decided by a group split).
        patient_ids: per row, the group id (defaults to the file name).
        boundaries: per row, the time (s) where the second event of an ordered caption starts,
            or ``None`` (then the midpoint is assumed).
    """

    root: Path
    file_names: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    patient_ids: list[str] = field(default_factory=list)
    boundaries: list[float | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.captions)

    @property
    def files(self) -> list[str]:
        """Unique audio files, in order of first appearance."""
        return list(dict.fromkeys(self.file_names))

    def path(self, file_name: str) -> Path:
        """Absolute path of a file named in the table."""
        return self.root / file_name

    def captions_of(self) -> dict[str, list[str]]:
        """File name → all its captions."""
        out: dict[str, list[str]] = {}
        for f, c in zip(self.file_names, self.captions, strict=True):
            out.setdefault(f, []).append(c)
        return out

    def first_row_of(self) -> dict[str, int]:
        """File name → index of its first row (for per-file label/split/group/boundary)."""
        out: dict[str, int] = {}
        for i, f in enumerate(self.file_names):
            out.setdefault(f, i)
        return out


def read_captions(directory: str | Path, check_files: bool = True) -> CaptionTable:
    """Read and validate ``DIR/captions.csv``.

    Args:
        directory: dataset folder (or the CSV file itself).
        check_files: verify that every referenced audio file exists.

    Raises:
        DataError: missing file or columns, not UTF-8, empty captions, missing audio files.
    """
    d = Path(directory)
    csv_path = d if d.is_file() else d / CAPTIONS_FILE
    root = csv_path.parent
    if not csv_path.is_file():
        raise DataError(csv_path, f"caption table not found; expected {CAPTIONS_FILE} in {root}")
    raw = csv_path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(csv_path, f"not UTF-8 text (byte {exc.start}); re-save it as UTF-8") from None
    try:
        return _parse_captions(csv_path, root, csv.DictReader(io.StringIO(text, newline="")), check_files)
    except csv.Error as exc:  # e.g. a stray carriage return or NUL inside a field
        raise DataError(csv_path, f"not a readable CSV table: {exc}") from None


def _parse_captions(csv_path: Path, root: Path, reader: csv.DictReader, check_files: bool) -> CaptionTable:
    """Rows of ``read_captions`` (csv.Error propagates to it)."""
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataError(
            csv_path, f"missing column(s) {', '.join(missing)}; header is {','.join(header) or '(empty)'}"
        )
    table = CaptionTable(root=root)
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        name, caption = row.get("file_name", ""), row.get("caption", "")
        if not name:
            raise DataError(csv_path, f"line {line}: empty file_name")
        if not caption:
            raise DataError(csv_path, f"line {line}: empty caption for {name}")
        boundary = row.get("boundary_s", "")
        try:
            b = float(boundary) if boundary else None
        except ValueError:
            raise DataError(csv_path, f"line {line}: boundary_s '{boundary}' is not a number") from None
        table.file_names.append(name)
        table.captions.append(caption)
        table.labels.append(row.get("label", ""))
        table.splits.append(row.get("split", "").lower())
        table.patient_ids.append(row.get("patient_id", "") or name)
        table.boundaries.append(b)
    if len(table) == 0:
        raise DataError(csv_path, "caption table has no rows")
    if check_files:
        for name in table.files:
            if not (root / name).is_file():
                raise DataError(root / name, f"listed in {csv_path.name} but the file does not exist")
    return table


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__
