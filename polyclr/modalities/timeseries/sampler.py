"""Hierarchy-aware batch sampler for the COMET trial and patient levels.

A trial-level (or patient-level) positive needs a second sample of the same trial (patient) in
the batch. This sampler groups each trial's shuffled samples into *units* of ``per_trial``
samples (never fewer than 2; a trial's odd leftover joins its last unit), shuffles the units
and fills batches with whole units (so batches mix many patients and keep negatives diverse). Hence every trial — and therefore every patient — present in a batch has at least
two samples there. Trials with a single sample cannot satisfy this; they are paired with another
single-sample trial of the same patient (patient level only) or, failing that, left out of the
hierarchical batches (see :attr:`dropped`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

from polyclr.engine.data import EpochSeededSampler


class HierarchicalBatchSampler(Sampler[list[int]]):
    """Batches in which every trial and patient present has ≥ 2 samples.

    Under DDP with ``W`` processes the global batches (``batch_size x W``) are built as in one
    process and their units dealt to the ranks (:func:`polyclr.engine.data.shard_batches`):
    each rank's batch still holds whole units, and no sample is repeated or left out.

    Args:
        trial_ids: trial id of each item.
        patient_ids: patient id of each item.
        batch_size: target batch size (a batch may exceed it by less than one unit).
        per_trial: samples drawn together from one trial (≥ 2).
        seed: base seed; the order depends only on ``(seed, epoch)``.
        drop_last: drop a final batch smaller than ``batch_size // 2``.

    Shape:
        trial_ids, patient_ids: ``(N,)``.
    """

    shards_itself = True

    def __init__(self, trial_ids, patient_ids, batch_size: int, per_trial: int = 2, seed: int = 0,
                 drop_last: bool = False) -> None:
        if batch_size < 2 or per_trial < 2:
            raise ValueError(f"batch_size and per_trial must be >= 2, got {batch_size}, {per_trial}")
        self.trial = np.asarray(trial_ids)
        self.patient = np.asarray(patient_ids)
        if self.trial.shape != self.patient.shape or self.trial.ndim != 1:
            raise ValueError("trial_ids and patient_ids must be 1-D of equal length")
        self.batch_size, self.per_trial, self.seed, self.drop_last = batch_size, per_trial, seed, drop_last
        # holds the epoch: Lightning calls set_epoch on ``loader.batch_sampler.sampler``
        self.sampler = EpochSeededSampler(self.trial, seed, shuffle=False)
        self.dropped = self._units(np.random.default_rng(0))[1]

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def _units(self, rng: np.random.Generator) -> tuple[list[tuple[int, np.ndarray]], int]:
        units: list[tuple[int, np.ndarray]] = []
        singles: dict[int, list[int]] = {}
        for t in np.unique(self.trial):
            idx = rng.permutation(np.flatnonzero(self.trial == t))
            pid = int(self.patient[idx[0]])
            if len(idx) == 1:
                singles.setdefault(pid, []).append(int(idx[0]))
                continue
            n_units = max(1, len(idx) // self.per_trial)
            for chunk in np.array_split(idx, n_units):
                units.append((pid, chunk))
        dropped = 0
        for pid, items in singles.items():
            if len(items) >= 2:
                units.append((pid, np.asarray(items)))
            else:
                dropped += 1
        return units, dropped

    def _batches(self) -> list[list[int]]:
        from polyclr.engine.data import shard_batches
        from polyclr.engine.dist import rank_world

        rank, world = rank_world()
        size = self.batch_size * world  # global batch; each rank gets whole units of it
        rng = np.random.default_rng(self.seed * 100_003 + self.epoch)
        units, _ = self._units(rng)
        units = [units[i] for i in rng.permutation(len(units))]
        batches: list[list[list[int]]] = []
        current: list[list[int]] = []
        n_current = 0
        for _, chunk in units:
            if current and n_current + len(chunk) > size:
                batches.append(current)
                current, n_current = [], 0
            current.append([int(i) for i in chunk])
            n_current += len(chunk)
        if current and not (self.drop_last and n_current < size // 2):
            batches.append(current)
        perm = rng.permutation(len(batches))
        return shard_batches([batches[i] for i in perm], rank, world)

    def __iter__(self) -> Iterator[list[int]]:
        # lazy: Lightning sets the epoch after creating the loader's iterator (on resume)
        yield from self._batches()

    def __len__(self) -> int:
        return len(self._batches())


def collate_batch(items: list[dict] | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stack dataset items (dicts of tensors) into a batch dict; a batch dict (what a dataset's
    ``__getitems__`` returns) passes through."""
    if isinstance(items, dict):
        return items
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}
