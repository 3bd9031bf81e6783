"""Hard-negative mixing (MoCHi): synthesise extra negatives from the hardest existing ones.

Reference: Kalantidis et al., "Hard Negative Mixing for Contrastive Learning", NeurIPS 2020.
The synthetic negatives are per-anchor and detached; pass them to the core as
``extra_negatives``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mix_hard_negatives(
    anchors: torch.Tensor,
    candidates: torch.Tensor,
    negative_mask: torch.Tensor,
    n_hardest: int = 16,
    n_mixed: int = 8,
    n_query_mixed: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Synthetic negatives per anchor: convex mixes of pairs among its ``n_hardest`` negatives
    (and, if ``n_query_mixed``, mixes of the anchor with a hard negative, anchor weight < 0.5).

    Args:
        anchors: query embeddings.
        candidates: embeddings the negatives come from.
        negative_mask: which candidates are true negatives of each anchor.
        n_hardest: how many of the most similar negatives to mix from (MoCHi's N).
        n_mixed: synthetic negatives from pairs of hard negatives (MoCHi's s).
        n_query_mixed: synthetic negatives mixing the anchor in (MoCHi's s').
        generator: random generator for reproducibility.

    Shape:
        anchors: ``(N, D)``; candidates: ``(M, D)``; negative_mask: ``(N, M)`` bool.
        Returns ``(N, n_mixed + n_query_mixed, D)``, L2-normalised, detached.
    """
    if n_hardest < 1 or n_mixed < 0 or n_query_mixed < 0:
        raise ValueError("n_hardest must be >= 1 and n_mixed, n_query_mixed >= 0")
    with torch.no_grad():
        q = F.normalize(anchors.detach().float(), dim=-1)
        c = F.normalize(candidates.detach().float(), dim=-1)
        sim = (q @ c.T).masked_fill(~negative_mask, -float("inf"))
        k = min(n_hardest, c.shape[0])
        top_sim, top_idx = sim.topk(k, dim=1)
        hard = c[top_idx]  # (N, k, D)
        n = q.shape[0]
        out = []
        dev = q.device
        if n_mixed:
            i = torch.randint(0, k, (n, n_mixed), generator=generator, device="cpu").to(dev)
            j = torch.randint(0, k, (n, n_mixed), generator=generator, device="cpu").to(dev)
            alpha = torch.rand(n, n_mixed, 1, generator=generator, device="cpu").to(dev)
            hi = torch.gather(hard, 1, i[..., None].expand(-1, -1, c.shape[1]))
            hj = torch.gather(hard, 1, j[..., None].expand(-1, -1, c.shape[1]))
            out.append(F.normalize(alpha * hi + (1 - alpha) * hj, dim=-1))
        if n_query_mixed:
            i = torch.randint(0, k, (n, n_query_mixed), generator=generator, device="cpu").to(dev)
            beta = 0.5 * torch.rand(n, n_query_mixed, 1, generator=generator, device="cpu").to(dev)
            hi = torch.gather(hard, 1, i[..., None].expand(-1, -1, c.shape[1]))
            out.append(F.normalize(beta * q[:, None, :] + (1 - beta) * hi, dim=-1))
        # Anchors with fewer than k real negatives would mix -inf rows: zero them out.
        valid = torch.isfinite(top_sim).all(dim=1)[:, None, None]
        res = torch.cat(out, dim=1) if out else q.new_zeros(n, 0, q.shape[1])
        return res * valid
