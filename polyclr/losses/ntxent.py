"""Two-view losses on the core: NT-Xent (SimCLR), DCL and DCLW.

References:
    - Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations",
      ICML 2020 (NT-Xent).
    - Yeh et al., "Decoupled Contrastive Learning", ECCV 2022 (DCL, DCLW).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from polyclr.losses.info_nce import MultiPositiveInfoNCE
from polyclr.losses.pairs import same_sample_mask, two_view_ids


class NTXentLoss(nn.Module):
    """NT-Xent over ``2N`` views: the other view is the positive, the own view is excluded.

    Equals lightly's ``NTXentLoss`` and MONAI's ``ContrastiveLoss`` (checked against golden
    values). With ``gather_distributed`` negatives come from every process.

    Args:
        temperature: softmax temperature (> 0).
        gather_distributed: gather negatives across processes.

    Shape:
        z0, z1: ``(N, D)`` the two views of N samples. Output: scalar.
    """

    def __init__(self, temperature: float = 0.5, gather_distributed: bool = False) -> None:
        super().__init__()
        self.core = MultiPositiveInfoNCE(temperature, gather_distributed=gather_distributed)
        self.gather_distributed = gather_distributed

    def forward(self, z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
        if z0.shape != z1.shape:
            raise ValueError(f"views must have equal shapes, got {tuple(z0.shape)} and {tuple(z1.shape)}")
        return _two_view(self.core, z0, z1)


def _two_view(core: MultiPositiveInfoNCE, z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
    """Lay out ``[z0; z1]`` (per rank, then gathered in rank order) and apply ``core``."""
    from polyclr.losses.distributed import world_info

    n = z0.shape[0]
    _, world = world_info() if core.gather_distributed else (0, 1)
    # Gathered layout is [rank0: z0,z1][rank1: z0,z1]...; ids are unique per (rank, sample).
    ids = torch.cat([two_view_ids(n, z0.device) + r * n for r in range(world)])
    return core(torch.cat([z0, z1]), same_sample_mask(ids))


def _fp32_up(x: torch.Tensor) -> torch.Tensor:
    """Upcast half precision to float32; keep float32/float64 as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class DCLLoss(nn.Module):
    """Decoupled contrastive loss: the positive pair is removed from the denominator.

    Args:
        temperature: softmax temperature (> 0).
        weight_sigma: if set, DCLW — the positive term of anchor i is weighted by
            ``2 - N * softmax_i(cos(z0_i, z1_i) / sigma)`` (von Mises-Fisher weighting).
        gather_distributed: gather negatives across processes.

    Shape:
        z0, z1: ``(N, D)``. Output: scalar.
    """

    def __init__(
        self,
        temperature: float = 0.1,
        weight_sigma: float | None = None,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        if weight_sigma is not None and weight_sigma <= 0:
            raise ValueError(f"weight_sigma must be positive, got {weight_sigma}")
        self.core = MultiPositiveInfoNCE(
            temperature, decoupled=True, gather_distributed=gather_distributed
        )
        self.gather_distributed = gather_distributed
        self.weight_sigma = weight_sigma

    def forward(self, z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
        loss = _two_view(self.core, z0, z1)
        if self.weight_sigma is None:
            return loss
        # DCLW: the positive term -l_ip is scaled by w_i; add (1 - w_i) * l_ip to the DCL loss.
        # Weights are constants (no gradient), computed on the local batch as in lightly.
        a, b = F.normalize(_fp32_up(z0), dim=-1), F.normalize(_fp32_up(z1), dim=-1)
        cos = (a * b).sum(-1)
        with torch.no_grad():
            w = 2.0 - z0.shape[0] * torch.softmax(cos / self.weight_sigma, dim=0)
        scale = self.core.logit_scale()
        return loss + ((1.0 - w) * cos * scale).mean()
