"""Long inputs are processed in windows with memory linear in the data, never a giant batch."""

from __future__ import annotations

import tracemalloc

import numpy as np
import torch

from polyclr.modalities.timeseries.data import build_dataset
from polyclr.modalities.timeseries.io import window_dataset


def test_long_recording_windowing_is_linear_in_memory(tmp_path):
    n = 2_000_000  # a ~9 minute ECG at 4 kHz, one channel
    X = np.sin(np.arange(n, dtype=np.float32) / 50.0)[None, None, :]
    data = build_dataset(X, np.array([0]), tmp_path / "long.npz", require_labels=False)
    tracemalloc.start()
    windows = window_dataset(data, length=1000, stride=1000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert windows.X.shape == (2000, 1, 1000)
    out_bytes = windows.X.nbytes
    # gather indices (int64) + gathered copy: a small constant times the output, not quadratic
    assert peak < 5 * out_bytes, (peak, out_bytes)


def test_windowed_embedding_peak_memory_does_not_grow_with_recording_length():
    from polyclr.modalities.timeseries.encoders import build_encoder
    from polyclr.pipelines.timeseries.train import embed

    torch.manual_seed(0)
    encoder = build_encoder("ts2vec", 1, 1000, output_dims=8, hidden_dims=8, depth=2)

    def peak_for(n_windows: int) -> int:
        X = np.random.default_rng(0).standard_normal((n_windows, 1, 1000)).astype(np.float32)
        tracemalloc.start()
        emb = embed(encoder, X, batch_size=64)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert emb.shape == (n_windows, 8)
        return peak

    small, large = peak_for(256), peak_for(4096)
    # 16x more windows: the output grows 16x (tiny), the per-batch working set does not.
    assert large < small + 4096 * 8 * 4 * 4 + 2_000_000, (small, large)
