"""The public TS2Vec code's iteration budget (200 / 600 by training-set size) as the default,
overridden by engine.max_steps; its long-series sections; the RBF-SVM probe (its protocol)."""

import numpy as np
import pytest

from polyclr.evaluation import svm_probe
from polyclr.modalities.timeseries.data import build_dataset
from polyclr.modalities.timeseries.objectives import split_long_series, ts2vec_iterations
from polyclr.pipelines.timeseries import train as T
from polyclr.pipelines.timeseries.config import TimeSeriesConfig
from polyclr.pipelines.timeseries.data import Prepared


def test_iterations_threshold_closed_form():
    assert ts2vec_iterations(100, 1000, 1) == 200  # exactly 100,000 values: still small
    assert ts2vec_iterations(100, 1000, 2) == 600
    assert ts2vec_iterations(1, 100_001, 1) == 600
    assert ts2vec_iterations(0, 5, 5) == 200
    with pytest.raises(ValueError):
        ts2vec_iterations(-1, 5, 5)


def _data(n, c, t, lengths=None):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, c, t)).astype(np.float32)
    for i, L in enumerate(lengths or []):
        X[i, :, L:] = np.nan
    return build_dataset(X, np.arange(n) % 2, "synthetic.npz")


@pytest.mark.parametrize(("n", "c", "t", "steps"), [
    (50, 2, 1000, 200),    # 100,000 values
    (51, 2, 1000, 600),    # 102,000
    (200, 1, 427, 200),    # 85,400 (OSULeaf-sized)
    (100, 1, 1460, 600),   # 146,000 (ACSF1-sized)
])
def test_default_budget_follows_rule(n, c, t, steps):
    data = _data(n, c, t)
    assert T.pretraining_budget(TimeSeriesConfig(), data, np.arange(n)).max_steps == steps


def test_budget_counts_only_pretraining_rows_padded_to_their_longest():
    # 60 rows x 2 ch; the rows used have length <= 800 (the array is 1000 wide): 96,000 values
    data = _data(60, 2, 1000, lengths=[800] * 60)
    assert T.pretraining_budget(TimeSeriesConfig(), data, np.arange(60)).max_steps == 200
    assert T.pretraining_budget(TimeSeriesConfig(), _data(60, 2, 1000), np.arange(60)).max_steps == 600
    assert T.pretraining_budget(TimeSeriesConfig(), _data(60, 2, 1000), np.arange(40)).max_steps == 200


def test_max_steps_or_epochs_override_the_rule():
    data = _data(51, 2, 1000)
    cfg = TimeSeriesConfig()
    cfg.engine.max_steps = 7
    assert T.pretraining_budget(cfg, data, np.arange(51)).max_steps == 7
    cfg = TimeSeriesConfig()
    cfg.engine.max_epochs = 3
    got = T.pretraining_budget(cfg, data, np.arange(51))
    assert got.max_steps == -1 and got.max_epochs == 3


def test_pretrain_runs_the_budget(tmp_path):
    # 101 series x 1 ch x 1000 = 101,000 values -> 600 steps; a tiny encoder keeps it fast
    data = _data(101, 1, 1000)
    data.split = np.array(["train"] * 101, dtype=object)
    prep = Prepared(path=tmp_path / "synthetic.npz", raw=data, data=data, train=np.arange(101))
    cfg = TimeSeriesConfig()
    cfg.engine.logger, cfg.encoder.depth, cfg.encoder.hidden_dims, cfg.encoder.output_dims = "none", 1, 4, 4
    cfg.objective.max_train_length, cfg.objective.checkpoint_every_n_steps = 16, 0
    cfg.engine.checkpoint_every_n_epochs = 1000
    res = T.pretrain_encoder(cfg, prep, tmp_path)
    assert res["pretrain_steps"] == 600
    # 1000 // 16 = 62 sections per series, each a pre-training sample
    assert res["pretrain_samples"] == 101 * 62


def test_split_long_series_like_ts2vec():
    x = np.arange(2 * 1 * 10, dtype=np.float32).reshape(2, 1, 10)
    out, src = split_long_series(x, 3)  # 10 // 3 = 3 sections: widths 4, 3, 3 (NaN-padded to 4)
    assert out.shape == (6, 1, 4) and src.tolist() == [0, 1, 0, 1, 0, 1]
    np.testing.assert_array_equal(out[0, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(out[3, 0, :3], [14, 15, 16])
    assert np.isnan(out[3, 0, 3])
    same, src = split_long_series(x, 6)  # 10 // 6 = 1: unchanged
    assert same.shape == x.shape and src.tolist() == [0, 1]
    y = x.copy()
    y[1, 0, 4:] = np.nan  # its last two sections are all NaN -> dropped
    out, src = split_long_series(y, 3)
    assert out.shape == (4, 1, 4) and src.tolist() == [0, 1, 0, 0]


def test_svm_probe_separable_and_hard_margin_branch():
    rng = np.random.default_rng(0)
    def blobs(n):
        y = np.arange(n) % 2
        return rng.normal(size=(n, 4)) + 4 * y[:, None], y
    tr_x, tr_y = blobs(60)   # >= 50 samples, >= 5 per class: C by 5-fold CV
    te_x, te_y = blobs(40)
    assert svm_probe(tr_x, tr_y, te_x, te_y)["accuracy"] == 1.0
    tr_x, tr_y = blobs(8)    # < 50: hard margin (C = inf), no CV
    assert svm_probe(tr_x, tr_y, te_x, te_y)["accuracy"] >= 0.95
    with pytest.raises(ValueError):
        svm_probe(tr_x, np.zeros(8, int), te_x, te_y)
