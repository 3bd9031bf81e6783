"""TS2Vec hierarchical loss vs the public implementation's golden values; COMET levels; DBPM."""

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from polyclr.modalities.timeseries.losses import (
    DBPM,
    comet_level_losses,
    hierarchical_contrastive_loss,
    instance_loss,
    paired_view_rows,
    temporal_loss,
)

GOLDEN = Path("/work/shared/golden/ts2vec_loss.json")
if not GOLDEN.is_file():
    GOLDEN = Path(__file__).resolve().parents[2] / "tests" / "data" / "golden" / "ts2vec_loss.json"


def _cases():
    if not GOLDEN.is_file():
        return []
    return json.loads(GOLDEN.read_text())["cases"]


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.float64, 1e-6)])
def test_ts2vec_golden(case, dtype, tol):
    # golden values come from the public TS2Vec code (float32 arithmetic), hence ~1e-7 agreement
    s = case["settings"]
    z1 = torch.tensor(case["inputs"][0], dtype=dtype, requires_grad=True)
    z2 = torch.tensor(case["inputs"][1], dtype=dtype, requires_grad=True)
    loss = hierarchical_contrastive_loss(z1, z2, s["alpha"], s["temporal_unit"])
    loss.backward()
    assert abs(loss.item() - case["loss"]) < tol * max(1.0, abs(case["loss"]))
    assert torch.allclose(z1.grad, torch.tensor(case["grads"][0], dtype=dtype), atol=1e-6)
    assert torch.allclose(z2.grad, torch.tensor(case["grads"][1], dtype=dtype), atol=1e-6)


def _naive_instance(z1, z2):
    # direct transcription of the TS2Vec definition, one anchor at a time (reference only)
    b, t, _ = z1.shape
    total = 0.0
    for ti in range(t):
        z = torch.cat([z1[:, ti], z2[:, ti]])
        sim = z @ z.T
        for i in range(2 * b):
            j = (i + b) % (2 * b)
            others = [k for k in range(2 * b) if k != i]
            total += -(sim[i, j] - torch.logsumexp(sim[i, others], 0))
    return total / (t * 2 * b)


def test_instance_and_temporal_match_naive_loops():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(3, 5, 4, generator=g, dtype=torch.float64), torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    assert torch.allclose(instance_loss(z1, z2).mean(), _naive_instance(z1, z2))
    # temporal = instance loss with the roles of batch and time swapped
    assert torch.allclose(temporal_loss(z1, z2).mean(), _naive_instance(z1.transpose(0, 1), z2.transpose(0, 1)))


def test_paired_rows_closed_form_two_items():
    # one group, M=1: two anchors, each with its partner as only candidate -> loss 0
    z = torch.randn(1, 1, 3)
    assert torch.allclose(paired_view_rows(z, z + 1), torch.zeros(1, 2))
    # identical orthogonal items, M=2, temperature 1: logits 1 (positive) and 0 (other two)
    e = torch.eye(2).view(1, 2, 2)
    rows = paired_view_rows(e, e)
    expected = -1 + math.log(math.e + 2)
    assert torch.allclose(rows, torch.full((1, 4), expected))


@pytest.mark.parametrize("temperature", [1.0, 0.2])
def test_paired_rows_equal_the_losses_core(temperature):
    # the cross-entropy fast path is the core's masked InfoNCE with a one-hot positive mask
    from polyclr.losses import masked_info_nce_rows, same_key_mask, two_view_ids

    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(4, 3, 5, generator=g, dtype=torch.float64), torch.randn(4, 3, 5, generator=g, dtype=torch.float64)
    z = torch.cat([z1, z2], dim=1)
    logits = (z @ z.transpose(1, 2) / temperature).reshape(24, 6)
    eye = torch.eye(6, dtype=torch.bool)
    pos = same_key_mask(two_view_ids(3)) & ~eye
    core, valid = masked_info_nce_rows(logits, pos.repeat(4, 1), eye.repeat(4, 1))
    assert valid.all()
    assert torch.allclose(paired_view_rows(z1, z2, temperature).reshape(-1), core)


def test_single_sample_and_single_step_are_zero():
    z = torch.randn(1, 8, 4)
    assert instance_loss(z, z + 0.1).abs().max() < 1e-7
    z = torch.randn(4, 1, 4)
    assert temporal_loss(z, z + 0.1).abs().max() < 1e-7


def test_reduction_none_averages_to_mean():
    z1, z2 = torch.randn(5, 12, 6), torch.randn(5, 12, 6)
    per = hierarchical_contrastive_loss(z1, z2, reduction="none")
    assert per.shape == (5,)
    assert torch.allclose(per.mean(), hierarchical_contrastive_loss(z1, z2))


def test_comet_levels_hand_example():
    # 2 samples, 1 timestamp; both samples from one trial/patient -> trial level has the other
    # sample's two views as positives as well
    h = F.normalize(torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]), dim=-1)
    trial = torch.tensor([0, 0])
    patient = torch.tensor([0, 0])
    per, parts = comet_level_losses(h, h, trial, patient, {"sample": 1.0}, temperature=1.0)
    # anchor view1 of sample 0: candidates = v1 of sample1 (logit 0), v2 of sample0 (1), v2 of sample1 (0)
    expected = math.log(math.e + 2) - 1
    assert torch.allclose(per, torch.full((2,), expected), atol=1e-6)
    per_t, parts_t = comet_level_losses(h, h, trial, patient, {"trial": 1.0}, temperature=1.0)
    # all three others are positives: target is uniform over them
    expected_t = math.log(math.e + 2) - 1 / 3
    assert torch.allclose(per_t, torch.full((2,), expected_t), atol=1e-6)
    assert set(parts_t) == {"trial"}


def test_comet_patient_level_needs_two_samples():
    h1, h2 = torch.randn(3, 4, 8), torch.randn(3, 4, 8)
    patient = torch.tensor([0, 1, 2])  # nobody shares a patient: only the other view is positive
    per_p, _ = comet_level_losses(h1, h2, patient, patient, {"patient": 1.0})
    per_s, _ = comet_level_losses(h1, h2, patient, patient, {"sample": 1.0})
    assert torch.allclose(per_p, per_s)
    with pytest.raises(ValueError):
        comet_level_losses(h1, h2, patient, patient, {"visit": 1.0})


def test_dbpm_flags_outlier_after_warmup():
    d = DBPM(n_samples=20, warmup=2, beta=2.0, down_weight=0.1)
    idx = torch.arange(20)
    loss = torch.ones(20)
    loss[7] = 10.0
    d.update(idx, loss)
    assert torch.all(d.weights(idx) == 1)  # warm-up not done
    d.update(idx, loss)
    w = d.weights(idx)
    assert w[7] == pytest.approx(0.1) and torch.all(w[torch.arange(20) != 7] == 1)
