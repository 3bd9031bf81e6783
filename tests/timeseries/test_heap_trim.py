"""Time-series pre-training checks glibc's heap after every step (polyclr.engine.memory.HeapTrim)."""

import numpy as np

from polyclr.engine.trainer import TrimHeapCallback
from polyclr.modalities.timeseries.data import build_dataset
from polyclr.pipelines.timeseries import train as T
from polyclr.pipelines.timeseries.config import TimeSeriesConfig
from polyclr.pipelines.timeseries.data import Prepared


def _cfg(steps):
    cfg = TimeSeriesConfig()
    cfg.engine.logger, cfg.engine.max_steps = "none", steps
    cfg.encoder.depth, cfg.encoder.hidden_dims, cfg.encoder.output_dims = 1, 4, 4
    cfg.objective.checkpoint_every_n_steps = 0
    return cfg


def _prep(tmp_path):
    x = np.random.default_rng(0).normal(size=(16, 1, 32)).astype(np.float32)
    data = build_dataset(x, np.arange(16) % 2, "synthetic.npz")
    data.split = np.array(["train"] * 16, dtype=object)
    return Prepared(path=tmp_path / "synthetic.npz", raw=data, data=data, train=np.arange(16))


def test_pretraining_checks_the_heap_every_step(tmp_path, monkeypatch):
    seen = []

    class Recording(TrimHeapCallback):
        def __init__(self, budget_mb):
            super().__init__(budget_mb)
            seen.append(self)
            rss = iter(range(0, 100 << 20, 2 << 20))  # +2 MiB per step: over the 1 MiB budget
            self.heap._resident, self.heap._trim = lambda: next(rss), lambda: True

        def on_train_batch_end(self, trainer, *args):
            super().on_train_batch_end(trainer, *args)
            self.steps = getattr(self, "steps", 0) + 1

    monkeypatch.setattr(T, "TrimHeapCallback", Recording)
    monkeypatch.setattr(T, "HEAP_TRIM_MB", 1)
    res = T.pretrain_encoder(_cfg(6), _prep(tmp_path), tmp_path)
    assert res["pretrain_steps"] == 6
    (cb,) = seen
    assert cb.steps == 6
    assert cb.heap.trims == 3  # floor, trim, floor, trim, floor, trim


def test_heap_trim_can_be_switched_off(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(T, "TrimHeapCallback", lambda mb: made.append(mb))
    monkeypatch.setattr(T, "HEAP_TRIM_MB", 0)
    assert T.pretrain_encoder(_cfg(2), _prep(tmp_path), tmp_path)["pretrain_steps"] == 2
    assert made == []
