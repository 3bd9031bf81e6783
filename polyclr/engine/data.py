"""Data loading helpers: seeded, resumable sampling and reproducible workers."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sized

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class EpochSeededSampler(Sampler[int]):
    """Random permutation that depends only on ``(seed, epoch)``.

    Lightning calls ``set_epoch`` each epoch (and wraps this sampler in a distributed one under
    DDP, so each rank sees its own shard), so a run resumed at epoch ``e`` sees exactly the order
    an uninterrupted run would.
    """

    def __init__(self, data_source: Sized, seed: int = 0, shuffle: bool = True) -> None:
        self.n = len(data_source)
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.n))
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def seed_worker(worker_id: int) -> None:
    """Seed numpy and python in a data-loader worker from torch's per-worker seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def shard_batches(batches: list[list[list[int]]], rank: int, world: int) -> list[list[int]]:
    """This rank's share of each *global* batch, made of indivisible *units* of indices.

    Every rank gets the same number of batches, each non-empty, and together the ranks see each
    index of an epoch exactly once (DDP needs equal step counts; Lightning's
    ``DistributedSampler`` pads with repeated samples instead). Units are dealt to the rank with
    the fewest indices so far; a global batch with fewer units than ranks joins the next (or the previous) one.

    Args:
        batches: global batches, each a list of units (lists of indices).
        rank, world: this process and the number of processes.
    """
    if world <= 1:
        return [[i for unit in b for i in unit] for b in batches]
    merged: list[list[list[int]]] = []
    carry: list[list[int]] = []
    for b in batches:
        b, carry = carry + list(b), []
        if len(b) < world:
            carry = b
        else:
            merged.append(b)
    if carry:
        if not merged:
            raise ValueError(f"an epoch has {len(carry)} sample units for {world} processes")
        merged[-1] = merged[-1] + carry
    out = []
    for b in merged:
        parts: list[list[int]] = [[] for _ in range(world)]
        for unit in sorted(b, key=len, reverse=True):  # largest first: balanced sizes
            min(parts, key=len).extend(unit)
        out.append(parts[rank])
    return out


class EpochSeededBatchSampler(Sampler[list[int]]):
    """Batches of a random permutation that depends only on ``(seed, epoch)``, sharded under DDP.

    One process: the batches ``DataLoader(sampler=EpochSeededSampler, batch_size=b)`` would
    give. ``W`` processes: the same permutation cut into global batches of ``b x W``, each split
    into ``W`` per-rank batches (:func:`shard_batches`), so the global batches equal a
    single-process run with batch ``b x W`` and no sample is dropped or repeated in an epoch
    (beyond ``drop_last`` of a short final global batch, as in one process). The rank is read
    when iterating, after Lightning has set up the process group.

    Args:
        n: dataset length.
        batch_size: per-process batch size.
        seed: base seed.
        shuffle: random order (else ``0..n-1``).
        drop_last: drop a final global batch smaller than ``batch_size x W``.
        epoch_keys: yield ``(index, epoch)`` keys instead of indices, for datasets whose items
            draw random content from ``(seed, epoch, index)`` rather than the process RNG.
    """

    shards_itself = True

    def __init__(self, n: int, batch_size: int, seed: int = 0, shuffle: bool = True,
                 drop_last: bool = False, epoch_keys: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.n, self.batch_size, self.drop_last = n, batch_size, drop_last
        self.epoch_keys = epoch_keys
        # Lightning sets the epoch on ``loader.batch_sampler.sampler`` (also when it resumes)
        self.sampler = EpochSeededSampler(range(n), seed, shuffle)

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def _batches(self) -> list[list[int]]:
        from polyclr.engine.dist import rank_world

        rank, world = rank_world()
        perm = list(self.sampler)
        g = self.batch_size * world
        glob = [perm[i:i + g] for i in range(0, self.n, g)]
        if self.drop_last and glob and len(glob[-1]) < g:
            glob.pop()
        return shard_batches([[[i] for i in b] for b in glob], rank, world)

    def __iter__(self) -> Iterator[list[int]] | Iterator[list[tuple[int, int]]]:
        # lazy: Lightning sets the epoch after creating the loader's iterator (on resume)
        for batch in self._batches():
            yield [(i, self.epoch) for i in batch] if self.epoch_keys else batch

    def __len__(self) -> int:
        return len(self._batches())


def make_loader(
    dataset: Dataset,
    batch_size: int,
    seed: int = 0,
    shuffle: bool = True,
    drop_last: bool = False,
    num_workers: int = 0,
    collate_fn=None,
    epoch_keys: bool = False,
) -> DataLoader:
    """A DataLoader with seeded, resumable order, seeded workers and DDP sharding
    (:class:`EpochSeededBatchSampler`; ``epoch_keys``: the dataset is indexed by
    ``(index, epoch)``)."""
    g = torch.Generator().manual_seed(seed)
    sampler = EpochSeededBatchSampler(len(dataset), batch_size, seed, shuffle, drop_last, epoch_keys)  # type: ignore[arg-type]
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=num_workers,
        worker_init_fn=seed_worker,
        generator=g,
        collate_fn=collate_fn,
        persistent_workers=num_workers > 0,
    )
