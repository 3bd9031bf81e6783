"""The audio–text pipeline's data: open (read + validate once), group split, training crops,
selection of training files and the items ``polyclr select`` sees, embedding of held-out items."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from polyclr.errors import DataError
from polyclr.modalities.audio.features import eval_starts, repeat_pad
from polyclr.modalities.audio.io import (
    AUDIO_EXTENSIONS,
    CAPTIONS_FILE,
    audio_info,
    check_finite,
    load_mono,
    read_captions,
)
from polyclr.modalities.audio.order import swap_audio, swap_caption
from polyclr.pipelines import base
from polyclr.rundir import is_rank_zero
from polyclr.selection.core import natural_key
from polyclr.selection.sources import ItemSet
from polyclr.splits import assert_group_disjoint, group_split


@dataclass
class AudioItem:
    """One audio file with its captions and metadata."""

    path: Path
    name: str
    captions: list[str]
    label: str
    group: str
    boundary_s: float | None
    seconds: float
    sample_rate: int
    channels: int


@dataclass(kw_only=True)
class Prepared(base.Prepared):
    """An audio dataset read and validated once (:func:`open_dataset`).

    Attributes:
        root: the folder holding ``captions.csv``.
        items: validated files with their captions (empty for a folder without captions).
        split: indices into ``items`` per split.
        split_source: where the split came from (the ``split`` column or the group split).
        files: every audio file under the path (what ``embed`` reads).
    """

    root: Path
    items: list[AudioItem] = field(default_factory=list)
    split: dict[str, np.ndarray] = field(default_factory=dict)
    split_source: str = ""
    files: list[Path] = field(default_factory=list)

    def subset(self, name: str) -> list[AudioItem]:
        return [self.items[i] for i in self.split.get(name, np.zeros(0, int))]


def prepare(data: str | Path, test_size: float = 0.25, val_size: float = 0.0, seed: int = 0) -> Prepared:
    """Read ``captions.csv``, validate every audio header (and float files' samples), and split
    by group.

    A ``split`` column (train/val/test) is used as given (checked group-disjoint); otherwise a
    stratified group split (``polyclr.splits.group_split``) by ``patient_id`` is drawn.

    Raises:
        DataError: any unreadable file, bad table, or a group in two splits.
    """
    table = read_captions(data)
    first = table.first_row_of()
    caps = table.captions_of()
    items = []
    for name in table.files:
        info = audio_info(table.path(name))
        check_finite(info)
        r = first[name]
        items.append(AudioItem(table.path(name), name, caps[name], table.labels[r], table.patient_ids[r],
                               table.boundaries[r], info.seconds, info.sample_rate, info.channels))
    given = [table.splits[first[it.name]] for it in items]
    groups = [it.group for it in items]
    if all(s in ("train", "val", "test") for s in given):
        split = {s: np.array([i for i, g in enumerate(given) if g == s], dtype=int) for s in ("train", "val", "test")}
        assert_group_disjoint({s: [groups[i] for i in idx] for s, idx in split.items()}, str(table.root))
        source = "captions.csv split column"
    else:
        labels = [it.label or "_" for it in items]
        split = group_split(groups, labels, test_size=test_size, val_size=val_size, seed=seed,
                            source=str(table.root))
        source = f"group_split(test_size={test_size}, val_size={val_size}, seed={seed})"
    if len(split["train"]) < 2 or len(split.get("test", [])) < 1:
        raise DataError(table.root, f"need >= 2 training and >= 1 test files, got "
                        f"{len(split['train'])} and {len(split.get('test', []))}")
    return Prepared(path=Path(data), root=table.root, items=items, split=split, split_source=source)


def audio_files(data: Path) -> list[Path]:
    """Audio files at ``data`` (the file itself, or every one under the folder, sorted)."""
    if data.is_file():
        return [data]
    return sorted(p for p in data.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)


def open_dataset(cfg: Any, data: Path) -> Prepared:
    """Validate ``data`` once: with ``captions.csv``, every file's header, the captions and the
    group split; without it, the audio files only (enough for ``embed``)."""
    data = Path(data)
    if data.is_dir() and (data / CAPTIONS_FILE).is_file():
        prep = prepare(data, cfg.data.test_size, cfg.data.val_size, cfg.data.split_seed)
        secs = [it.seconds for it in prep.items]
        long = [it.name for it in prep.items if it.seconds > cfg.data.cache_max_seconds]
        if long:
            prep.warnings.append(f"{len(long)} file(s) longer than {cfg.data.cache_max_seconds:.0f} s "
                                 "are read window by window")
        labels = sorted({it.label for it in prep.items if it.label})
        if len(labels) < 2:
            prep.warnings.append("fewer than 2 labels: zero-shot and linear probe are skipped")
        prep.summary = {
            "files": len(prep.items), "captions": sum(len(it.captions) for it in prep.items),
            "hours": round(sum(secs) / 3600, 4), "labels": len(labels),
            "train": len(prep.split["train"]), "test": len(prep.split["test"]), "split": prep.split_source,
        }
        prep.files = audio_files(data)
        return prep
    files = audio_files(data)
    if not files:
        raise DataError(data, f"no {CAPTIONS_FILE} and no audio files ({', '.join(AUDIO_EXTENSIONS)})")
    infos = [audio_info(f) for f in files]
    for info in infos:
        check_finite(info)
    return Prepared(path=data, root=data if data.is_dir() else data.parent, files=files,
                    summary={"files": len(files), "hours": round(sum(i.seconds for i in infos) / 3600, 4)},
                    warnings=[f"no {CAPTIONS_FILE}: only 'embed' can use this folder"])


def training_split(cfg: Any, prep: Prepared, out: Path | None) -> Prepared:
    """The opened dataset for training: refuses a folder without captions, records
    ``out/splits.json`` and applies ``cfg.selection`` to the training files."""
    from polyclr.splits import write_split_record

    if not prep.items:
        raise DataError(prep.path, f"no {CAPTIONS_FILE}: training and evaluation need captions "
                                   "(only 'embed' works on bare audio files)")
    if out is not None:
        groups = {s: [prep.items[i].group for i in idx] for s, idx in prep.split.items()}
        write_split_record(out, groups, cfg.data.deidentify_salt or None)
    if cfg.selection.method != "none":
        prep = select_training(cfg, prep, out)
    return prep


def select_training(cfg: Any, prep: Prepared, out: Path | None) -> Prepared:
    """Redundancy-reducing selection of the training files (log-mel of the centre crop)."""
    from polyclr.modalities.audio.features import LogMel
    from polyclr.selection import apply_selection_config

    train = prep.split["train"]
    mel = LogMel(cfg.features)
    with torch.no_grad():
        specs = np.stack([mel(torch.from_numpy(eval_windows(prep.items[i], cfg.features.sample_rate,
                                                               cfg.data.clip_seconds, 1)))[0].numpy()
                          for i in train])
    res = apply_selection_config(cfg.selection, specs, [prep.items[i].group for i in train],
                                 None, [prep.items[i].name for i in train])
    if out is not None and is_rank_zero():  # one writer under DDP
        res.table.to_csv(Path(out) / "selection.csv", index=False)
    kept = np.asarray(res.table["kept"], dtype=bool)
    return dataclasses.replace(prep, split={**prep.split, "train": train[kept]})


class ClipTrainDataset(Dataset):
    """Random crops of training files with a random caption each (+ order-swapped versions).

    Files up to ``cache_max_seconds`` are decoded once and kept in memory; longer files are
    read window by window (libsndfile seek), so memory stays bounded for long recordings.

    Each item is a dict: ``wave (T,)``, ``text`` (index of the caption in ``text_index``),
    ``swap_text`` (index of the order-swapped caption, -1 if none), ``swap_wave (T,)`` and
    ``has_swap``.
    """

    def __init__(
        self,
        items: list[AudioItem],
        sample_rate: int,
        clip_seconds: float,
        text_index: dict[str, int],
        cache_max_seconds: float = 30.0,
        seed: int = 0,
    ) -> None:
        self.items = items
        self.sr = sample_rate
        self.n = int(round(clip_seconds * sample_rate))
        self.text_index = text_index
        self.cache_max_seconds = cache_max_seconds
        self.seed = seed
        self._cache: dict[int, np.ndarray] = {}
        self._calls = 0

    def __len__(self) -> int:
        return len(self.items)

    def _wave(self, i: int, rng: np.random.Generator) -> tuple[np.ndarray, int | None]:
        it = self.items[i]
        if it.seconds <= self.cache_max_seconds:
            if i not in self._cache:
                self._cache[i] = load_mono(it.path, self.sr)
            w = self._cache[i]
            b = None if it.boundary_s is None else int(it.boundary_s * self.sr)
            return w, b
        start = float(rng.uniform(0, max(0.0, it.seconds - self.n / self.sr)))
        return load_mono(it.path, self.sr, start_s=start, max_seconds=self.n / self.sr), None

    def __getitem__(self, i: int) -> dict[str, Any]:
        # np.random is seeded by seed_everything and per worker, so crops are reproducible.
        rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        it = self.items[i]
        caption = it.captions[int(rng.integers(len(it.captions)))]
        wave, boundary = self._wave(i, rng)
        swapped_caption = swap_caption(caption)
        has_swap = swapped_caption is not None and wave.shape[-1] > 1 and (
            boundary is not None or it.seconds <= self.cache_max_seconds)
        if wave.shape[-1] <= self.n:
            crop = repeat_pad(wave, self.n)
            swap = repeat_pad(swap_audio(wave, boundary), self.n) if has_swap else np.zeros(self.n, np.float32)
        else:
            hi = wave.shape[-1] - self.n
            if boundary is not None:  # keep both events of an ordered clip inside the crop
                lo_b, hi_b = boundary - int(0.7 * self.n), boundary - int(0.3 * self.n)
                start = int(rng.integers(max(0, min(lo_b, hi)), max(0, min(hi_b, hi)) + 1))
            else:
                start = int(rng.integers(0, hi + 1))
            crop = wave[start : start + self.n]
            # the mirrored window straddles the swapped clip's boundary with the same proportions (B then A)
            mirror = wave.shape[-1] - start - self.n
            swap = (swap_audio(wave, boundary)[mirror : mirror + self.n] if has_swap
                    else np.zeros(self.n, np.float32))
        return {
            "wave": np.ascontiguousarray(crop, dtype=np.float32),
            "text": self.text_index[caption],
            "swap_text": self.text_index[swapped_caption] if has_swap else -1,
            "swap_wave": np.ascontiguousarray(swap, dtype=np.float32),
            "has_swap": bool(has_swap),
        }


def eval_windows(item: AudioItem, sample_rate: int, clip_seconds: float, n_crops: int) -> np.ndarray:
    """Deterministic evaluation windows of one file, read window by window (bounded memory).

    Shape:
        returns ``(n, clip_samples)`` float32 at ``sample_rate``.
    """
    n = int(round(clip_seconds * sample_rate))
    starts = eval_starts(int(round(item.seconds * sample_rate)), n, n_crops)
    out = [repeat_pad(load_mono(item.path, sample_rate, start_s=s / sample_rate,
                                max_seconds=clip_seconds), n) for s in starts]
    return np.stack(out)


@torch.no_grad()
def embed_waves(encoder: torch.nn.Module, waves: np.ndarray, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Joint-space embeddings and pre-projection features of fixed-length windows.

    Shape:
        waves: ``(N, T)``; returns ``((N, proj_dim), (N, embed_dim))`` on CPU.
    """
    encoder.eval()
    device = next(encoder.parameters()).device
    proj, feats = [], []
    for s in range(0, len(waves), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(waves[s : s + batch_size])).to(device)
        f = encoder.features(x)
        proj.append(encoder.head(f).cpu())
        feats.append(f.cpu())
    return torch.cat(proj), torch.cat(feats)


def embed_items(
    encoder: torch.nn.Module, items: list[AudioItem], sample_rate: int, clip_seconds: float, n_crops: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-file embeddings from deterministic windows (averaged over crops; normalised proj).

    Shape:
        returns ``((n_files, proj_dim), (n_files, embed_dim))``.
    """
    proj, feats = [], []
    for s in range(0, len(items), 32):  # 32 files at a time keeps memory bounded
        windows = [eval_windows(it, sample_rate, clip_seconds, n_crops) for it in items[s : s + 32]]
        p, f = embed_waves(encoder, np.concatenate(windows))
        p = torch.nn.functional.normalize(p, dim=-1)
        sizes = [len(w) for w in windows]
        proj += [c.mean(0) for c in p.split(sizes)]
        feats += [c.mean(0) for c in f.split(sizes)]
    return torch.nn.functional.normalize(torch.stack(proj), dim=-1), torch.stack(feats)


def _log_mel(wave: np.ndarray, sample_rate: int, n_mels: int) -> np.ndarray:
    """Log-mel spectrogram in dB (80 dB range), ``(n_mels, frames)``, for selection items."""
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(sample_rate=sample_rate, n_fft=512,
                                               hop_length=160, n_mels=n_mels)
    spec = mel(torch.from_numpy(wave.astype(np.float32)))
    return torchaudio.transforms.AmplitudeToDB(top_db=80.0)(spec).numpy()


def selection_items(path: Path, window_s: float = 2.0, sample_rate: int = 16000,
                    n_mels: int = 64) -> ItemSet:
    """What ``polyclr select audio`` sees: recordings longer than two windows are cut into
    ``window_s`` windows (item = log-mel spectrogram of a window stored (frames, mels) so dHash
    compares neighbouring mel bands, group = the recording, position = start in seconds);
    shorter recordings are one item each, grouped by ``patient_id`` from ``captions.csv``."""
    root = path if path.is_dir() else path.parent
    patient: dict[str, str] = {}
    if path.is_dir() and (path / CAPTIONS_FILE).exists():
        table = read_captions(path)
        files = [path / f for f in table.files]
        first = table.first_row_of()
        patient = {f: table.patient_ids[i] for f, i in first.items() if table.patient_ids[i]}
    elif path.is_dir():
        files = sorted((f for f in path.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS),
                       key=lambda f: natural_key(str(f)))
    else:
        files = [path]
    if not files:
        raise DataError(path, "no audio files found")
    items, groups, positions, names = [], [], [], []
    win = int(round(window_s * sample_rate))
    for f in files:
        wave = load_mono(f, sample_rate)
        rel = str(f.relative_to(root))
        if len(wave) < 2 * win:  # a clip: one item
            items.append(_log_mel(wave, sample_rate, n_mels).T)
            groups.append(patient.get(rel, "all"))
            positions.append(float(len(positions)))
            names.append(rel)
            continue
        for start in range(0, len(wave) - win + 1, win):
            items.append(_log_mel(wave[start : start + win], sample_rate, n_mels).T)
            groups.append(rel)
            positions.append(start / sample_rate)
            names.append(f"{rel}@{start / sample_rate:.2f}s")
    unit = "s" if any(g != "all" and "@" in n for g, n in zip(groups, names, strict=True)) else "index"
    return ItemSet(items, groups, np.asarray(positions), names, "audio", unit)
