"""The one multi-positive InfoNCE that every polyclr objective reduces to.

References:
    - Oord et al., "Representation Learning with Contrastive Predictive Coding", 2018 (InfoNCE).
    - Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020 (multi-positive form).
    - Yeh et al., "Decoupled Contrastive Learning", ECCV 2022 (positives out of the denominator).
    - Srinivasa et al., "CWCL: Cross-Modal Transfer with Continuously Weighted Contrastive
      Loss", NeurIPS 2023 (soft pair weights).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from polyclr.losses.distributed import (
    all_reduce_sum_with_grad,
    gather_with_grad,
    local_rows,
    world_info,
)


def masked_info_nce_rows(
    logits: torch.Tensor,
    weights: torch.Tensor,
    exclude: torch.Tensor | None = None,
    decoupled: bool = False,
    extra_negative_logits: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-anchor multi-positive InfoNCE from precomputed logits.

    For anchor ``i`` with candidate set ``D_i`` (not excluded; for ``decoupled`` also not
    positive) the loss is ``-sum_j w_ij * l_ij / sum_j w_ij + logsumexp_{k in D_i} l_ik`` — the
    weighted cross-entropy against the target distribution ``w_i / sum(w_i)``. Excluded pairs get
    weight 0. Computed in float32 (or float64 if given) for stability.

    Args:
        logits: similarity / temperature.
        weights: non-negative pair weights; a boolean positive mask is allowed.
        exclude: pairs removed from both numerator and denominator (e.g. self-pairs).
        decoupled: remove positives (``weights > 0``) from the denominator (DCL).
        extra_negative_logits: per-anchor extra negatives (hard or synthetic), always in the
            denominator.

    Shape:
        logits: ``(N, M)``; weights: ``(N, M)``; exclude: ``(N, M)`` bool;
        extra_negative_logits: ``(N, K)``. Returns ``(loss_per_anchor (N,), valid (N,) bool)``;
        anchors without a positive (or without any negative when decoupled) are not valid and
        have loss 0.
    """
    if logits.dtype not in (torch.float32, torch.float64):
        logits = logits.float()
    w = weights.to(logits.dtype)
    if exclude is not None:
        w = w.masked_fill(exclude, 0.0)
    in_denominator = torch.ones_like(logits, dtype=torch.bool) if exclude is None else ~exclude
    if decoupled:
        in_denominator = in_denominator & ~(w > 0)
    masked = logits.masked_fill(~in_denominator, -math.inf)
    if extra_negative_logits is not None:
        masked = torch.cat([masked, extra_negative_logits.to(logits.dtype)], dim=1)
    lse = torch.logsumexp(masked, dim=1)
    w_sum = w.sum(dim=1)
    valid = (w_sum > 0) & torch.isfinite(lse)
    safe_logits = logits.masked_fill(w == 0, 0.0)
    positive_term = (w * safe_logits).sum(dim=1) / w_sum.clamp_min(torch.finfo(w.dtype).tiny)
    loss = torch.where(valid, lse - positive_term, torch.zeros_like(lse))
    return loss, valid


