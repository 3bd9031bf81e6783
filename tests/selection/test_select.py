"""Greedy selection: hand-worked examples, physical order, edge cases and bad input."""

import numpy as np
import pytest

from polyclr.errors import ConfigError, DataError
from polyclr.selection import COLUMNS, natural_key, processing_order, select_items, strategies
from polyclr.selection.hashing import dhash


def _patterns(seed: int = 0, n: int = 3, size: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, size, size)).astype(np.uint8)


def test_greedy_dense_hand_worked():
    # distances between 5 items in visiting order; threshold 2:
    # 0 kept; 1 (d=1 to 0) dropped; 2 (d=5 to 0) kept; 3 (d=3 to 0, d=2 to 2) dropped -> ref 2;
    # 4 (d=2 to 1 only, but 1 was dropped; d=4 to 0, d=6 to 2) kept.
    d = np.array([[0, 1, 5, 3, 4],
                  [1, 0, 6, 4, 2],
                  [5, 6, 0, 2, 6],
                  [3, 4, 2, 0, 5],
                  [4, 2, 6, 5, 0]], dtype=float)
    members = np.arange(5)
    kept = np.zeros(5, bool)
    score = np.full(5, np.nan)
    ref = np.full(5, -1)
    strategies._greedy_dense(members, d <= 2, d, True, kept, score, ref)
    assert kept.tolist() == [True, False, True, False, True]
    assert ref[1] == 0 and ref[3] == 2 and score[3] == 2
    # the sparse (index) path must agree on the same pairs
    i, j = np.nonzero((d <= 2) & ~np.eye(5, dtype=bool))
    kept2 = np.zeros(5, bool)
    score2 = np.full(5, np.nan)
    ref2 = np.full(5, -1)
    strategies._greedy_pairs(members, i, j, d[i, j], True, kept2, score2, ref2)
    assert kept2.tolist() == kept.tolist()
    assert ref2[3] == 2


def test_dhash_selection_drops_near_duplicates_in_physical_order():
    a, b, _ = _patterns()
    noisy = np.clip(a.astype(int) + 1, 0, 255).astype(np.uint8)  # same dHash as a
    imgs = np.stack([b, a, noisy, a])
    # physical order: item 3 (pos 0), item 1 (pos 1), item 2 (pos 2), item 0 (pos 3)
    res = select_items(imgs, ["v"] * 4, [3.0, 1.0, 2.0, 0.0], "dhash", 6, item_names=list("wxyz"))
    assert list(res.table.columns) == COLUMNS
    assert res.kept_mask.tolist() == [True, False, False, True]
    assert res.table.loc[1, "reason"].startswith("dhash distance 0 <= 6 to z")
    assert res.table.loc[2, "reason"] == "dhash distance 0 <= 6 to z"
    assert int(dhash(a)[0] ^ dhash(noisy)[0]) == 0


def test_natural_order_and_ties():
    assert sorted(["slice_10", "slice_2", "slice_1"], key=natural_key) == ["slice_1", "slice_2", "slice_10"]
    groups = np.array(["vol_10", "vol_2", "vol_2", "vol_10"], dtype=object)
    order = processing_order(groups, np.array([0.0, 5.0, -1.0, 0.0]))
    assert order.tolist() == [2, 1, 0, 3]  # vol_2 first; ties keep input order


def test_groups_are_independent_and_global_scope_is_not():
    a, b, _ = _patterns()
    imgs = np.stack([a, b, a, b])
    per = select_items(imgs, ["g1", "g1", "g2", "g2"], None, "dhash")
    assert per.kept_mask.all()
    glob = select_items(imgs, ["g1", "g1", "g2", "g2"], None, "dhash", scope="global")
    assert glob.kept_mask.tolist() == [True, True, False, False]
    s = glob.summary()
    assert s["items_in"] == 4 and s["items_kept"] == 2 and s["reduction_ratio"] == 0.5
    assert s["per_group"]["g2"] == {"items_in": 2, "items_kept": 0, "items_dropped": 2}


def test_constant_slices_collapse_and_single_item_group():
    imgs = np.zeros((5, 16, 16), dtype=np.float32)
    imgs[2] = np.random.default_rng(0).random((16, 16))
    res = select_items(imgs, ["v"] * 4 + ["w"], None, "dhash", intensity="item")
    assert res.kept_mask.tolist() == [True, False, True, False, True]
    s = res.summary()
    assert s["constant_items"] == 4 and s["constant_items_dropped"] == 2
    assert s["single_item_groups"] == ["w"]


