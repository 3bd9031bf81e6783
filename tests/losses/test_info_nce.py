"""Closed forms, a naive double-loop reference, gradcheck and low-precision stability."""

import math

import pytest
import torch
import torch.nn.functional as F

from polyclr.losses import (
    MultiPositiveInfoNCE,
    NTXentLoss,
    masked_info_nce_rows,
    mix_hard_negatives,
    same_key_mask,
)


def naive_loss(z, positive, exclude, t, decoupled=False, weights=None):
    """Double loop straight from the definition (independent of the vectorised code)."""
    z = F.normalize(z, dim=-1)
    n = z.shape[0]
    total, count = 0.0, 0
    for i in range(n):
        w = {}
        for j in range(n):
            if j == i or exclude[i, j]:
                continue
            wij = float(weights[i, j]) if weights is not None else float(positive[i, j])
            if wij > 0:
                w[j] = wij
        if not w:
            continue
        denom = 0.0
        for k in range(n):
            if k == i or exclude[i, k] or (decoupled and k in w):
                continue
            denom += math.exp(float(z[i] @ z[k]) / t)
        if denom == 0.0:
            continue
        wsum = sum(w.values())
        li = -sum(wij * (float(z[i] @ z[j]) / t) for j, wij in w.items()) / wsum + math.log(denom)
        total += li
        count += 1
    return total / max(count, 1)


def test_identical_embeddings_give_log_2n_minus_1():
    n = 6
    z = torch.ones(2 * n, 4)
    loss = NTXentLoss(temperature=0.1)(z[:n], z[n:])
    assert loss.item() == pytest.approx(math.log(2 * n - 1), abs=1e-6)


@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_naive_loop_on_random_masks(seed, decoupled):
    g = torch.Generator().manual_seed(seed)
    n = 10
    z = torch.randn(n, 5, generator=g, dtype=torch.float64)
    positive = torch.rand(n, n, generator=g) < 0.3
    positive = positive | positive.T
    exclude = (torch.rand(n, n, generator=g) < 0.2) & ~positive
    loss = MultiPositiveInfoNCE(temperature=0.5, decoupled=decoupled).double()(z, positive, exclude)
    assert loss.item() == pytest.approx(naive_loss(z, positive, exclude, 0.5, decoupled), abs=1e-10)


def test_soft_weights_match_naive_loop():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(8, 4, generator=g, dtype=torch.float64)
    weights = torch.rand(8, 8, generator=g, dtype=torch.float64)
    exclude = torch.zeros(8, 8, dtype=torch.bool)
    loss = MultiPositiveInfoNCE(temperature=0.2).double()(z, weights, exclude)
    assert loss.item() == pytest.approx(naive_loss(z, None, exclude, 0.2, weights=weights), abs=1e-10)


def test_supcon_same_label_positives_closed_form():
    # Two classes, embeddings exactly at their class direction: every anchor has 1 positive at
    # similarity 1 and 2 negatives at similarity 0 -> loss = -1/t + log(e^{1/t} + 2).
    z = torch.tensor([[1.0, 0], [1.0, 0], [0, 1.0], [0, 1.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1])
    t = 0.5
    loss = MultiPositiveInfoNCE(temperature=t).double()(z, same_key_mask(labels))
    assert loss.item() == pytest.approx(-1 / t + math.log(math.exp(1 / t) + 2), abs=1e-12)


def test_anchor_without_positive_is_ignored_and_unknown_keys_never_match():
    keys = torch.tensor([0, 0, 1, -1])
    mask = same_key_mask(keys)
    assert not mask[3].any() and not mask[:, 3].any()
    logits = torch.zeros(4, 4)
    loss, valid = masked_info_nce_rows(logits, mask & ~torch.eye(4, dtype=torch.bool), torch.eye(4, dtype=torch.bool))
    assert valid.tolist() == [True, True, False, False]
    assert loss[2] == 0 and loss[3] == 0


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    positive = same_key_mask(torch.tensor([0, 0, 1, 1, 2, 2]))
    exclude = torch.zeros(6, 6, dtype=torch.bool)
    exclude[0, 5] = exclude[5, 0] = True
    loss_fn = MultiPositiveInfoNCE(temperature=0.3).double()
    assert torch.autograd.gradcheck(lambda x: loss_fn(x, positive, exclude), (z,))
    dcl = MultiPositiveInfoNCE(temperature=0.3, decoupled=True).double()
    assert torch.autograd.gradcheck(lambda x: dcl(x, positive, exclude), (z,))


def test_no_nan_at_low_temperature_under_bf16_autocast():
    torch.manual_seed(0)
    lin = torch.nn.Linear(16, 32)
    x = torch.randn(64, 16) * 50
    ids = torch.arange(32).repeat(2)
    loss_fn = MultiPositiveInfoNCE(temperature=0.01)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = lin(x)
        assert z.dtype == torch.bfloat16
        loss = loss_fn(z, same_key_mask(ids))
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert torch.isfinite(lin.weight.grad).all()


def test_learnable_temperature_is_clamped_and_trained():
    loss_fn = MultiPositiveInfoNCE(temperature=0.001, learnable_temperature=True, max_logit_scale=50)
    assert loss_fn.logit_scale().item() == pytest.approx(50.0)
    z = torch.randn(8, 4, requires_grad=True)
    loss_fn(z, same_key_mask(torch.arange(4).repeat(2))).backward()
    assert loss_fn.logit_scale.log_scale.grad is not None


def test_constructor_validation():
    with pytest.raises(ValueError):
        MultiPositiveInfoNCE(temperature=0)
    with pytest.raises(ValueError):
        MultiPositiveInfoNCE(temperature=0.1)(torch.randn(4, 2), torch.ones(3, 3, dtype=torch.bool))


def test_hard_negative_mixing_adds_harder_negatives():
    g = torch.Generator().manual_seed(0)
    z = F.normalize(torch.randn(16, 8, generator=g), dim=-1)
    ids = torch.arange(8).repeat(2)
    pos = same_key_mask(ids)
    neg = ~pos
    mixed = mix_hard_negatives(z, z, neg, n_hardest=4, n_mixed=5, n_query_mixed=2, generator=g)
    assert mixed.shape == (16, 7, 8)
    assert torch.allclose(mixed.norm(dim=-1), torch.ones(16, 7), atol=1e-5)
    base = MultiPositiveInfoNCE(temperature=0.2)(z, pos)
    harder = MultiPositiveInfoNCE(temperature=0.2)(z, pos, extra_negatives=mixed)
    assert harder > base  # extra negatives only add to the denominator