class LogitScale(nn.Module):
    """Temperature as a (optionally learnable) logit scale ``exp(s)``, clamped to ``max_scale``.

    Args:
        temperature: initial temperature ``t``; the scale starts at ``1 / t``.
        learnable: learn ``log(1/t)`` (CLIP/CLAP) instead of keeping it fixed.
        max_scale: upper clamp of the scale (CLIP uses 100).
    """

    def __init__(self, temperature: float = 0.1, learnable: bool = False, max_scale: float = 100.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if max_scale <= 0:
            raise ValueError(f"max_scale must be positive, got {max_scale}")
        init = torch.tensor(math.log(1.0 / temperature), dtype=torch.float32)
        if learnable:
            self.log_scale = nn.Parameter(init)
        else:
            self.register_buffer("log_scale", init)
        self.max_scale = max_scale

    def forward(self) -> torch.Tensor:
        """The current scale (a 0-dim float32 tensor)."""
        return self.log_scale.float().exp().clamp(max=self.max_scale)


class MultiPositiveInfoNCE(nn.Module):
    """Multi-positive InfoNCE over one set of embeddings (self-similarity), mask-driven.

    The positive mask (or soft weights), exclusion mask and temperature say which method this is:
    SimCLR/NT-Xent (same sample id), SupCon (same label), G^D / COMET levels (same key), DCL
    (``decoupled=True``). Self-pairs are always excluded. With ``gather_distributed=True`` the
    candidates are gathered from every process (gradients kept) and this rank's rows are the
    anchors; the returned loss equals the single-process loss on the full batch.

    Args:
        temperature: fixed temperature, or the initial one when ``learnable_temperature``.
        learnable_temperature: learn the logit scale (clamped at ``max_logit_scale``).
        max_logit_scale: clamp for the learnable scale.
        decoupled: remove positives from the denominator (DCL).
        normalize: L2-normalise embeddings first (cosine similarity).
        gather_distributed: gather candidates and metadata across processes.

    Shape:
        z: ``(N, D)`` embeddings; positive: ``(N, N)`` bool or float weights (``(N_all, N_all)``
        when metadata is gathered — pass the mask built from gathered metadata);
        exclude: same shape as positive, bool; extra_negatives: ``(N, K, D)`` per-anchor extra
        negative embeddings. Output: scalar.
    """

    def __init__(
        self,
        temperature: float = 0.1,
        learnable_temperature: bool = False,
        max_logit_scale: float = 100.0,
        decoupled: bool = False,
        normalize: bool = True,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        self.logit_scale = LogitScale(temperature, learnable_temperature, max_logit_scale)
        self.decoupled = decoupled
        self.normalize = normalize
        self.gather_distributed = gather_distributed

    def forward(
        self,
        z: torch.Tensor,
        positive: torch.Tensor,
        exclude: torch.Tensor | None = None,
        extra_negatives: torch.Tensor | None = None,
    ) -> torch.Tensor:
        with torch.autocast(device_type=z.device.type, enabled=False):
            z = z.float() if z.dtype in (torch.float16, torch.bfloat16) else z
            if self.normalize:
                z = F.normalize(z, dim=-1)
            n_local = z.shape[0]
            candidates = gather_with_grad(z) if self.gather_distributed else z
            n_all = candidates.shape[0]
            if positive.shape != (n_all, n_all):
                raise ValueError(
                    f"positive mask must be ({n_all}, {n_all}) for {n_all} candidates, "
                    f"got {tuple(positive.shape)}"
                )
            rows = local_rows(n_local, z.device) if self.gather_distributed else None
            pos = positive[rows] if rows is not None else positive
            excl = torch.zeros_like(pos, dtype=torch.bool) if exclude is None else exclude
            if rows is not None and exclude is not None:
                excl = exclude[rows]
            self_idx = rows if rows is not None else torch.arange(n_local, device=z.device)
            excl = excl.clone()
            excl[torch.arange(n_local, device=z.device), self_idx] = True
            scale = self.logit_scale().to(z.dtype)
            logits = (z @ candidates.T) * scale
            extra = None
            if extra_negatives is not None:
                e = F.normalize(extra_negatives.float(), dim=-1) if self.normalize else extra_negatives
                extra = torch.einsum("nd,nkd->nk", z, e.to(z.dtype)) * scale
            loss, valid = masked_info_nce_rows(logits, pos, excl, self.decoupled, extra)
            return reduce_mean_over_valid(loss, valid, self.gather_distributed)


def reduce_mean_over_valid(
    loss: torch.Tensor, valid: torch.Tensor, distributed: bool = False
) -> torch.Tensor:
    """Mean of per-anchor losses over valid anchors, over all processes when ``distributed``.

    Uses :func:`torch.distributed.nn.all_reduce`, so every rank returns the global loss and
    gradients flow correctly (each rank's local gradient is ``world_size`` times its share; DDP's
    gradient averaging restores the single-process gradient).

    Shape:
        loss: ``(N,)``; valid: ``(N,)`` bool. Output: scalar.
    """
    total = loss.sum()
    count = valid.sum().to(loss.dtype)
    if distributed and world_info()[1] > 1:
        total = all_reduce_sum_with_grad(total)
        count = all_reduce_sum_with_grad(count.detach())
    return total / count.clamp_min(1.0)
