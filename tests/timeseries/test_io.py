"""Readers (.ts via aeon, .npz, CSV long table), padding, normalisation, bad input."""

import os
from pathlib import Path

import numpy as np
import pytest

from polyclr.errors import DataError
from polyclr.modalities.timeseries.data import ChannelNormalizer, build_dataset
from polyclr.modalities.timeseries.io import load_dataset, window_dataset


def test_ucr_train_finds_test(aeon_data):
    d = load_dataset(os.path.join(aeon_data, "GunPoint", "GunPoint_TRAIN.ts"))
    assert d.X.shape == (200, 1, 150) and d.X.dtype == np.float32
    assert (d.split == "train").sum() == 50 and (d.split == "test").sum() == 150
    assert d.classes == ["1", "2"]
    assert len(np.unique(d.patient_id)) == 200  # one "patient" per sample, none shared


def test_directory_and_multivariate(aeon_data):
    d = load_dataset(os.path.join(aeon_data, "BasicMotions"))
    assert d.X.shape == (80, 6, 100) and d.n_classes == 4


def test_variable_length_is_padded_not_truncated(aeon_data):
    from aeon.datasets import load_from_ts_file

    path = os.path.join(aeon_data, "JapaneseVowels", "JapaneseVowels_TRAIN.ts")
    raw, _ = load_from_ts_file(path)
    d = load_dataset(path)
    train = d.indices("train")
    assert d.length == max(a.shape[1] for a in raw) or d.length >= max(a.shape[1] for a in raw)
    for i in (0, 1, 17):
        n = raw[i].shape[1]
        assert d.lengths[train[i]] == n
        np.testing.assert_allclose(d.X[train[i], :, :n], raw[i], rtol=1e-6)
        assert np.isnan(d.X[train[i], :, n:]).all()


def test_npz_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 2, 30)).astype(np.float32)
    X[3, :, 25:] = np.nan  # end padding is allowed
    y = np.array(["a", "b"] * 6)
    p = tmp_path / "d.npz"
    np.savez(p, X=X, y=y, patient_id=np.repeat(np.arange(4), 3), trial_id=np.arange(12))
    d = load_dataset(p)
    assert d.lengths[3] == 25 and d.lengths[0] == 30
    assert len(np.unique(d.patient_id)) == 4 and list(d.y[:2]) == [0, 1]


def test_csv_long_table(tmp_path):
    rows = ["patient_id,trial_id,time,ecg,resp,label"]
    for p in range(2):
        for t in range(2):
            n = 5 if (p, t) != (1, 1) else 4
            for k in range(n):
                rows.append(f"p{p},{t},{k},{p + k},{-k},{'af' if t else 'n'}")
    f = tmp_path / "long.csv"
    f.write_text("\n".join(rows) + "\n")
    d = load_dataset(f)
    assert d.X.shape == (4, 2, 5)
    assert d.channel_names == ["ecg", "resp"]
    assert d.lengths.tolist() == [5, 5, 5, 4]
    np.testing.assert_allclose(d.X[2, 0], [1, 2, 3, 4, 5])
    assert len(np.unique(d.trial_id)) == 4 and len(np.unique(d.patient_id)) == 2


def test_window_dataset_keeps_metadata():
    X = np.arange(2 * 1 * 10, dtype=np.float32).reshape(2, 1, 10)
    X[1, :, 7:] = np.nan
    d = build_dataset(X, np.array([0, 1]), "mem", patient_id=np.array([5, 6]))
    w = window_dataset(d, 4, 3)
    # series 0: starts 0, 3, 6; series 1 (length 7): starts 0, 3
    assert w.X.shape == (5, 1, 4)
    np.testing.assert_array_equal(w.X[2, 0], [6, 7, 8, 9])
    assert w.patient_id.tolist() == [0, 0, 0, 1, 1] and not np.isnan(w.X).any()


def test_normaliser_uses_train_only():
    X = np.stack([np.full((2, 5), 1.0), np.full((2, 5), 3.0), np.full((2, 5), 100.0)]).astype(np.float32)
    X[:, 1] *= 2
    nz = ChannelNormalizer().fit(X[:2])
    np.testing.assert_allclose(nz.mean_, [2.0, 4.0])
    np.testing.assert_allclose(nz.std_, [1.0, 2.0])
    np.testing.assert_allclose(nz.transform(X)[2, 0], np.full(5, 98.0), rtol=1e-5)


BAD = Path(__file__).resolve().parents[1] / "data" / "bad" / "timeseries"


def _bad_npz(tmp_path, name, **arrays):
    p = tmp_path / name
    np.savez(p, **arrays)
    return p


@pytest.mark.parametrize("kind,needle", [
    ("2d", "3 dimensions"), ("mismatch", "but y has"), ("all_nan", "is empty"),
    ("single_class", "single class"), ("empty", "empty"), ("no_y", "missing array 'y'"),
])
def test_bad_npz(tmp_path, kind, needle):
    X = np.random.default_rng(0).normal(size=(6, 1, 8)).astype(np.float32)
    y = np.array([0, 1] * 3)
    if kind == "2d":
        p = _bad_npz(tmp_path, "bad.npz", X=X[:, 0], y=y)
    elif kind == "mismatch":
        p = _bad_npz(tmp_path, "bad.npz", X=X, y=y[:5])
    elif kind == "all_nan":  # NaN inside a series is a masked gap; an all-NaN series is refused
        X[2] = np.nan
        p = _bad_npz(tmp_path, "bad.npz", X=X, y=y)
    elif kind == "single_class":
        p = _bad_npz(tmp_path, "bad.npz", X=X, y=np.zeros(6))
    elif kind == "no_y":
        p = _bad_npz(tmp_path, "bad.npz", X=X)
    else:
        p = tmp_path / "bad.npz"
        p.write_bytes(b"")
    with pytest.raises(DataError) as err:
        load_dataset(p)
    assert needle in str(err.value) and "bad.npz" in str(err.value)


@pytest.mark.parametrize("name", sorted(p.name for p in BAD.glob("*")) if BAD.is_dir() else [])
def test_committed_bad_files(name):
    with pytest.raises(DataError) as err:
        load_dataset(BAD / name)
    assert name in str(err.value)
