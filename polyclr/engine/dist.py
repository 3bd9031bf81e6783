"""Process rank helpers: who writes and prints under DDP, and a barrier for files others read.

Under Lightning's DDP (and torchrun / SLURM) every process runs the same command. Files are
written, and lines printed, by global rank zero only; a rank that reads a file rank zero has just
written waits at :func:`barrier` first. The rank is Lightning's own (``rank_zero_only.rank``,
taken from ``RANK`` / ``LOCAL_RANK`` / ``SLURM_PROCID`` at start-up and set by the strategy;
before Lightning is imported the same variables are read directly, so this module loads
without torch or Lightning).
"""

from __future__ import annotations

from polyclr import rundir


def global_rank() -> int:
    """This process's global rank (0 in a single-process run)."""
    return rundir.global_rank()


def is_rank_zero() -> bool:
    """True in the process that writes files and prints (global rank 0)."""
    return rundir.is_rank_zero()


def rank_world() -> tuple[int, int]:
    """``(rank, world_size)`` of the initialised process group, ``(0, 1)`` without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier() -> None:
    """Wait for every process (no-op without an initialised process group)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()
