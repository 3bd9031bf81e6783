"""Pure-numpy generator of a small captioned sound-event set (no system packages needed).

Used by ``polyclr demo``, the notebook and tests when the espeak-ng/sox reference set
(``scripts/make_audio_reference.py``) is not available. Events: beeps (pure tones), chirps
(sweeps), noise bursts (white/brown), plucks (Karplus-Strong strings), click trains; plus
ordered concatenations of two events ("a beep followed by noise") with the boundary recorded.
Captions vary pitch, direction, length and loudness words, two captions per file.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

EVENTS = ("beep", "chirp", "noise", "pluck", "clicks")
_NOUN = {"beep": "a beep", "chirp": "a chirp", "noise": "noise", "pluck": "a plucked string",
         "clicks": "clicking"}
_CONNECTIVES = ("{a} followed by {b}", "{a} then {b}", "first {a}, then {b}", "{a} before {b}")


def cache_dir() -> Path:
    """Where generated audio sets live: ``$POLYCLR_CACHE`` or ``~/.cache/polyclr``."""
    return Path(os.environ.get("POLYCLR_CACHE", Path.home() / ".cache" / "polyclr"))


def _envelope(n: int, sr: int, attack: float = 0.01) -> np.ndarray:
    a = max(1, int(attack * sr))
    env = np.ones(n, dtype=np.float32)
    env[:a] = np.linspace(0, 1, a)
    env[-a:] = np.minimum(env[-a:], np.linspace(1, 0, a))
    return env


def make_event(kind: str, seconds: float, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """One event and its describing words (e.g. ``["high", "beep"]``).

    Shape:
        returns ``(round(seconds * sr),)`` float32.
    """
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    words: list[str] = []
    if kind == "beep":
        high = rng.random() < 0.5
        f = rng.uniform(900, 1600) if high else rng.uniform(200, 450)
        x = np.sin(2 * np.pi * f * t)
        words = ["high" if high else "low"]
    elif kind == "chirp":
        rising = rng.random() < 0.5
        f0, f1 = (300.0, rng.uniform(2500, 4000)) if rising else (rng.uniform(2500, 4000), 300.0)
        phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
        x = np.sin(phase)
        words = ["rising" if rising else "falling"]
    elif kind == "noise":
        white = rng.random() < 0.5
        x = rng.standard_normal(n)
        if not white:
            x = np.cumsum(x)
            x -= np.convolve(x, np.ones(200) / 200, mode="same")
        x /= np.abs(x).max() + 1e-9
        words = ["hissing" if white else "rumbling"]
    elif kind == "pluck":
        f = rng.uniform(110, 440)
        period = max(2, int(sr / f))
        buf = rng.uniform(-1, 1, period)
        x = np.empty(n)
        for i in range(n):  # Karplus-Strong: averaging delay line (no library provides it)
            x[i] = buf[i % period]
            buf[i % period] = 0.996 * 0.5 * (buf[i % period] + buf[(i + 1) % period])
        words = ["low" if f < 220 else "high"]
    elif kind == "clicks":
        rate = rng.uniform(4, 20)
        x = np.zeros(n)
        x[(np.arange(0, seconds, 1 / rate) * sr).astype(int)] = 1.0
        x = np.convolve(x, np.hanning(40), mode="same")
        words = ["fast" if rate > 12 else "slow"]
    else:
        raise ValueError(f"unknown event kind {kind!r}")
    loud = rng.random() < 0.5
    x = (0.8 if loud else 0.25) * x / (np.abs(x).max() + 1e-9) * _envelope(n, sr)
    return x.astype(np.float32), [*words, "loud" if loud else "quiet"]


def _captions(kind: str, words: list[str], rng: np.random.Generator) -> list[str]:
    quality, loud = words
    noun = {"beep": "beep", "chirp": "chirp", "noise": "noise", "pluck": "plucked string",
            "clicks": "clicking"}[kind]
    art = "" if kind in ("noise", "clicks") else "a "
    return [f"{art}{quality} {noun}".strip(), f"{art}{loud} {quality} {noun} sound".strip()]


def generate(
    out: str | Path,
    n_per_event: int = 30,
    n_ordered: int = 100,
    sample_rate: int = 16000,
    seed: int = 0,
) -> Path:
    """Write ``out/*.wav`` and ``out/captions.csv`` (file_name, caption, label, patient_id,
    boundary_s). Single events carry a label (zero-shot / probe); ordered pairs carry the
    boundary between their events (order negatives / order test).

    Returns:
        ``out``.
    """
    import soundfile as sf

    rng = np.random.default_rng(seed)
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, str]] = []
    for kind in EVENTS:
        for i in range(n_per_event):
            x, words = make_event(kind, float(rng.uniform(1.0, 2.0)), sample_rate, rng)
            name = f"{kind}_{i:03d}.wav"
            sf.write(root / name, x, sample_rate, subtype="PCM_16")
            for cap in _captions(kind, words, rng):
                rows.append({"file_name": name, "caption": cap, "label": _NOUN[kind], "patient_id": name,
                             "boundary_s": ""})
    for i in range(n_ordered):
        ka, kb = rng.choice(len(EVENTS), size=2, replace=False)
        a, _ = make_event(EVENTS[ka], float(rng.uniform(0.7, 1.2)), sample_rate, rng)
        b, _ = make_event(EVENTS[kb], float(rng.uniform(0.7, 1.2)), sample_rate, rng)
        name = f"order_{i:03d}.wav"
        sf.write(root / name, np.concatenate([a, b]), sample_rate, subtype="PCM_16")
        for template in rng.choice(_CONNECTIVES, size=2, replace=False):
            cap = str(template).format(a=_NOUN[EVENTS[ka]], b=_NOUN[EVENTS[kb]])
            rows.append({"file_name": name, "caption": cap, "label": "", "patient_id": name,
                         "boundary_s": f"{len(a) / sample_rate:.4f}"})
    with open(root / "captions.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root
