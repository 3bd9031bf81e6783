"""Dataset preparation for the audio–text pipeline: validation, group split, crops, embedding."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from polyclr.errors import DataError
from polyclr.modalities.audio.features import eval_starts, repeat_pad
from polyclr.modalities.audio.io import audio_info, load_mono, read_captions
from polyclr.modalities.audio.order import swap_audio, swap_caption
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


@dataclass
class Prepared:
    """Validated items and their split (indices into ``items``)."""

    root: Path
    items: list[AudioItem]
    split: dict[str, np.ndarray]
    split_source: str

    def subset(self, name: str) -> list[AudioItem]:
        return [self.items[i] for i in self.split.get(name, np.zeros(0, int))]


def prepare(data: str | Path, test_size: float = 0.25, val_size: float = 0.0, seed: int = 0) -> Prepared:
    """Read ``captions.csv``, validate every audio header, and split by group.

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
    return Prepared(table.root, items, split, source)


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
