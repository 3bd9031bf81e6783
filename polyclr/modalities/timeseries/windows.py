"""Long recordings as a hierarchy: patient → recording (trial) → window (sample) → time step.

Windows have a length and stride in seconds at one target rate, over channels chosen by name.
NaN gap policy: a NaN run no longer than ``max_gap`` seconds stays in the window as NaN (the
encoders mask it, so the loss ignores it); a longer run splits the recording into segments and
no window crosses it; leading/trailing NaN is trimmed. A recording (segment) shorter than one
window gives one window right-padded with NaN; a tail shorter than a window is not used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch
from torch.utils.data import Dataset

from polyclr.errors import ConfigError, DataError
from polyclr.modalities.timeseries.recordings import Recording


@dataclass
class WindowSpec:
    """Windowing settings (seconds / Hz).

    Attributes:
        seconds: window length.
        stride: window stride (0 = ``seconds``: no overlap).
        rate: target sampling rate (0 = the recordings' own rate, which must then be shared).
        channels: channel names to keep, in this order (empty = all; then every recording must
            have the same channel names).
        max_gap: longest NaN run (seconds) kept inside a window; longer runs split the recording.
    """

    seconds: float = 10.0
    stride: float = 0.0
    rate: float = 0.0
    channels: list[str] = field(default_factory=list)
    max_gap: float = 1.0

    def resolve(self, recs: list[Recording], source: str) -> tuple[float, list[str]]:
        """Target rate and channel names for ``recs`` (raises naming the mismatching file)."""
        if self.seconds <= 0 or self.stride < 0 or self.rate < 0 or self.max_gap < 0:
            raise ConfigError(f"window seconds must be > 0 and stride, rate, max_gap >= 0 "
                              f"(got {self.seconds}, {self.stride}, {self.rate}, {self.max_gap})")
        for r in recs:
            if not np.isfinite(r.fs) or r.fs <= 0:
                raise DataError(r.path, f"sampling rate {r.fs} Hz cannot be resampled")
        rate = self.rate or recs[0].fs
        if not self.rate:
            other = next((r for r in recs if r.fs != rate), None)
            if other is not None:
                raise DataError(other.path, f"sampling rate {other.fs} Hz differs from {recs[0].path.name} "
                                            f"({rate} Hz): set data.sampling_rate to resample")
        if self.channels:
            for r in recs:
                r.channel_index(self.channels)
            return float(rate), list(self.channels)
        names = recs[0].channels
        for r in recs[1:]:
            if [c.lower() for c in r.channels] != [c.lower() for c in names]:
                raise DataError(r.path, f"channels {r.channels} differ from {recs[0].path.name} {names}: "
                                        "list the channels to use in data.channels")
        return float(rate), list(names)

    def lengths(self, rate: float) -> tuple[int, int, int]:
        """Window length, stride and max gap in samples at ``rate``."""
        length = max(1, int(round(self.seconds * rate)))
        stride = max(1, int(round((self.stride or self.seconds) * rate)))
        return length, stride, int(round(self.max_gap * rate))


def resample(x: np.ndarray, fs: float, rate: float) -> np.ndarray:
    """Polyphase resampling (scipy) to ``rate``; NaN samples stay NaN at the nearest new time.

    Shape:
        x: ``(C, T)`` → ``(C, round(T * rate / fs))``.
    """
    if fs == rate:
        return x
    from scipy.signal import resample_poly

    frac = Fraction(rate / fs).limit_denominator(1000)
    nan = np.isnan(x)
    y = resample_poly(np.where(nan, 0.0, x), frac.numerator, frac.denominator, axis=1).astype(np.float32)
    if nan.any():
        src = np.minimum((np.arange(y.shape[1]) * fs / rate).round().astype(np.int64), x.shape[1] - 1)
        y[nan[:, src]] = np.nan
    return y


def segments(missing: np.ndarray, max_gap: int) -> list[tuple[int, int]]:
    """``[start, stop)`` runs of a recording split at NaN runs longer than ``max_gap`` samples,
    with leading / trailing NaN trimmed.

    Shape:
        missing: ``(T,)`` bool, True where any channel is NaN.
    """
    t = len(missing)
    if not missing.any():
        return [(0, t)] if t else []
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    out, cur = [], 0
    for a, b in zip(starts, stops, strict=True):
        if a == 0 or b == t or b - a > max_gap:
            if a > cur:
                out.append((cur, int(a)))
            cur = int(b)
    if cur < t:
        out.append((cur, t))
    return out


def window_starts(n: int, length: int, stride: int) -> np.ndarray:
    """Starts of the windows of a segment of ``n`` samples (one padded window if ``n < length``)."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if n < length:
        return np.zeros(1, dtype=np.int64)
    return np.arange(0, n - length + 1, stride, dtype=np.int64)


def cut_windows(x: np.ndarray, length: int, stride: int, max_gap: int) -> np.ndarray:
    """Windows of one recording at the target rate (gap policy of this module applied).

    Shape:
        x: ``(C, T)`` → ``(n, C, length)`` float32.
    """
    missing = np.isnan(x).any(axis=0)
    parts = []
    for a, b in segments(missing, max_gap):
        seg = x[:, a:b]
        if seg.shape[1] < length:
            pad = np.full((x.shape[0], length), np.nan, dtype=np.float32)
            pad[:, : seg.shape[1]] = seg
            parts.append(pad[None])
            continue
        view = np.lib.stride_tricks.sliding_window_view(seg, length, axis=1)[:, ::stride]  # (C, n, L)
        parts.append(view.transpose(1, 0, 2))
    if not parts:
        return np.zeros((0, x.shape[0], length), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(parts) if len(parts) > 1 else parts[0], dtype=np.float32)


def recording_windows(rec: Recording, spec: WindowSpec, rate: float, channels: list[str]) -> np.ndarray:
    """Read ``rec`` whole, resample, cut windows. Shape: returns ``(n, C, L)``."""
    length, stride, gap = spec.lengths(rate)
    x = resample(rec.read(0, rec.n_samples, rec.channel_index(channels)), rec.fs, rate)
    return cut_windows(x, length, stride, gap)


def aggregate(proba: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recording-level prediction: the mean of its windows' probabilities.

    Shape:
        proba: ``(n, K)``; groups: ``(n,)`` → ``(G,)`` sorted group ids, ``(G, K)`` means.
    """
    ids, inv = np.unique(groups, return_inverse=True)
    sums = np.zeros((len(ids), proba.shape[1]), dtype=np.float64)
    np.add.at(sums, inv, proba)
    return ids, sums / np.bincount(inv)[:, None]


class StreamedWindows(Dataset):
    """Windows read on demand (bounded memory: one window per item, never a whole recording).

    A planning pass reads each recording in chunks to find NaN gaps (EDF/BDF hold no NaN and are
    not scanned); items are ``{"x", "index", "trial", "patient"}`` as pre-training expects.

    Args:
        recs: recordings. patients: patient index per recording.
        spec: windowing. rate, channels: from :meth:`WindowSpec.resolve`.
        mean, std: per-channel normalisation (``(C,)``) or None.
        chunk: samples per planning read.
    """

    def __init__(self, recs: list[Recording], patients: np.ndarray, spec: WindowSpec, rate: float,
                 channels: list[str], mean: np.ndarray | None = None, std: np.ndarray | None = None,
                 chunk: int = 1 << 20) -> None:
        self.recs, self.rate, self.mean, self.std = recs, rate, mean, std
        self.length, stride, gap = spec.lengths(rate)
        self.chans = [r.channel_index(channels) for r in recs]
        rec_idx, starts, spans = [], [], []
        for i, r in enumerate(recs):
            scale = r.fs / rate
            for a, b in self._segments(r, self.chans[i], int(round(gap * scale)), chunk):
                n = int((b - a) / scale)
                for s in window_starts(n, self.length, stride):
                    rec_idx.append(i)
                    starts.append(a + int(round(s * scale)))
                    spans.append(min(int(round(self.length * scale)), b - a - int(round(s * scale))))
        if not rec_idx:
            raise DataError(recs[0].path if recs else None, "no window: every recording is empty")
        self.rec_idx = np.asarray(rec_idx, dtype=np.int64)
        self.starts = np.asarray(starts, dtype=np.int64)
        self.spans = np.asarray(spans, dtype=np.int64)
        self.patient = np.asarray(patients, dtype=np.int64)[self.rec_idx]

    @staticmethod
    def _segments(r: Recording, chans: list[int], gap: int, chunk: int) -> list[tuple[int, int]]:
        if r.fmt in ("edf", "bdf"):
            return [(0, r.n_samples)] if r.n_samples else []
        missing = np.zeros(r.n_samples, dtype=bool)
        for a in range(0, r.n_samples, chunk):
            b = min(r.n_samples, a + chunk)
            missing[a:b] = np.isnan(r.read(a, b, chans)).any(axis=0)
        return segments(missing, gap)

    def __len__(self) -> int:
        return len(self.rec_idx)

    def window(self, i: int) -> np.ndarray:
        """Window ``i`` at the target rate, normalised. Shape: ``(C, length)``."""
        j = int(self.rec_idx[i])
        r = self.recs[j]
        a = int(self.starts[i])
        x = resample(r.read(a, a + int(self.spans[i]), self.chans[j]), r.fs, self.rate)
        out = np.full((x.shape[0], self.length), np.nan, dtype=np.float32)
        n = min(self.length, x.shape[1])
        out[:, :n] = x[:, :n]
        if self.mean is not None and self.std is not None:
            out = (out - self.mean[:, None]) / (self.std[:, None] + 1e-8)
        return out

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": torch.from_numpy(self.window(i)), "index": torch.tensor(i),
                "trial": torch.tensor(int(self.rec_idx[i])), "patient": torch.tensor(int(self.patient[i]))}
