"""Log-mel front end (torchaudio), SpecAugment, and training / evaluation crops.

The evaluation crop is deterministic (centre window, or ``n`` evenly spaced windows whose
embeddings are averaged): random evaluation crops make embeddings irreproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class FrontEndConfig:
    """Log-mel settings (the ``features:`` config section).

    Attributes:
        sample_rate: model rate in Hz; every file is resampled to it.
        n_fft: FFT size.
        hop_length: hop in samples (320 = 20 ms at 16 kHz; events and words need no finer step).
        n_mels: mel bands.
        f_min: lowest mel frequency (Hz).
        f_max: highest mel frequency (Hz; ``None`` = Nyquist).
        top_db: dynamic range kept by ``AmplitudeToDB``.
    """

    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 320
    n_mels: int = 64
    f_min: float = 50.0
    f_max: float | None = None
    top_db: float = 80.0

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.n_fft <= 0 or self.hop_length <= 0 or self.n_mels <= 0:
            raise ValueError("sample_rate, n_fft, hop_length and n_mels must be positive")


class LogMel(nn.Module):
    """Waveform → log-mel spectrogram (torchaudio ``MelSpectrogram`` + ``AmplitudeToDB``).

    dB values are shifted and scaled by fixed constants (``(dB + 40) / 20``) so that the input to
    the network is roughly unit scale without dataset statistics.

    Shape:
        wave: ``(B, T)`` float; returns ``(B, n_mels, frames)`` with
        ``frames = T // hop_length + 1``.
    """

    def __init__(self, cfg: FrontEndConfig | None = None) -> None:
        super().__init__()
        import torchaudio

        self.cfg = cfg or FrontEndConfig()
        c = self.cfg
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=c.sample_rate,
            n_fft=c.n_fft,
            hop_length=c.hop_length,
            n_mels=c.n_mels,
            f_min=c.f_min,
            f_max=c.f_max,
            power=2.0,
        )
        self.to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=c.top_db)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if wave.ndim != 2:
            raise ValueError(f"wave must be (B, T), got {tuple(wave.shape)}")
        with torch.autocast(device_type=wave.device.type, enabled=False):
            spec = self.mel(wave.float()) + 1e-10
            # top_db clamps relative to each clip's own peak (per-item max over the last dims).
            db = self.to_db(spec.unsqueeze(1)).squeeze(1)
        return (db + 40.0) / 20.0


class SpecAugment(nn.Module):
    """Time and frequency masking (Park et al. 2019) with torchaudio's masking transforms.

    Independent masks per example; identity in ``eval()`` mode.

    Args:
        freq_mask: maximum masked mel bands per mask.
        time_mask: maximum masked frames per mask.
        n_masks: masks of each kind.

    Shape:
        spec: ``(B, n_mels, frames)``; returns the same shape.
    """

    def __init__(self, freq_mask: int = 8, time_mask: int = 20, n_masks: int = 2) -> None:
        super().__init__()
        import torchaudio

        if freq_mask < 0 or time_mask < 0 or n_masks < 0:
            raise ValueError("freq_mask, time_mask and n_masks must be >= 0")
        self.n_masks = n_masks
        self.freq = torchaudio.transforms.FrequencyMasking(freq_mask, iid_masks=True)
        self.time = torchaudio.transforms.TimeMasking(time_mask, iid_masks=True)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        if not self.training or self.n_masks == 0:
            return spec
        x = spec.unsqueeze(1)  # iid masks need (B, C, F, T)
        fill = float(x.mean())
        for _ in range(self.n_masks):
            x = self.freq(x, mask_value=fill)
            x = self.time(x, mask_value=fill)
        return x.squeeze(1)


def repeat_pad(wave: np.ndarray, length: int) -> np.ndarray:
    """Tile a short clip until it has ``length`` samples (longer clips are truncated).

    Shape:
        wave: ``(T,)``; returns ``(length,)``.
    """
    if length <= 0:
        raise ValueError(f"length must be positive, got {length}")
    if wave.shape[-1] == 0:
        return np.zeros(length, dtype=np.float32)
    reps = -(-length // wave.shape[-1])
    return np.tile(wave, reps)[:length].astype(np.float32, copy=False)


def train_crop(wave: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Random ``length``-sample window (short clips are repeat-padded first).

    Shape:
        wave: ``(T,)``; returns ``(length,)``.
    """
    if wave.shape[-1] <= length:
        return repeat_pad(wave, length)
    start = int(rng.integers(0, wave.shape[-1] - length + 1))
    return wave[start : start + length].astype(np.float32, copy=False)


def eval_starts(total: int, length: int, n_crops: int = 1) -> list[int]:
    """Deterministic window starts: the centre for one crop, else evenly spaced incl. both ends."""
    if total <= length:
        return [0]
    if n_crops <= 1:
        return [(total - length) // 2]
    return [int(round(s)) for s in np.linspace(0, total - length, n_crops)]


def eval_crops(wave: np.ndarray, length: int, n_crops: int = 1) -> np.ndarray:
    """Deterministic evaluation windows (same input → same windows, always).

    Shape:
        wave: ``(T,)``; returns ``(n, length)`` with ``n = 1`` for clips not longer than
        ``length`` (repeat-padded) else ``n_crops``.
    """
    if wave.shape[-1] <= length:
        return repeat_pad(wave, length)[None]
    starts = eval_starts(wave.shape[-1], length, n_crops)
    return np.stack([wave[s : s + length] for s in starts]).astype(np.float32, copy=False)
