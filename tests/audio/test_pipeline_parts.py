"""Dataset preparation, training items with order swaps, deterministic evaluation embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from polyclr.modalities.audio.encoders import AudioEncoder
from polyclr.modalities.audio.order import swap_audio
from polyclr.pipelines.audio.data import ClipTrainDataset, embed_items, prepare


def _tiny_encoder() -> AudioEncoder:
    torch.manual_seed(0)
    return AudioEncoder(frontend={"sample_rate": 8000, "n_mels": 32, "n_fft": 256, "hop_length": 80},
                        channels=(4, 8), embed_dim=16, proj_dim=8, specaugment={"n_masks": 2})


def test_prepare_splits_by_group(tiny_set: Path) -> None:
    prep = prepare(tiny_set, test_size=0.25, seed=0)
    train = {prep.items[i].group for i in prep.split["train"]}
    test = {prep.items[i].group for i in prep.split["test"]}
    assert train and test and not train & test
    assert len(prep.items) == 12 and sum(len(it.captions) for it in prep.items) == 20


def test_training_item_swaps_ordered_clips(tiny_set: Path) -> None:
    prep = prepare(tiny_set)
    items = [it for it in prep.items if it.name == "order_0.wav"] + [it for it in prep.items if it.name == "tone_0.wav"]
    texts = ["a tone followed by a noise", "a noise followed by a tone", "a tone", "the sound of a tone"]
    ds = ClipTrainDataset(items, 8000, clip_seconds=1.0, text_index={t: i for i, t in enumerate(texts)})
    np.random.seed(0)
    ordered, plain = ds[0], ds[1]
    assert ordered["has_swap"] and ordered["swap_text"] == 1 and ordered["text"] == 0
    # clip is exactly 1 s long at 8 kHz with its boundary at 0.5 s: the swap is the halves exchanged
    np.testing.assert_allclose(ordered["swap_wave"], swap_audio(ordered["wave"], 4000), atol=1e-6)
    assert not plain["has_swap"] and plain["swap_text"] == -1 and plain["wave"].shape == (8000,)


def test_eval_embeddings_are_deterministic(tiny_set: Path) -> None:
    prep = prepare(tiny_set)
    enc = _tiny_encoder()
    enc.train()  # embed_items must switch to eval (no SpecAugment, BN running stats)
    a1, f1 = embed_items(enc, prep.items, 8000, 0.3, n_crops=3)
    a2, f2 = embed_items(enc, prep.items, 8000, 0.3, n_crops=3)
    assert torch.equal(a1, a2) and torch.equal(f1, f2)
    assert a1.shape == (12, 8) and torch.allclose(a1.norm(dim=1), torch.ones(12), atol=1e-5)
