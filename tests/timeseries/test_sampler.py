"""The hierarchical batch sampler's guarantee: every trial and patient in a batch has >= 2 samples."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyclr.modalities.timeseries.sampler import HierarchicalBatchSampler


def _check(trials, patients, batches):
    for b in batches:
        b = np.asarray(b)
        for key in (trials, patients):
            _, counts = np.unique(key[b], return_counts=True)
            assert counts.min() >= 2


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(2, 9), min_size=2, max_size=12),
    batch_size=st.integers(4, 24),
    seed=st.integers(0, 5),
)
def test_every_trial_and_patient_has_two(sizes, batch_size, seed):
    trials = np.concatenate([np.full(n, t) for t, n in enumerate(sizes)])
    patients = trials // 2
    s = HierarchicalBatchSampler(trials, patients, batch_size, seed=seed)
    batches = list(s)
    _check(trials, patients, batches)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(trials)))  # each sample exactly once


def test_singleton_trials_paired_within_patient_and_reported():
    trials = np.array([0, 1, 2, 2, 3])
    patients = np.array([0, 0, 1, 1, 2])
    s = HierarchicalBatchSampler(trials, patients, 4, seed=0)
    flat = sorted(i for b in s for i in b)
    assert flat == [0, 1, 2, 3]  # trial 3 is patient 2's only sample: left out
    assert s.dropped == 1


def test_order_depends_on_epoch_and_is_reproducible():
    trials = np.repeat(np.arange(10), 4)
    s = HierarchicalBatchSampler(trials, trials // 2, 8, seed=1)
    a = list(s)
    assert a == list(s)
    s.set_epoch(1)
    assert a != list(s)
    with pytest.raises(ValueError):
        HierarchicalBatchSampler(trials, trials, 1)
