"""A physiological multi-patient ECG simulator (patients → trials → windows), deterministic by seed.

Each beat is a sum of Gaussian waves (P, Q, R, S, T) around the R peak, the wave model of
McSharry et al., "A dynamical model for generating synthetic electrocardiogram signals", IEEE
TBME 2003 (their angular Gaussian kernels, here placed in time directly). Every *patient* has
their own heart rate, wave amplitudes/widths/timings, electrical axis (projection onto two leads)
and noise level; every *trial* (recording) has one rhythm class; recordings are cut into windows
(the samples). Classes:

0. ``normal``: sinus rhythm, small heart-rate variability.
1. ``af_like``: irregular RR (atrial-fibrillation-like), no P waves, 4–8 Hz fibrillatory baseline.
2. ``ectopic_like``: bigeminy — every second beat premature, wide QRS, no P wave, inverted T.
3. ``st_like``: sinus rhythm with ST-segment elevation/depression and flattened or inverted T.

This is *simulated* data for testing the hierarchy-aware objectives; it is not clinical data
(see data_cards/ecg_simulator.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from polyclr.modalities.timeseries.data import TimeSeriesData, build_dataset

CLASSES = ("normal", "af_like", "ectopic_like", "st_like")
# wave: (offset from R in s at 60 bpm, amplitude mV, width s) for a textbook lead-II beat
_WAVES = np.array([
    [-0.20, 0.15, 0.025],  # P
    [-0.03, -0.12, 0.010],  # Q
    [0.00, 1.10, 0.012],  # R
    [0.03, -0.25, 0.010],  # S
    [0.28, 0.30, 0.045],  # T
])


def _beat_times(rng: np.random.Generator, cls: int, hr: float, duration: float) -> tuple[np.ndarray, np.ndarray]:
    """R-peak times and an 'ectopic' flag per beat."""
    n = int(duration * hr / 60.0 * 1.6) + 4
    rr0 = 60.0 / hr
    if cls == 1:
        rr = rr0 * rng.uniform(0.6, 1.4, size=n) * rng.lognormal(0, 0.08, size=n)
    else:
        rr = rr0 * (1 + 0.03 * np.sin(np.arange(n) * 2 * np.pi / rng.uniform(4, 8)) + rng.normal(0, 0.02, n))
    ectopic = np.zeros(n, dtype=bool)
    if cls == 2:
        ectopic[1::2] = True
        rr = np.where(ectopic, rr * rng.uniform(0.55, 0.7), rr * rng.uniform(1.25, 1.4))
    t = np.cumsum(rr) - rng.uniform(0, rr0)
    keep = t < duration + 1.0
    return t[keep], ectopic[keep]


def _patient_params(rng: np.random.Generator) -> dict[str, np.ndarray | float]:
    return {
        "hr": rng.uniform(52, 100),
        "amp": _WAVES[:, 1] * rng.uniform(0.7, 1.3, size=5),
        "width": _WAVES[:, 2] * rng.uniform(0.8, 1.25, size=5),
        "offset": _WAVES[:, 0] * rng.uniform(0.9, 1.1, size=5),
        "axis": rng.uniform(np.deg2rad(-10), np.deg2rad(80)),
        "noise": rng.uniform(0.02, 0.08),
        "wander": rng.uniform(0.05, 0.25),
    }


def simulate_recording(
    rng: np.random.Generator, params: dict, cls: int, duration: float, fs: float
) -> np.ndarray:
    """One two-lead recording of class ``cls`` for a patient.

    Shape:
        returns ``(2, round(duration * fs))`` float32 (mV).
    """
    t = np.arange(int(round(duration * fs))) / fs
    hr = float(params["hr"]) * (1.25 if cls == 1 else 1.0)
    beats, ectopic = _beat_times(rng, cls, hr, duration)
    amp = np.broadcast_to(params["amp"], (len(beats), 5)).copy()
    width = np.broadcast_to(params["width"], (len(beats), 5)).copy()
    rr_scale = np.sqrt(60.0 / hr)
    offset = np.broadcast_to(params["offset"] * np.array([rr_scale, 1, 1, 1, rr_scale]), (len(beats), 5)).copy()
    amp *= rng.normal(1.0, 0.05, size=amp.shape)  # beat-to-beat variation
    if cls == 1:
        amp[:, 0] = 0.0  # no P waves
    if cls == 2:
        amp[ectopic, 0] = 0.0
        width[ectopic, 1:4] *= 2.6  # wide QRS
        amp[ectopic, 2] *= 1.4
        amp[ectopic, 4] *= -1.3  # discordant T
    if cls == 3:
        st = rng.choice([-1.0, 1.0]) * rng.uniform(0.15, 0.3)
        amp = np.concatenate([amp, np.full((len(beats), 1), st)], axis=1)
        width = np.concatenate([width, np.full((len(beats), 1), 0.06)], axis=1)
        offset = np.concatenate([offset, np.full((len(beats), 1), 0.13)], axis=1)
        amp[:, 4] *= rng.uniform(-0.8, 0.2)
    centers = beats[:, None] + offset  # (beats, waves)
    # sum of Gaussian waves, vectorised over (time, beat, wave)
    d = (t[:, None, None] - centers[None]) / width[None]
    lead2 = (amp[None] * np.exp(-0.5 * d**2)).sum(axis=(1, 2))
    # a second lead from the patient's electrical axis (lead I ~ cos, lead II ~ cos(axis - 60))
    axis = float(params["axis"])
    leads = np.stack([lead2 * np.cos(axis) / np.cos(axis - np.deg2rad(60)).clip(0.3), lead2])
    if cls == 1:  # fibrillatory waves
        f = rng.uniform(4, 8)
        leads += rng.uniform(0.03, 0.08) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3))[None]
    wander = float(params["wander"]) * np.sin(2 * np.pi * rng.uniform(0.1, 0.35) * t + rng.uniform(0, 6.3))
    leads += wander[None] + rng.normal(0, float(params["noise"]), size=leads.shape)
    return leads.astype(np.float32)


def make_ecg_dataset(
    n_patients: int = 40,
    trials_per_patient: int = 3,
    windows_per_trial: int = 8,
    window_seconds: float = 2.56,
    fs: float = 100.0,
    seed: int = 0,
    path: str = "ecg_simulator",
) -> TimeSeriesData:
    """Simulate a multi-patient ECG dataset (deterministic for a given seed).

    Returns:
        :class:`TimeSeriesData` with X ``(n_patients * trials * windows, 2, window)``, labels from
        :data:`CLASSES`, patient and trial ids; split unassigned (patient-independent splits are
        made by the pipeline).
    """
    for name, v in (("n_patients", n_patients), ("trials_per_patient", trials_per_patient),
                    ("windows_per_trial", windows_per_trial)):
        if v < 1:
            raise ValueError(f"{name} must be >= 1, got {v}")
    if window_seconds <= 0 or fs <= 0:
        raise ValueError("window_seconds and fs must be positive")
    rng = np.random.default_rng(seed)
    win = int(round(window_seconds * fs))
    xs, ys, pids, tids = [], [], [], []
    for p in range(n_patients):
        params = _patient_params(rng)
        classes = rng.permutation(len(CLASSES))[:trials_per_patient] if trials_per_patient <= len(CLASSES) \
            else rng.integers(0, len(CLASSES), trials_per_patient)
        for k, cls in enumerate(classes):
            rec = simulate_recording(rng, params, int(cls), windows_per_trial * window_seconds + 0.5, fs)
            starts = np.arange(windows_per_trial) * win + int(rng.integers(0, int(0.5 * fs)))
            xs.append(np.stack([rec[:, s : s + win] for s in starts]))
            ys += [CLASSES[int(cls)]] * windows_per_trial
            pids += [p] * windows_per_trial
            tids += [p * trials_per_patient + k] * windows_per_trial
    return build_dataset(
        np.concatenate(xs), np.array(ys), path, patient_id=np.array(pids),
        trial_id=np.array(tids), sampling_rate=fs, channel_names=["lead_I", "lead_II"],
    )


def write_ecg_npz(path: str | Path, **kwargs) -> Path:
    """Simulate (see :func:`make_ecg_dataset`) and save as ``.npz`` readable by ``load_dataset``."""
    d = make_ecg_dataset(**kwargs)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        p, X=d.X, y=np.array(d.classes)[d.y], patient_id=d.patient_id, trial_id=d.trial_id,
        sampling_rate=np.float64(d.sampling_rate),
    )
    return p
