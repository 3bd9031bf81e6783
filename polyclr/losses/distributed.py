"""Cross-process helpers for contrastive losses (gradient-preserving gather, rank offsets).

Only torch is imported. With one process (or no initialised process group) every helper is the
identity, so the same loss code runs on a laptop CPU and on many GPUs.
"""

from __future__ import annotations

import warnings

import torch
import torch.distributed as dist


def world_info() -> tuple[int, int]:
    """Return ``(rank, world_size)``; ``(0, 1)`` without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every process along dim 0, keeping gradients to every rank's input.

    Built on :func:`torch.distributed.nn.functional.all_gather`, whose backward sums the incoming
    gradients across ranks (a plain ``dist.all_gather`` silently drops them).

    Shape:
        x: ``(N, *)`` on each rank; returns ``(world_size * N, *)`` in rank order.
    """
    _, world = world_info()
    if world == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():  # deprecated alias in torch 2.14; still the autograd-aware op
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(all_gather(x.contiguous()), dim=0)


def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate metadata tensors (ids, labels) from every process; no gradient.

    Shape:
        x: ``(N, *)`` on each rank; returns ``(world_size * N, *)``.
    """
    _, world = world_info()
    if world == 1:
        return x
    out = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out, dim=0)


def _sizes(n: int, device: torch.device) -> list[int]:
    """Rows held by every process (they differ when a global batch splits unevenly)."""
    _, world = world_info()
    mine = torch.tensor([n], device=device, dtype=torch.long)
    out = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(out, mine)
    return [int(t.item()) for t in out]


def gather_rows(x: torch.Tensor, with_grad: bool = True) -> torch.Tensor:
    """Concatenate ``x`` from every process in rank order, ranks holding different row counts.

    Rows are padded to the largest count for the collective and the padding dropped after;
    ``with_grad`` keeps gradients to every rank's rows (as :func:`gather_with_grad`).

    Shape:
        x: ``(N_r, *)`` on rank r; returns ``(sum_r N_r, *)``.
    """
    _, world = world_info()
    if world == 1:
        return x
    sizes = _sizes(x.shape[0], x.device)
    top = max(sizes)
    padded = x
    if x.shape[0] < top:
        padded = torch.cat([x, x.new_zeros((top - x.shape[0], *x.shape[1:]))])
    full = gather_with_grad(padded) if with_grad else gather_no_grad(padded)
    return torch.cat([full[r * top: r * top + n] for r, n in enumerate(sizes)])


def all_reduce_sum_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Sum ``x`` over processes with :func:`torch.distributed.nn.all_reduce` (gradient-correct)."""
    _, world = world_info()
    if world == 1:
        return x
    from torch.distributed.nn import all_reduce

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return all_reduce(x)


def local_rows(n_local: int, device: torch.device | None = None) -> torch.Tensor:
    """Indices of this rank's rows inside a gathered batch: ``rank * n_local + arange(n_local)``.

    Offsets are applied only when gathering (world size > 1); with one process this is
    ``arange(n_local)``.
    """
    rank, _ = world_info()
    return torch.arange(n_local, device=device) + rank * n_local
