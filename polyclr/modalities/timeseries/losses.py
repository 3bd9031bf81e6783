"""Time-series contrastive losses built on the one InfoNCE core (:mod:`polyclr.losses`).

- TS2Vec hierarchical loss (Yue et al., AAAI 2022, eqs. 1–3): at every max-pooled time scale,
  an *instance* loss (the same timestamp of the other view is the positive; the other samples'
  representations at that timestamp are negatives) and a *temporal* loss (the same timestamp
  of the other view is positive; other timestamps of the same sample are negatives); raw dot
  products, temperature 1. Each is a batch of per-group InfoNCE problems with one positive per
  anchor, solved in one batched call (see :func:`paired_view_rows`) — no Python loop over samples.
- COMET levels (Wang et al., "Contrast Everything", NeurIPS 2023): observation, sample, trial and
  patient positives from :func:`polyclr.losses.same_key_mask`.
- DBPM (Lai et al., "Towards Enhancing Time Series Contrastive Learning: A Dynamic Bad Pair
  Mining Approach", ICLR 2024): per-sample loss history, flag pairs whose mean historical loss is
  an outlier after a warm-up, and down-weight them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from polyclr.losses import masked_info_nce_rows, same_key_mask
from polyclr.modalities.timeseries.segconv import gram


def paired_view_rows(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Per-anchor InfoNCE for G independent groups of M items seen in two views.

    In each group the candidates are the ``2M`` items of both views; item ``m`` of one view is
    the positive of item ``m`` of the other; self-pairs are excluded. This is
    :func:`polyclr.losses.masked_info_nce_rows` with a one-hot positive mask and the diagonal
    excluded (``tests/timeseries`` checks the two agree); with exactly one positive per anchor it
    reduces to a cross-entropy whose target is the partner's index, computed here by
    ``F.cross_entropy`` on the (self-masked) logits: one fused pass instead of building dense
    ``(G·2M, 2M)`` weight and exclusion masks, which was a quarter of a TS2Vec iteration on CPU.

    Shape:
        z1, z2: ``(G, M, D)``; returns per-anchor losses ``(G, 2M)`` (view 1 first).
    """
    g, m, _ = z1.shape
    z = torch.cat([z1, z2], dim=1)
    logits = gram(z)  # (G, 2M, 2M) = z z^T, with a one-product backward
    if temperature != 1.0:
        logits = logits / temperature
    eye = torch.eye(2 * m, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    if logits.dtype not in (torch.float32, torch.float64):
        logits = logits.float()
    partner = (torch.arange(2 * m, device=z.device) + m) % (2 * m)
    loss = F.cross_entropy(logits.reshape(g * 2 * m, 2 * m), partner.repeat(g), reduction="none")
    return loss.view(g, 2 * m)


def instance_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """TS2Vec instance-wise loss per sample (mean over timestamps and both views).

    Shape:
        z1, z2: ``(B, T, D)``; returns ``(B,)``; its mean is the TS2Vec value (0 when B == 1).
    """
    b = z1.shape[0]
    rows = paired_view_rows(z1.transpose(0, 1), z2.transpose(0, 1))  # (T, 2B)
    return (rows[:, :b] + rows[:, b:]).mean(dim=0) / 2


def temporal_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """TS2Vec temporal loss per sample (mean over timestamps of both views).

    Shape:
        z1, z2: ``(B, T, D)``; returns ``(B,)`` (0 when T == 1).
    """
    return paired_view_rows(z1, z2).mean(dim=1)


def hierarchical_contrastive_loss(
    z1: torch.Tensor, z2: torch.Tensor, alpha: float = 0.5, temporal_unit: int = 0,
    reduction: str = "mean",
) -> torch.Tensor:
    """TS2Vec's hierarchical contrastive loss over max-pooled scales (pool by 2 until T == 1).

    Args:
        z1, z2: the two views' per-timestamp representations on their overlap.
        alpha: weight of the instance loss (``1 - alpha`` for the temporal loss).
        temporal_unit: smallest scale index at which the temporal loss is used.
        reduction: ``mean`` (scalar, the TS2Vec value) or ``none`` (per sample).

    Shape:
        z1, z2: ``(B, T, D)``; returns a scalar or ``(B,)``.
    """
    if z1.shape != z2.shape or z1.dim() != 3:
        raise ValueError(f"z1 and z2 must be equal (B, T, D) tensors, got {tuple(z1.shape)}, {tuple(z2.shape)}")
    b = z1.shape[0]
    total = z1.new_zeros(b)
    inst1, inst2, steps = [], [], []  # every scale's instance problem: all solved in one call
    depth = 0
    while z1.shape[1] > 1:
        if alpha != 0:
            inst1.append(z1.transpose(0, 1))
            inst2.append(z2.transpose(0, 1))
            steps.append(z1.shape[1])
        if depth >= temporal_unit and alpha != 1:
            total = total + (1 - alpha) * temporal_loss(z1, z2)
        depth += 1
        z1 = F.max_pool1d(z1.transpose(1, 2), kernel_size=2).transpose(1, 2)
        z2 = F.max_pool1d(z2.transpose(1, 2), kernel_size=2).transpose(1, 2)
    if z1.shape[1] == 1:
        if alpha != 0:
            inst1.append(z1.transpose(0, 1))
            inst2.append(z2.transpose(0, 1))
            steps.append(1)
        depth += 1
    if steps:
        # instance_loss of each scale = mean over its timestamps; one weight 1/T_k per row
        rows = paired_view_rows(torch.cat(inst1), torch.cat(inst2))  # (sum_k T_k, 2B)
        n = torch.tensor(steps, device=rows.device)
        w = torch.repeat_interleave(1.0 / n.to(rows.dtype), n)
        total = total + alpha * ((rows[:, :b] + rows[:, b:]) * w[:, None]).sum(dim=0) / 2
    per_sample = total / depth
    return per_sample.mean() if reduction == "mean" else per_sample


LEVELS = ("observation", "sample", "trial", "patient")


def comet_level_losses(
    h1: torch.Tensor, h2: torch.Tensor, trial: torch.Tensor, patient: torch.Tensor,
    weights: dict[str, float], temperature: float = 0.1,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """COMET hierarchical loss: ``sum_level lambda_level * L_level`` over any subset of levels.

    - observation: per-timestamp vectors; the same timestamp in the other view is positive,
      other timestamps of the same sample are negatives;
    - sample: instance vectors; the other view of the same sample is positive;
    - trial / patient: every other view of a sample from the same trial / patient is positive.

    Shape:
        h1, h2: ``(B, T, D)`` per-timestamp representations of two views; trial, patient:
        ``(B,)`` long ids. Returns ``(per-sample loss (B,), {level: scalar})``; the total is
        ``per_sample.mean()``.
    """
    unknown = set(weights) - set(LEVELS)
    if unknown:
        raise ValueError(f"unknown COMET levels {sorted(unknown)}; choose from {LEVELS}")
    b = h1.shape[0]
    per_sample = h1.new_zeros(b)
    parts: dict[str, torch.Tensor] = {}
    if weights.get("observation", 0) > 0:
        rows = paired_view_rows(F.normalize(h1, dim=-1), F.normalize(h2, dim=-1), temperature)
        per_sample = per_sample + weights["observation"] * rows.mean(dim=1)
        parts["observation"] = rows.mean()
    inst = F.normalize(torch.cat([h1.amax(dim=1), h2.amax(dim=1)]), dim=-1)  # (2B, D)
    logits = inst @ inst.T / temperature
    eye = torch.eye(2 * b, dtype=torch.bool, device=h1.device)
    for level, keys in (("sample", torch.arange(b, device=h1.device)), ("trial", trial), ("patient", patient)):
        w = weights.get(level, 0)
        if w <= 0:
            continue
        pos = same_key_mask(torch.cat([keys, keys]))
        rows, valid = masked_info_nce_rows(logits, pos & ~eye, eye)
        per_anchor = rows.view(2, b).mean(dim=0)
        # normalise by the share of anchors that have a positive at this level
        scale = 2 * b / valid.sum().clamp_min(1)
        per_sample = per_sample + w * per_anchor * scale
        parts[level] = rows.sum() / valid.sum().clamp_min(1)
    return per_sample, parts


class DBPM(nn.Module):
    """Dynamic bad pair mining: per-sample loss history and outlier down-weighting.

    Each training sample's positive-pair loss is accumulated across its visits. Once a sample
    has been seen ``warmup`` times, pairs whose mean historical loss lies more than ``beta``
    standard deviations above (noisy positives) or below (faulty, trivially easy positives) the
    mean over the dataset get weight ``down_weight``; the others keep weight 1.

    Args:
        n_samples: training-set size (sample indices index the history).
        warmup: visits before a sample can be flagged.
        beta: outlier threshold in standard deviations.
        down_weight: weight of flagged pairs (0 drops them).
        flag_easy: also flag abnormally small losses (faulty positives).

    Shape:
        weights(indices (B,)) → ``(B,)``; update(indices (B,), loss (B,)).
    """

    def __init__(self, n_samples: int, warmup: int = 5, beta: float = 2.0, down_weight: float = 0.1,
                 flag_easy: bool = False) -> None:
        super().__init__()
        if n_samples < 1 or warmup < 0 or beta <= 0 or not 0 <= down_weight <= 1:
            raise ValueError("need n_samples >= 1, warmup >= 0, beta > 0, 0 <= down_weight <= 1")
        self.register_buffer("loss_sum", torch.zeros(n_samples, dtype=torch.float64))
        self.register_buffer("visits", torch.zeros(n_samples, dtype=torch.long))
        self.warmup, self.beta, self.down_weight, self.flag_easy = warmup, beta, down_weight, flag_easy

    @torch.no_grad()
    def update(self, indices: torch.Tensor, loss: torch.Tensor) -> None:
        self.loss_sum.index_add_(0, indices, loss.detach().to(self.loss_sum.dtype))
        self.visits.index_add_(0, indices, torch.ones_like(indices))

    @torch.no_grad()
    def flagged(self) -> torch.Tensor:
        """Boolean ``(n_samples,)`` of currently flagged samples."""
        ready = self.visits >= max(1, self.warmup)
        if ready.sum() < 2:
            return torch.zeros_like(ready)
        mean = self.loss_sum / self.visits.clamp_min(1)
        mu, sd = mean[ready].mean(), mean[ready].std()
        bad = mean > mu + self.beta * sd
        if self.flag_easy:
            bad |= mean < mu - self.beta * sd
        return bad & ready

    @torch.no_grad()
    def weights(self, indices: torch.Tensor) -> torch.Tensor:
        flags = self.flagged()[indices]
        w = torch.ones(indices.shape[0], dtype=torch.float32, device=indices.device)
        return w.masked_fill(flags, self.down_weight)
