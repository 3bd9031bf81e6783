"""Pair builders against hand-worked masks."""

import torch

from polyclr.losses import (
    cross_modal_targets,
    cwcl_weights,
    partition_exclusion_mask,
    same_sample_mask,
    supcon_mask,
    two_view_ids,
)


def test_two_view_ids_and_same_sample():
    ids = two_view_ids(3)
    assert ids.tolist() == [0, 1, 2, 0, 1, 2]
    m = same_sample_mask(ids)
    assert m[0].tolist() == [True, False, False, True, False, False]


def test_supcon_mask():
    assert supcon_mask(torch.tensor([1, 0, 1])).tolist() == [
        [True, False, True], [False, True, False], [True, False, True]
    ]


def test_partition_exclusion_gd_minus():
    # volumes 0,0,1,1 with partitions 0,1,0,1: same partition in the *other* volume is excluded.
    vol = torch.tensor([0, 0, 1, 1])
    part = torch.tensor([0, 1, 0, 1])
    excl = partition_exclusion_mask(vol, part)
    assert excl.tolist() == [
        [False, False, True, False],
        [False, False, False, True],
        [True, False, False, False],
        [False, True, False, False],
    ]


def test_cross_modal_targets_single_process():
    t = cross_modal_targets(3, 3)
    assert torch.equal(t, torch.eye(3, dtype=torch.bool))


def test_cwcl_weights_closed_form():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    w = cwcl_weights(q)
    expected = torch.tensor([[1.0, 0.5, 0.0], [0.5, 1.0, 0.5], [0.0, 0.5, 1.0]])
    assert torch.allclose(w, expected)


def test_cwcl_weights_centered_closed_form():
    # two captions at 60 degrees share the direction (1, 0); without it they are opposite.
    q = torch.tensor([[1.0, 3.0 ** 0.5], [1.0, -(3.0 ** 0.5)]])
    assert torch.allclose(cwcl_weights(q), torch.tensor([[1.0, 0.25], [0.25, 1.0]]))
    center = torch.tensor([0.5, 0.0])  # the mean of the normalised rows
    w = cwcl_weights(q, center=center)
    assert torch.allclose(w, torch.tensor([[1.0, 0.0], [0.0, 1.0]]), atol=1e-6)
