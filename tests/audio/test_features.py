"""Front end, crops and SpecAugment."""

from __future__ import annotations

import numpy as np
import torch

from polyclr.modalities.audio.features import (
    FrontEndConfig,
    LogMel,
    SpecAugment,
    eval_crops,
    eval_starts,
    repeat_pad,
    train_crop,
)


def test_repeat_pad_tiles() -> None:
    np.testing.assert_array_equal(repeat_pad(np.array([1, 2, 3], np.float32), 7), [1, 2, 3, 1, 2, 3, 1])
    np.testing.assert_array_equal(repeat_pad(np.arange(10, dtype=np.float32), 4), [0, 1, 2, 3])


def test_eval_crop_is_deterministic_and_centred() -> None:
    x = np.arange(100, dtype=np.float32)
    a, b = eval_crops(x, 20), eval_crops(x, 20)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0], np.arange(40, 60))  # centre: start (100-20)//2 = 40
    assert eval_starts(100, 20, 3) == [0, 40, 80]
    multi = eval_crops(x, 20, 3)
    assert multi.shape == (3, 20) and multi[2, -1] == 99
    short = eval_crops(np.array([1, 2], np.float32), 5)
    np.testing.assert_array_equal(short, [[1, 2, 1, 2, 1]])


def test_train_crop_random_but_in_bounds() -> None:
    x = np.arange(1000, dtype=np.float32)
    rng = np.random.default_rng(0)
    starts = {int(train_crop(x, 100, rng)[0]) for _ in range(20)}
    assert len(starts) > 5 and all(0 <= s <= 900 for s in starts)
    same = [train_crop(x, 100, np.random.default_rng(7)) for _ in range(2)]
    np.testing.assert_array_equal(same[0], same[1])  # same generator state -> same crop
    np.testing.assert_array_equal(np.diff(same[0]), np.ones(99))  # a contiguous window


def test_logmel_peak_band_matches_tone() -> None:
    cfg = FrontEndConfig(sample_rate=16000, n_mels=64)
    mel = LogMel(cfg)
    t = torch.arange(16000) / 16000
    low = mel(torch.sin(2 * np.pi * 300 * t)[None])
    high = mel(torch.sin(2 * np.pi * 3000 * t)[None])
    assert low.shape == (1, 64, 51)  # 16000 // 320 + 1 frames
    assert int(low[0].mean(1).argmax()) < int(high[0].mean(1).argmax())
    silent = mel(torch.zeros(1, 16000))
    assert torch.isfinite(silent).all()  # silence gives the floor, not -inf


def test_specaugment_masks_only_in_training() -> None:
    torch.manual_seed(0)
    aug = SpecAugment(freq_mask=10, time_mask=10, n_masks=2)
    x = torch.randn(4, 64, 100)
    aug.eval()
    assert torch.equal(aug(x), x)
    aug.train()
    y = aug(x)
    assert y.shape == x.shape and (y != x).any()
    # masks differ between examples (iid masks)
    changed = (y != x).flatten(1).sum(1)
    assert len(set(changed.tolist())) > 1
