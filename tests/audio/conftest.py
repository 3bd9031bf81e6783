"""Tiny numpy-generated audio fixtures (no system packages)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def write_set(root: Path, n_per_class: int = 4, sr: int = 8000, seconds: float = 0.5) -> Path:
    """A tiny captioned set: tones and noise, plus ordered tone→noise clips."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    t = np.arange(int(sr * seconds)) / sr
    for i in range(n_per_class):
        tone = (0.5 * np.sin(2 * np.pi * (300 + 50 * i) * t)).astype(np.float32)
        noise = (0.3 * rng.standard_normal(len(t))).astype(np.float32)
        for kind, x in (("tone", tone), ("noise", noise)):
            name = f"{kind}_{i}.wav"
            sf.write(root / name, x, sr)
            rows.append([name, f"a {kind}", kind, name, ""])
            rows.append([name, f"the sound of a {kind}", kind, name, ""])
        name = f"order_{i}.wav"
        sf.write(root / name, np.concatenate([tone, noise]), sr)
        rows.append([name, "a tone followed by a noise", "", name, f"{seconds}"])
    with open(root / "captions.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file_name", "caption", "label", "patient_id", "boundary_s"])
        w.writerows(rows)
    return root


@pytest.fixture
def tiny_set(tmp_path: Path) -> Path:
    return write_set(tmp_path / "set")
