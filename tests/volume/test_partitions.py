"""Partition and region pair builders against hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polyclr.modalities.volume.data import PartitionDataset
from polyclr.modalities.volume.partitions import (
    global_pairs,
    local_pairs,
    normalised_positions,
    partition_index,
    pool_regions,
    region_boxes,
)


def test_positions_and_partitions_hand_worked():
    # 10 planes along z, 3 mm apart: positions k/9; S = 4 -> floor(4k/9)
    aff = np.diag([1.0, 1.0, 3.0, 1.0])
    pos = normalised_positions(aff, (5, 5, 10), axis=2)
    np.testing.assert_allclose(pos, np.arange(10) / 9)
    np.testing.assert_array_equal(partition_index(pos, 4), [0, 0, 0, 1, 1, 2, 2, 3, 3, 3])


def test_positions_are_physical_not_index_based():
    # a volume stored inferior->superior reversed (negative z step): plane 0 is the TOP (pos 1)
    aff = np.array([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, -2.0, 50], [0, 0, 0, 1]])
    pos = normalised_positions(aff, (4, 4, 5), axis=2)
    np.testing.assert_allclose(pos, [1.0, 0.75, 0.5, 0.25, 0.0])
    # axis permuted: voxel axis 0 runs along world S
    aff2 = np.array([[0, 1.0, 0, 0], [0, 0, 1.0, 0], [4.0, 0, 0, -8], [0, 0, 0, 1]])
    np.testing.assert_allclose(normalised_positions(aff2, (3, 2, 2), axis=0), [0, 0.5, 1.0])


def test_partition_index_edges_and_torch():
    p = torch.tensor([0.0, 0.249, 0.25, 0.5, 0.999, 1.0])
    assert partition_index(p, 4).tolist() == [0, 0, 1, 2, 3, 3]
    assert partition_index(np.array([0.5]), 1).tolist() == [0]
    with pytest.raises(ValueError):
        partition_index(p, 0)


def test_global_pairs_hand_worked():
    # 3 images, two views: ids [0,1,2,0,1,2]; partitions of images: [0, 0, 1]
    ids = torch.tensor([0, 1, 2, 0, 1, 2])
    part = torch.tensor([0, 0, 1, 0, 0, 1])
    pos, excl = global_pairs("GR", ids, part)
    assert excl is None
    assert pos[0].tolist() == [True, False, False, True, False, False]
    pos, excl = global_pairs("GD-", ids, part)
    assert pos[0].tolist() == [True, False, False, True, False, False]
    # image 0 and image 1 share partition 0 -> excluded from each other's negatives
    assert excl[0].tolist() == [False, True, False, False, True, False]
    assert excl[2].tolist() == [False] * 6
    pos, excl = global_pairs("GD", ids, part)
    assert excl is None
    assert pos[0].tolist() == [True, True, False, True, True, False]
    assert pos[2].tolist() == [False, False, True, False, False, True]
    with pytest.raises(ValueError):
        global_pairs("XX", ids, part)


def test_local_pairs_hand_worked():
    # 2 images (both views -> 4 items), R = 2 regions: flattened item-major
    ids = torch.tensor([0, 1, 0, 1])
    part = torch.tensor([0, 0, 0, 0])
    pos, excl, reg, _ = local_pairs("L", ids, part, 2, within_image_negatives=True)
    assert reg.tolist() == [0, 1, 0, 1, 0, 1, 0, 1]
    # region 0 of image 0 (row 0) is positive with region 0 of image 0's other view (row 4)
    assert pos[0].nonzero().flatten().tolist() == [0, 4]
    # negatives only from the same image: rows of image 1 (2, 3, 6, 7) are excluded
    assert excl[0].nonzero().flatten().tolist() == [2, 3, 6, 7]
    pos, excl, _, _ = local_pairs("L", ids, part, 2, within_image_negatives=False)
    assert excl is None
    # L^D: same region of any image in the same partition is positive
    pos, excl, _, _ = local_pairs("LD", ids, part, 2)
    assert pos[0].nonzero().flatten().tolist() == [0, 2, 4, 6]
    assert excl is None
    part2 = torch.tensor([0, 1, 0, 1])
    pos, _, _, _ = local_pairs("LD", ids, part2, 2)
    assert pos[0].nonzero().flatten().tolist() == [0, 4]


def test_region_boxes_grid_and_random():
    boxes = region_boxes((8, 8), 3, 4, "grid")
    assert boxes == [(slice(0, 3), slice(0, 3)), (slice(0, 3), slice(5, 8)),
                     (slice(5, 8), slice(0, 3)), (slice(5, 8), slice(5, 8))]
    g = torch.Generator().manual_seed(0)
    rb = region_boxes((10, 12, 6), 2, 5, "random", g)
    assert len(rb) == 5
    for b in rb:
        for s, n in zip(b, (10, 12, 6), strict=True):
            assert 0 <= s.start and s.stop <= n and s.stop - s.start == 2
    with pytest.raises(ValueError):
        region_boxes((4, 4), 5, 1)


def test_pool_regions_means_and_memory_is_independent_of_pixels():
    f = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    out = pool_regions(f, [(slice(0, 2), slice(0, 2)), (slice(2, 4), slice(2, 4))])
    assert out.shape == (2, 2, 1)
    assert out[0, 0, 0].item() == pytest.approx((0 + 1 + 4 + 5) / 4)
    assert out[1, 1, 0].item() == pytest.approx(16 + (10 + 11 + 14 + 15) / 4)
    # the embeddings entering the loss are (B, R, C) whatever the feature-map size
    big = torch.zeros(2, 3, 64, 64)
    assert pool_regions(big, region_boxes((64, 64), 3, 13)).shape == (2, 13, 3)


def test_partition_dataset_draws_one_image_per_partition():
    vol = torch.arange(10, dtype=torch.float32).view(1, 1, 1, 10).expand(1, 4, 4, 10).clone()
    aff = np.diag([1.0, 1.0, 2.0, 1.0])
    ds = PartitionDataset(2, [vol], [aff], num_partitions=4)
    torch.manual_seed(0)
    item = ds[0]
    assert item["x"].shape == (4, 1, 4, 4)
    assert item["partition"].tolist() == [0, 1, 2, 3]
    planes = item["x"][:, 0, 0, 0].long().tolist()  # voxel value = plane index
    expected = {0: {0, 1, 2}, 1: {3, 4}, 2: {5, 6}, 3: {7, 8, 9}}
    for s, k in enumerate(planes):
        assert k in expected[s]
        assert item["position"][s].item() == pytest.approx(k / 9)


def test_partition_dataset_respects_selection_keep_mask():
    vol = torch.arange(10, dtype=torch.float32).view(1, 1, 1, 10).expand(1, 4, 4, 10).clone()
    keep = np.zeros(10, bool)
    keep[[1, 4, 8]] = True
    ds = PartitionDataset(2, [vol], [np.eye(4)], num_partitions=2, keep=[keep])
    torch.manual_seed(0)
    for i in range(5):
        planes = set(ds[i]["x"][:, 0, 0, 0].long().tolist())
        assert planes <= {1, 4, 8}


def test_selection_hook_every_n_keeps_one_plane_in_two(tiny_msd, tmp_path):
    from polyclr.config import merge
    from polyclr.pipelines.volume.config import VolumeConfig
    from polyclr.pipelines.volume.data import apply_selection, prepare

    cfg = merge(VolumeConfig(), {"data": {"spacing": [2, 2, 3], "slice_size": [32, 32]},
                                 "selection": {"method": "every_n", "every_n": 2}})
    cases = prepare(cfg, tiny_msd)[:2]
    masks = apply_selection(cfg, cases, tmp_path)
    assert len(masks) == 2 and (tmp_path / "selection.csv").is_file()
    for m, c in zip(masks, cases, strict=True):
        assert len(m) == c.image.shape[3] and m.sum() == (len(m) + 1) // 2