def test_every_n_and_target_count():
    res = select_items(np.zeros((10, 2)), None, np.arange(10)[::-1], "every_n", every_n=3)
    # physical order is reversed: items 9, 6, 3, 0 sit at order indices 0, 3, 6, 9
    assert np.flatnonzero(res.kept_mask).tolist() == [0, 3, 6, 9]
    res = select_items(np.zeros((10, 2)), ["a"] * 6 + ["b"] * 4, None, "every_n", target_count=5)
    assert res.kept_mask.sum() == 5
    assert res.kept_mask[:6].sum() == 3 and res.kept_mask[6:].sum() == 2


def test_embedding_cosine_hand_worked_and_index_path():
    f = np.array([[1, 0], [0.99, 0.1], [0, 1], [0.1, 0.99], [-1, 0]], dtype=np.float32)
    res = select_items(f, None, None, "embedding", 0.95)
    assert res.kept_mask.tolist() == [True, False, True, False, True]
    assert res.table.loc[1, "score"] == pytest.approx(0.99 / np.hypot(0.99, 0.1), abs=1e-6)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(30, 16))
    x = np.repeat(centres, 5, axis=0) + 0.02 * rng.normal(size=(150, 16))
    dense = select_items(x, None, None, "embedding", 0.97)
    index = select_items(x, None, None, "embedding", 0.97, dense_max=10)  # nearest-neighbour index path
    assert index.kept_mask.tolist() == dense.kept_mask.tolist()
    assert dense.kept_mask.sum() == 30


def test_hash_index_path_matches_dense():
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, size=(20, 32, 32))
    imgs = np.repeat(base, 3, axis=0) + rng.integers(0, 2, size=(60, 32, 32))
    imgs = np.clip(imgs, 0, 255).astype(np.uint8)
    dense = select_items(imgs, None, None, "dhash", 6)
    index = select_items(imgs, None, None, "dhash", 6, dense_max=8)
    assert index.kept_mask.tolist() == dense.kept_mask.tolist()


def test_ssim_and_entropy_identical_neighbours():
    a, b, _ = _patterns(size=32)
    imgs = np.stack([a, a, b, b, a])
    for method in ("ssim", "entropy"):
        res = select_items(imgs, None, None, method)
        assert res.kept_mask.tolist() == [True, False, True, False, True], method
        assert res.table.loc[1, "score"] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("kwargs, err", [
    ({"method": "nope"}, ConfigError),
    ({"method": "dhash", "threshold": 65}, ConfigError),
    ({"method": "dhash", "threshold": -1}, ConfigError),
    ({"method": "ssim", "threshold": 1.5}, ConfigError),
    ({"method": "embedding", "threshold": float("nan")}, ConfigError),
    ({"method": "every_n", "every_n": 0}, ConfigError),
    ({"method": "ssim", "scope": "global"}, ConfigError),
    ({"method": "dhash", "scope": "world"}, ConfigError),
])
def test_bad_settings(kwargs, err):
    with pytest.raises(err):
        select_items(np.zeros((3, 8, 8), np.uint8), **kwargs)


def test_bad_data():
    with pytest.raises(DataError, match="empty"):
        select_items(np.zeros((0, 8, 8)), method="dhash")
    x = np.zeros((3, 8, 8), np.float32)
    x[1, 2, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        select_items(x, method="dhash")
    with pytest.raises(DataError, match="NaN"):
        select_items(np.array([[1.0, np.nan]]), method="embedding")
    with pytest.raises(DataError, match="all zeros"):
        select_items(np.zeros((2, 3)), method="embedding")
    with pytest.raises(DataError, match="length mismatch"):
        select_items(np.zeros((3, 8, 8), np.uint8), groups=["a", "b"])
    with pytest.raises(DataError, match="positions"):
        select_items(np.zeros((2, 8, 8), np.uint8), positions=[0.0, np.inf])


def test_deterministic():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 24, 24)).astype(np.float32)
    r1 = select_items(x, None, None, "phash", 28)
    r2 = select_items(x, None, None, "phash", 28)
    assert r1.table.equals(r2.table)


def test_index_paths_without_faiss(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss -> ImportError: sklearn path
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(12, 8))
    x = np.repeat(centres, 4, axis=0) + 0.01 * rng.normal(size=(48, 8))
    assert select_items(x, None, None, "embedding", 0.98, dense_max=10).kept_mask.sum() == 12
    base = rng.integers(0, 256, size=(6, 32, 32))
    imgs = np.clip(np.repeat(base, 3, axis=0), 0, 255).astype(np.uint8)
    assert select_items(imgs, None, None, "dhash", 4, dense_max=10).kept_mask.sum() == 6


def test_config_keyword_and_array_protocol():
    from polyclr.selection import SelectionConfig

    a, b, _ = _patterns()
    imgs = np.stack([a, a, b])
    res = select_items(imgs, config=SelectionConfig(method="dhash", threshold=3))
    idx = np.array([10, 11, 12])
    assert idx[np.asarray(res)].tolist() == [10, 12]
    off = select_items(imgs, config=SelectionConfig())
    assert np.asarray(off).all()
