"""Locked text tower, the order-aware token head, token caching and CWCL weight spread."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polyclr.losses import cwcl_weights
from polyclr.modalities.audio.text import TextEmbeddingCache, TextTower, TokenOrderHead

WORDS = {"a": 0, "beep": 1, "then": 2, "noise": 3, "chirp": 4}


def _fake_cache() -> TextEmbeddingCache:
    """Deterministic stand-in for MiniLM: bag-of-words sentence vectors, one-hot word tokens.

    The sentence vector ignores word order (like a mean-pooled encoder); the token sequence keeps it.
    """

    def sentences(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 8), np.float32)
        for i, t in enumerate(texts):
            for w in t.split():
                out[i, WORDS[w]] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def tokens(texts: list[str]) -> list[np.ndarray]:
        return [np.eye(8, dtype=np.float32)[[WORDS[w] for w in t.split()]] for t in texts]

    return TextEmbeddingCache(sentences, tokens)


def test_locked_tower_returns_the_frozen_embedding_and_has_no_parameters() -> None:
    cache = _fake_cache()
    tower = TextTower("frozen", 8, cache=cache, frozen_dim=8, head="locked")
    assert not list(tower.parameters())
    emb = tower.encode(["a beep", "a chirp then noise"])
    expected = cache.get(["a beep", "a chirp then noise"])
    np.testing.assert_allclose(emb.numpy(), expected, atol=1e-6)
    with pytest.raises(ValueError, match="proj_dim"):
        TextTower("frozen", 4, cache=cache, frozen_dim=8, head="locked")


def test_order_head_is_zero_at_init_and_then_order_sensitive() -> None:
    cache = _fake_cache()
    torch.manual_seed(0)
    tower = TextTower("frozen", 8, cache=cache, frozen_dim=8, head="locked", order_head=True)
    ab, ba = "a beep then noise", "noise then a beep"
    assert np.allclose(cache.get([ab]), cache.get([ba]))  # the sentence path cannot tell them apart
    tower.eval()
    e = tower.encode([ab, ba])
    np.testing.assert_allclose(e[0].numpy(), e[1].numpy(), atol=1e-6)  # zero-initialised head
    torch.nn.init.normal_(tower.order.out.weight)  # as after training: the head now contributes
    e = tower.encode([ab, ba])
    assert float((e[0] - e[1]).abs().max()) > 1e-3


def test_token_head_padding_does_not_change_output() -> None:
    torch.manual_seed(0)
    head = TokenOrderHead(8, 4, dim=16, max_len=6).eval()
    torch.nn.init.normal_(head.out.weight)
    tok = torch.randn(1, 3, 8)
    padded = torch.cat([tok, torch.randn(1, 3, 8)], dim=1)  # garbage in padded slots
    short = head(tok, torch.ones(1, 3, dtype=torch.bool))
    long = head(padded, torch.tensor([[True, True, True, False, False, False]]))
    torch.testing.assert_close(short, long, atol=1e-5, rtol=1e-5)


def test_token_outputs_are_cached_once_per_string() -> None:
    cache = _fake_cache()
    tower = TextTower("frozen", 8, cache=cache, frozen_dim=8, head="mlp", order_head=True)
    tower.register(["a beep", "noise then a beep", "a beep"])
    tower.register(["a beep", "a chirp"])
    idx = tower.register(["a chirp", "a beep"])
    tower(idx)
    tower(idx)
    assert cache.n_encoded == 3 and cache.n_encoded_tokens == 3
    tok, mask = cache.get_tokens(["noise then a beep"], max_len=6)
    assert tok.shape == (1, 6, 8) and mask.tolist() == [[True] * 4 + [False] * 2]
    assert tok[0, 0, WORDS["noise"]] == 1.0 and tok[0, 3, WORDS["beep"]] == 1.0


def test_cwcl_weight_power_sharpens_targets_hand_example() -> None:
    # cos(q0, q1) = 0.6 -> paper weight (1 + 0.6) / 2 = 0.8; power 8 -> 0.8 ** 8 = 0.16777
    q = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    w = cwcl_weights(q)
    assert float(w[0, 1]) == pytest.approx(0.8)
    assert float((w**8)[0, 1]) == pytest.approx(0.8**8)
    # row targets: paper 1 / 1.8 on the diagonal, power 8: 1 / 1.16777
    t1, t8 = w / w.sum(1, keepdim=True), w**8 / (w**8).sum(1, keepdim=True)
    assert float(t1[0, 0]) == pytest.approx(1 / 1.8) and float(t8[0, 0]) == pytest.approx(1 / (1 + 0.8**8))


class _NoMixing(torch.nn.Module):
    def forward(self, x: torch.Tensor, src_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        return x


def test_order_contrast_flips_sign_for_reversed_sequence_without_attention_mixing() -> None:
    # with the transformer layer replaced by identity and no positions, the contrast of a
    # reversed sequence is exactly the negative: early-weighted mean <-> late-weighted mean
    torch.manual_seed(0)
    head = TokenOrderHead(8, 4, dim=8, max_len=5).eval()
    head.encoder = _NoMixing()
    torch.nn.init.zeros_(head.pos)
    torch.nn.init.normal_(head.out.weight)
    tok = torch.randn(1, 3, 8)
    mask = torch.ones(1, 3, dtype=torch.bool)
    fwd, rev = head(tok, mask), head(tok.flip(1), mask)
    torch.testing.assert_close(fwd, -rev, atol=1e-5, rtol=1e-5)
    # a constant sequence (no order information) gives exactly zero
    const = tok[:, :1].expand(1, 3, 8)
    torch.testing.assert_close(head(const, mask), torch.zeros(1, 4), atol=1e-5, rtol=0)
    assert float(head(tok[:, :1], mask[:, :1]).detach().abs().max()) < 1e-6  # single token: zero


def test_order_keys_match_reversals_across_wordings() -> None:
    from polyclr.modalities.audio.order import order_keys

    caps = ["a beep then noise", "noise followed by a beep", "first a beep, then noise", "a beep",
            "a chirp before a beep"]
    k = order_keys(caps)
    conflict = (k[:, 1, None] == k[None, :, 0]) & (k[:, 1, None] >= 0)
    expected = np.zeros((5, 5), bool)
    expected[0, 1] = expected[1, 0] = expected[2, 1] = expected[1, 2] = True
    np.testing.assert_array_equal(conflict, expected)
    assert k[3].tolist() == [-1, -1]


def test_cwcl_order_objective_zeroes_weights_of_swapped_captions() -> None:
    from polyclr.modalities.audio.encoders import AudioEncoder
    from polyclr.modalities.audio.objectives import AudioTextObjective

    cache = _fake_cache()
    tower = TextTower("frozen", 8, cache=cache, frozen_dim=8, head="locked")
    texts = ["a beep then noise", "noise then a beep", "a chirp"]
    idx = tower.register(texts)
    enc = AudioEncoder(frontend={"sample_rate": 8000, "n_mels": 32, "n_fft": 256, "hop_length": 80},
                       channels=(4, 8), embed_dim=16, proj_dim=8, specaugment={"n_masks": 0})
    obj = AudioTextObjective(enc, tower, "cwcl+order", cwcl_power=1.0)
    conflicts = obj._swap_conflicts(idx)
    assert conflicts.tolist() == [[False, True, False], [True, False, False], [False, False, False]]
    # the order-blind sentence vectors make the paper weight of the swapped pair exactly 1
    assert float(cwcl_weights(tower.frozen_embeddings(idx))[0, 1]) == pytest.approx(1.0)


def test_cwcl_center_uses_mean_of_registered_captions() -> None:
    from polyclr.modalities.audio.encoders import AudioEncoder
    from polyclr.modalities.audio.objectives import AudioTextObjective

    tower = TextTower("frozen", 8, cache=_fake_cache(), frozen_dim=8, head="locked")
    idx = tower.register(["a beep then noise", "noise then a beep", "a chirp"])
    enc = AudioEncoder(frontend={"sample_rate": 8000, "n_mels": 32, "n_fft": 256, "hop_length": 80},
                       channels=(4, 8), embed_dim=16, proj_dim=8, specaugment={"n_masks": 0})
    obj = AudioTextObjective(enc, tower, "cwcl", cwcl_power=1.0, cwcl_center=True)
    q = torch.nn.functional.normalize(tower.frozen_embeddings(idx).float(), dim=-1)
    assert torch.allclose(obj._caption_mean(), q.mean(0))
    w = cwcl_weights(tower.frozen_embeddings(idx), center=obj._caption_mean())
    qc = torch.nn.functional.normalize(q - q.mean(0), dim=-1)
    assert torch.allclose(w, ((1 + qc @ qc.T) / 2).clamp(0, 1), atol=1e-6)
    tower.register(["a chirp then noise"])  # new captions: the mean is recomputed
    assert obj._caption_mean().shape == (8,) and obj._frozen_mean_n == 4
