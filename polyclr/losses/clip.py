"""Cross-modal (audio/image ↔ text) contrastive loss on the core: CLIP/CLAP, CWCL, hard negatives.

References:
    - Radford et al., "Learning Transferable Visual Models From Natural Language Supervision",
      ICML 2021 (CLIP); Elizalde et al., "CLAP", ICASSP 2023.
    - Srinivasa et al., "CWCL", NeurIPS 2023 (continuous weights from the frozen tower).
    - Ghosh et al., "CompA: Addressing the Gap in Compositional Reasoning in Audio-Language
      Models", ICLR 2024 (order-swapped hard negatives).
    - open_clip ``ClipLoss`` for gather-with-grad and rank offsets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from polyclr.losses.distributed import gather_with_grad, local_rows
from polyclr.losses.info_nce import LogitScale, masked_info_nce_rows, reduce_mean_over_valid
from polyclr.losses.pairs import cross_modal_targets


class CrossModalInfoNCE(nn.Module):
    """Symmetric cross-modal InfoNCE with optional soft weights and per-anchor extra negatives.

    Direction a→b: anchor ``a_i`` against all ``b_j`` (gathered across processes when
    ``gather_distributed``); b→a likewise; the loss is the mean of both directions. Without
    ``weights`` the positive of ``a_i`` is ``b_i`` (CLIP). With ``weights`` (CWCL) the target of
    anchor i is ``w_i / sum(w_i)`` over all candidates, in both directions.

    Args:
        temperature: initial temperature (CLIP: 0.07).
        learnable_temperature: learn the logit scale (clamped to ``max_logit_scale``).
        max_logit_scale: clamp of the learnable scale.
        normalize: L2-normalise inputs (set False if they already are).
        gather_distributed: gather candidates across processes with gradients.

    Shape:
        a: ``(N, D)``, b: ``(N, D)``; weights: ``(N_all, N_all)`` (N_all = world_size * N);
        extra_b_for_a: ``(N, K, D)`` extra negatives in b's space for each a anchor (e.g. an
        order-swapped caption); extra_a_for_b: ``(N, K, D)`` likewise for b anchors.
        Output: scalar.
    """

    def __init__(
        self,
        temperature: float = 0.07,
        learnable_temperature: bool = True,
        max_logit_scale: float = 100.0,
        normalize: bool = True,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        self.logit_scale = LogitScale(temperature, learnable_temperature, max_logit_scale)
        self.normalize = normalize
        self.gather_distributed = gather_distributed

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        return F.normalize(x, dim=-1) if self.normalize else x

    def forward(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        weights: torch.Tensor | None = None,
        extra_b_for_a: torch.Tensor | None = None,
        extra_a_for_b: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if a.shape[0] != b.shape[0]:
            raise ValueError(f"a and b need the same batch size, got {a.shape[0]} and {b.shape[0]}")
        with torch.autocast(device_type=a.device.type, enabled=False):
            a, b = self._prep(a), self._prep(b)
            n = a.shape[0]
            a_all = gather_with_grad(a) if self.gather_distributed else a
            b_all = gather_with_grad(b) if self.gather_distributed else b
            n_all = a_all.shape[0]
            scale = self.logit_scale().to(a.dtype)
            if weights is None:
                w = cross_modal_targets(n, n_all, a.device)
            else:
                if weights.shape != (n_all, n_all):
                    raise ValueError(f"weights must be ({n_all}, {n_all}), got {tuple(weights.shape)}")
                rows = local_rows(n, a.device) if n_all != n else torch.arange(n, device=a.device)
                w = weights[rows]
            extra_a = extra_b = None
            if extra_b_for_a is not None:
                extra_a = torch.einsum("nd,nkd->nk", a, self._prep(extra_b_for_a)) * scale
            if extra_a_for_b is not None:
                extra_b = torch.einsum("nd,nkd->nk", b, self._prep(extra_a_for_b)) * scale
            loss_a, valid_a = masked_info_nce_rows(a @ b_all.T * scale, w, None, False, extra_a)
            loss_b, valid_b = masked_info_nce_rows(b @ a_all.T * scale, w, None, False, extra_b)
            la = reduce_mean_over_valid(loss_a, valid_a, self.gather_distributed)
            lb = reduce_mean_over_valid(loss_b, valid_b, self.gather_distributed)
            return (la + lb) / 2.0
