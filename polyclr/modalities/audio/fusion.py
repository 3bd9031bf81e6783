"""Long-form audio: split into clips and fuse clip embeddings with text-conditioned attention.

Reference: Wu et al., "CoLLAP: Contrastive Long-form Language-Audio Pretraining with Musical
Temporal Structure Augmentation", 2024 — a long recording is embedded clip by clip and the text
query attends over the clips. Here the attention is computed in the joint space (query = text
embedding, keys = values = normalised clip embeddings) with a temperature, so it needs no
training beyond the clip-level model; mean pooling is the query-independent baseline.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from polyclr.modalities.audio.io import audio_info, load_mono


def iter_clips(
    path: str | Path, sample_rate: int, clip_seconds: float, max_clips: int | None = None
) -> Iterator[np.ndarray]:
    """Stream a recording as consecutive ``clip_seconds`` windows (only one window in memory).

    The last partial window is kept if it is at least half a clip long (it is repeat-padded
    later by the caller's crop). Windows are read with libsndfile seeks.

    Shape:
        yields ``(T,)`` float32 mono windows at ``sample_rate``.
    """
    info = audio_info(path)
    n = 0
    start = 0.0
    while start < info.seconds:
        length = min(clip_seconds, info.seconds - start)
        if n > 0 and length < clip_seconds / 2:
            break
        yield load_mono(path, sample_rate, start_s=start, max_seconds=length)
        n += 1
        if max_clips is not None and n >= max_clips:
            break
        start += clip_seconds


class TextConditionedFusion(nn.Module):
    """Fuse clip embeddings of long recordings with attention conditioned on each text query.

    Args:
        temperature: softmax temperature of the attention over clips (small → pick the best
            matching clip, large → mean pooling).

    Shape:
        text: ``(M, D)``; clips: ``(R, K, D)`` padded clip embeddings of R recordings;
        mask: ``(R, K)`` bool (True = real clip). Returns the ``(M, R)`` cosine similarity of each
        text with its text-conditioned fusion of each recording.
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def forward(self, text: torch.Tensor, clips: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        t = F.normalize(text, dim=-1)
        c = F.normalize(clips, dim=-1)
        att = torch.einsum("md,rkd->mrk", t, c) / self.temperature
        att = att.masked_fill(~mask.unsqueeze(0), float("-inf")).softmax(dim=-1)
        fused = torch.einsum("mrk,rkd->mrd", att, c)
        return torch.einsum("md,mrd->mr", t, F.normalize(fused, dim=-1))


def mean_pool_similarity(text: torch.Tensor, clips: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Query-independent baseline: cosine of each text with the mean clip embedding.

    Shape:
        text ``(M, D)``, clips ``(R, K, D)``, mask ``(R, K)``; returns ``(M, R)``.
    """
    c = F.normalize(clips, dim=-1) * mask.unsqueeze(-1)
    mean = c.sum(1) / mask.sum(1, keepdim=True).clamp_min(1)
    return F.normalize(text, dim=-1) @ F.normalize(mean, dim=-1).T
