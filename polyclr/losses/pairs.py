"""Pair builders: pure functions from batch metadata to positive / exclusion masks and weights.

Each builder answers "which pairs are positive, which are excluded, how much does a pair weigh"
for one method (see DESIGN.md). All take 1-D metadata tensors of length N (already gathered
across processes when the loss gathers) and return ``(N, N)`` tensors; the diagonal is left to
the loss, which always excludes self-pairs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def two_view_ids(n: int, device: torch.device | None = None) -> torch.Tensor:
    """Sample ids for a batch laid out as ``[view1 (n), view2 (n)]``.

    Shape:
        returns ``(2n,)`` long: ``[0..n-1, 0..n-1]``.
    """
    ids = torch.arange(n, device=device)
    return torch.cat([ids, ids])


def same_key_mask(keys: torch.Tensor) -> torch.Tensor:
    """Positive where two items share a key (sample, trial, patient, partition, label, ...).

    Items with a negative key (``-1`` = unknown) are never positive with anything.

    Shape:
        keys: ``(N,)`` integer; returns ``(N, N)`` bool (diagonal True for known keys).
    """
    if keys.dim() != 1:
        raise ValueError(f"keys must be 1-D, got shape {tuple(keys.shape)}")
    known = keys >= 0
    return (keys[:, None] == keys[None, :]) & known[:, None] & known[None, :]


def same_sample_mask(sample_ids: torch.Tensor) -> torch.Tensor:
    """SimCLR / G^R: views of the same sample are positives.

    Shape:
        sample_ids: ``(N,)``; returns ``(N, N)`` bool.
    """
    return same_key_mask(sample_ids)


def supcon_mask(labels: torch.Tensor) -> torch.Tensor:
    """SupCon: items with the same class label are positives (``-1`` = unlabelled).

    Shape:
        labels: ``(N,)``; returns ``(N, N)`` bool.
    """
    return same_key_mask(labels)


def partition_exclusion_mask(sample_ids: torch.Tensor, partitions: torch.Tensor) -> torch.Tensor:
    """G^D− (Chaitanya et al. 2020): same partition of *other* samples is excluded from negatives.

    Shape:
        sample_ids, partitions: ``(N,)``; returns ``(N, N)`` bool exclusion mask.
    """
    return same_key_mask(partitions) & ~same_key_mask(sample_ids)


def cross_modal_targets(n_local: int, n_all: int, device: torch.device | None = None) -> torch.Tensor:
    """CLIP / CLAP: row i of this rank matches candidate ``rank * n_local + i``.

    Offsets by rank are applied only when gathering (``n_all > n_local``).

    Shape:
        returns ``(n_local, n_all)`` bool with one True per row.
    """
    from polyclr.losses.distributed import local_rows

    cols = local_rows(n_local, device) if n_all != n_local else torch.arange(n_local, device=device)
    mask = torch.zeros(n_local, n_all, dtype=torch.bool, device=device)
    mask[torch.arange(n_local, device=device), cols] = True
    return mask


def cwcl_weights(frozen: torch.Tensor, normalize: bool = True, center: torch.Tensor | None = None) -> torch.Tensor:
    """CWCL soft weights ``w_ij = (1 + <q_i, q_j>) / 2`` from a frozen tower's embeddings.

    Reference: Srinivasa et al., "CWCL: Cross-Modal Transfer with Continuously Weighted
    Contrastive Loss", NeurIPS 2023 (eq. 5). The diagonal is 1 (for normalised inputs).

    Args:
        frozen: the frozen tower's embeddings.
        normalize: L2-normalise ``frozen`` first.
        center: optional common direction subtracted from the (normalised) embeddings, which
            are then re-normalised, so ``q`` is ``normalize(normalize(frozen) - center)``.
            Sentence embeddings are anisotropic (every pair of captions has a cosine well above
            0), which makes the paper's weights nearly uniform; removing the dataset mean
            (Mu & Viswanath, "All-but-the-Top", ICLR 2018) spreads the cosines over [-1, 1].

    Shape:
        frozen: ``(N, D)``; center: ``(D,)``; returns ``(N, N)`` in ``[0, 1]``, no gradient.
    """
    q = frozen.detach().float()
    if normalize:
        q = F.normalize(q, dim=-1)
    if center is not None:
        q = F.normalize(q - center.detach().float().to(q.device), dim=-1)
    return ((1.0 + q @ q.T) / 2.0).clamp(0.0, 1.0)
