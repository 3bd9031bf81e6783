"""Turn a dataset on disk into selectable items with groups and PHYSICAL positions.

* volume: a NIfTI file, a folder of NIfTI files (searched recursively), an MSD task folder
  (``imagesTr``/``imagesTs``; labels ignored) or a DICOM series folder. Each 3D volume is a
  group; its items are the axial slices (RAS axis 2) and a slice's position is the world
  S coordinate (mm) of its centre from the affine. Folders of single-slice files are one
  group per folder, ordered by each file's affine position, not by its name.
* timeseries: ``.ts`` / ``.npz`` / CSV / Parquet (modality reader); each series or window is
  an item, grouped by ``patient_id`` (one group if every id is distinct), position = index in
  the file (time order of windows within a recording).
* audio: a folder with audio files (and optional ``captions.csv``). Recordings longer than
  ``window_s`` are cut into fixed windows (item = log-mel spectrogram of a window, group = the
  recording, position = start in seconds; the spectrogram is stored (frames, mels) so dHash
  compares neighbouring mel bands); shorter recordings are one item each, grouped by
  ``patient_id`` from ``captions.csv`` when present.

Modality readers are imported lazily, so each modality needs only its own extra.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from polyclr.errors import DataError
from polyclr.selection.core import natural_key

NIFTI = (".nii", ".nii.gz")
TIMESERIES = (".ts", ".npz", ".csv", ".parquet")
AUDIO = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif")


@dataclass
class ItemSet:
    """Items ready for :func:`select_items`.

    Attributes:
        items: list of 2D arrays (slices, (C, T) series, log-mel spectrograms).
        groups, positions, names: per item.
        modality: volume, timeseries or audio.
        position_unit: "mm", "s" or "index".
        volumes: volume modality only: group -> (X, Y, Z) array, for strip plots.
    """

    items: list[np.ndarray]
    groups: list[str]
    positions: np.ndarray
    names: list[str]
    modality: str
    position_unit: str
    volumes: dict[str, np.ndarray] = field(default_factory=dict)


def _is_nifti(p: Path) -> bool:
    return p.name.lower().endswith(NIFTI) and not p.name.startswith("._")


def guess_modality(path: Path) -> str:
    """volume, timeseries or audio from file suffixes (DataError if undecidable)."""
    if path.is_file():
        name = path.name.lower()
        if name.endswith(NIFTI) or name.endswith((".dcm", ".dicom", ".ima")):
            return "volume"
        if name.endswith(TIMESERIES):
            return "timeseries"
        if name.endswith(AUDIO):
            return "audio"
        raise DataError(path, "cannot tell the modality from the file type; pass --modality")
    files = [p for p in path.rglob("*") if p.is_file()]
    if not files:
        raise DataError(path, "empty directory: no items to select from")
    if (path / "captions.csv").exists() or any(p.name.lower().endswith(AUDIO) for p in files):
        return "audio"
    if any(_is_nifti(p) for p in files) or any(p.suffix.lower() in (".dcm", ".ima") for p in files):
        return "volume"
    if any(p.name.lower().endswith(TIMESERIES) for p in files):
        return "timeseries"
    raise DataError(path, "no NIfTI/DICOM, time-series or audio files found; pass --modality")


def load_items(path: str | Path, modality: str | None = None, **kwargs: Any) -> ItemSet:
    """Load ``path`` as selectable items (see module doc)."""
    p = Path(path)
    if not p.exists():
        raise DataError(p, "no such file or directory")
    mod = modality or guess_modality(p)
    if mod == "volume":
        return volume_items(p, **kwargs)
    if mod == "timeseries":
        return timeseries_items(p)
    if mod == "audio":
        return audio_items(p, **kwargs)
    raise DataError(p, f"unknown modality {mod!r}; use volume, timeseries or audio")


def _volume_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    msd = [path / "imagesTr", path / "imagesTs"]
    if any(d.is_dir() for d in msd):
        files = [f for d in msd if d.is_dir() for f in d.iterdir() if _is_nifti(f)]
    else:
        files = [f for f in path.rglob("*") if f.is_file() and _is_nifti(f)]
    if not files:
        dicom_dirs = sorted({f.parent for f in path.rglob("*") if f.is_file()
                             and f.suffix.lower() in (".dcm", ".ima", ".dicom")})
        return dicom_dirs
    return sorted(files, key=lambda f: natural_key(str(f)))


def slice_positions(affine: np.ndarray, shape: tuple[int, ...], axis: int = 2) -> np.ndarray:
    """World coordinate (mm) of each slice centre along RAS axis ``axis``.

    Shape:
        returns (shape[axis],).
    """
    centre = (np.asarray(shape[:3], dtype=np.float64) - 1) / 2
    idx = np.tile(np.append(centre, 1.0), (shape[axis], 1))
    idx[:, axis] = np.arange(shape[axis])
    return (np.asarray(affine) @ idx.T)[axis]


def volume_items(path: Path, axis: int = 2, **_: Any) -> ItemSet:
    """Slices of every volume under ``path`` (see module doc)."""
    from polyclr.modalities.volume.io import load_volume

    files = _volume_files(path)
    if not files:
        raise DataError(path, "no NIfTI or DICOM volumes found")
    root = path if path.is_dir() else path.parent
    items, groups, positions, names = [], [], [], []
    volumes: dict[str, np.ndarray] = {}
    for f in files:
        vol = load_volume(f)
        arr = vol.array
        rel = str(f.relative_to(root)) if f != root else f.name
        pos = slice_positions(vol.affine, arr.shape, axis)
        if arr.shape[axis] == 1:  # single-slice file: its folder is the group
            group = str(f.parent.relative_to(root)) if f.parent != root else root.name
            items.append(np.take(arr, 0, axis=axis))
            groups.append(group)
            positions.append(float(pos[0]))
            names.append(rel)
            continue
        volumes[rel] = arr
        for k in range(arr.shape[axis]):
            items.append(np.take(arr, k, axis=axis))
            groups.append(rel)
            positions.append(float(pos[k]))
            names.append(f"{rel}:{k}")
    return ItemSet(items, groups, np.asarray(positions), names, "volume", "mm", volumes)


def timeseries_items(path: Path) -> ItemSet:
    """Each series (or window) of a time-series dataset is an item (see module doc)."""
    from polyclr.modalities.timeseries.io import load_dataset

    data = load_dataset(path)
    n = len(data.X)
    if n == 0:
        raise DataError(path, "no series in the dataset")
    lengths = np.asarray(data.lengths, dtype=np.int64)
    items = [np.asarray(data.X[i][:, : int(lengths[i])], dtype=np.float32) for i in range(n)]
    pid = np.asarray(data.patient_id)
    if len(np.unique(pid)) == n:
        groups = ["all"] * n
    else:
        groups = [f"patient_{p}" for p in pid]
    name = Path(getattr(data, "path", path)).name
    names = [f"{name}:{i}" for i in range(n)]
    return ItemSet(items, groups, np.arange(n, dtype=np.float64), names, "timeseries", "index")


def _log_mel(wave: np.ndarray, sample_rate: int, n_mels: int) -> np.ndarray:
    import torch
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(sample_rate=sample_rate, n_fft=512,
                                               hop_length=160, n_mels=n_mels)
    spec = mel(torch.from_numpy(wave.astype(np.float32)))
    return torchaudio.transforms.AmplitudeToDB(top_db=80.0)(spec).numpy()


def audio_items(path: Path, window_s: float = 2.0, sample_rate: int = 16000,
                n_mels: int = 64, **_: Any) -> ItemSet:
    """Fixed windows of each recording, or whole short clips (see module doc)."""
    from polyclr.modalities.audio import io as aio

    root = path if path.is_dir() else path.parent
    patient: dict[str, str] = {}
    if path.is_dir() and (path / aio.CAPTIONS_FILE).exists():
        table = aio.read_captions(path)
        files = [path / f for f in table.files]
        first = table.first_row_of()
        patient = {f: table.patient_ids[i] for f, i in first.items() if table.patient_ids[i]}
    elif path.is_dir():
        files = sorted((f for f in path.rglob("*") if f.suffix.lower() in AUDIO),
                       key=lambda f: natural_key(str(f)))
    else:
        files = [path]
    if not files:
        raise DataError(path, "no audio files found")
    items, groups, positions, names = [], [], [], []
    win = int(round(window_s * sample_rate))
    for f in files:
        wave = aio.load_mono(f, sample_rate)
        rel = str(f.relative_to(root))
        if len(wave) < 2 * win:  # a clip: one item
            items.append(_log_mel(wave, sample_rate, n_mels).T)
            groups.append(patient.get(rel, "all"))
            positions.append(float(len(positions)))
            names.append(rel)
            continue
        for k, start in enumerate(range(0, len(wave) - win + 1, win)):
            items.append(_log_mel(wave[start : start + win], sample_rate, n_mels).T)
            groups.append(rel)
            positions.append(start / sample_rate)
            names.append(f"{rel}@{start / sample_rate:.2f}s")
            del k
    unit = "s" if any(g != "all" and "@" in n for g, n in zip(groups, names, strict=True)) else "index"
    return ItemSet(items, groups, np.asarray(positions), names, "audio", unit)
