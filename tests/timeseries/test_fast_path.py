"""The fast TS2Vec training path equals the straightforward one: segment convolutions vs
``F.conv1d`` per segment, the fused residual block, both crops in one encoder pass (values and
gradients), the Gram backward, and the row padding used for oneDNN."""

import pytest
import torch
import torch.nn.functional as F

from polyclr.modalities.timeseries.augment import overlapping_crops
from polyclr.modalities.timeseries.encoders import TS2VecEncoder
from polyclr.modalities.timeseries.losses import hierarchical_contrastive_loss
from polyclr.modalities.timeseries.objectives import TS2VecObjective
from polyclr.modalities.timeseries.segconv import (
    _mm,
    gram,
    is_pointwise,
    row_bucket,
    segment_conv,
    tap_shifts,
)


def _conv_per_segment(x, w, b, d, lengths):
    """Reference: ``F.conv1d`` with TS2Vec's "same" padding on each segment alone."""
    field = (w.shape[-1] - 1) * d + 1
    outs, a = [], 0
    for n in lengths:
        o = F.conv1d(x[:, a : a + n].transpose(1, 2), w, b, dilation=d, padding=field // 2)[..., :n]
        outs.append(o.transpose(1, 2))
        a += n
    return torch.cat(outs, dim=1)


def test_tap_shifts_hand_worked():
    assert tap_shifts(3, 4) == [-4, 0, 4]  # pad 4
    assert tap_shifts(2, 1) == [-1, 0]  # field 2 → pad 1, output trimmed to the input length
    assert tap_shifts(2, 2) == [-1, 1]  # field 3 → pad 1: no centre tap
    assert is_pointwise(3, 32, 24) and not is_pointwise(3, 16, 24)


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("d", [1, 3, 16, 64])
def test_segment_conv_equals_conv1d_per_segment(k, d):
    torch.manual_seed(k * 100 + d)
    lengths = (37, 20, 5)
    segs = [(0, 37), (37, 20), (57, 5)]
    x = torch.randn(3, sum(lengths), 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 4, k, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, dtype=torch.float64, requires_grad=True)
    out, ref = segment_conv(x, w, b, d, segs), _conv_per_segment(x, w, b, d, lengths)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    g = torch.randn_like(ref)
    for got, want in zip(torch.autograd.grad(out, (x, w, b), g), torch.autograd.grad(ref, (x, w, b), g),
                         strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-11)


def _crop_losses(obj, x, s1, l1, s2, l2, crop, mask):
    z1, z2 = obj.encode_crops(x, s1, l1, s2, l2, crop, mask=mask)
    loss = hierarchical_contrastive_loss(z1, z2)
    params = list(obj.encoder.parameters())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return z1, z2, loss, [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]


@pytest.mark.parametrize(("t", "kernel", "dtype", "tol"), [
    (24, 3, torch.float64, 1e-12),  # ItalyPowerDemand length: 6 trailing blocks per timestamp
    (150, 3, torch.float64, 1e-12),  # GunPoint length
    (40, 2, torch.float64, 1e-12),  # even kernel: trimmed output, a block without centre tap
    (40, 5, torch.float64, 1e-12),
    (150, 3, torch.float32, 2e-5),  # float32 (oneDNN GEMMs on CPU, padded rows)
])
def test_fast_crops_equal_per_crop_encoding(t, kernel, dtype, tol):
    torch.manual_seed(t + kernel)
    enc = TS2VecEncoder(2, kernel_size=kernel, dropout=0.0).to(dtype)
    slow, fast = TS2VecObjective(enc, fast=False), TS2VecObjective(enc, fast=True)
    assert fast.fast and not slow.fast
    x = torch.randn(5, 2, t, dtype=dtype)
    x[1, 0, 3] = float("nan")  # a missing value inside a crop is masked the same way
    for _ in range(3):
        s1, l1, s2, l2, crop = overlapping_crops(t, 5, x.device)
        mask = torch.rand(5, l1 + l2) < 0.5
        a = _crop_losses(slow, x, s1, l1, s2, l2, crop, mask)
        b = _crop_losses(fast, x, s1, l1, s2, l2, crop, mask)
        for u, v in zip(a[:3], b[:3], strict=True):
            torch.testing.assert_close(v, u, rtol=tol, atol=tol)
        scale = max(float(g.abs().max()) for g in a[3])
        for gu, gv in zip(a[3], b[3], strict=True):
            torch.testing.assert_close(gv, gu, rtol=tol, atol=tol * scale)


def test_fast_objective_trains_like_the_straightforward_one():
    """Same seed, same crops: the training-mode losses (random masks, dropout) of both paths
    are draws of the same objective; with masks and dropout off they are equal."""
    torch.manual_seed(0)
    enc = TS2VecEncoder(1, mask_prob=1.0, dropout=0.0).double()
    batch = {"x": torch.randn(8, 1, 30, dtype=torch.float64), "index": torch.arange(8)}
    losses = []
    for fast in (False, True):
        torch.manual_seed(1)
        losses.append(TS2VecObjective(enc, fast=fast, average=False)(batch)["loss"])
    torch.testing.assert_close(losses[1], losses[0], rtol=0, atol=1e-12)


def test_gram_backward_and_padding_rows():
    z = torch.randn(3, 7, 5, dtype=torch.float64, requires_grad=True)
    g = torch.randn(3, 7, 7, dtype=torch.float64)
    got = torch.autograd.grad(gram(z), z, g)[0]
    want = torch.autograd.grad(torch.matmul(z, z.transpose(1, 2)), z, g)[0]
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert row_bucket(1, torch.device("cpu")) in (1, 64)
    assert row_bucket(130, torch.device("cpu")) in (130, 192)
    a, b = torch.randn(700, 64), torch.randn(64, 192)  # large enough for oneDNN where present
    torch.testing.assert_close(_mm(a, b), a @ b, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(_mm(a.t().contiguous().t(), b), a @ b, rtol=1e-5, atol=1e-4)


def test_bernoulli_dropout_rate_scale_and_gradient():
    from polyclr.modalities.timeseries.encoders import bernoulli_dropout

    torch.manual_seed(0)
    x = torch.full((200, 1001), 2.0, requires_grad=True)  # odd element count
    y = bernoulli_dropout(x, 0.1, True)
    kept = y != 0
    assert abs(1 - kept.double().mean().item() - 0.1) < 0.003  # 200k draws: sd ~0.0007
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 2.0 / 0.9))
    (g,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(g, kept.float() / 0.9)
    assert bernoulli_dropout(x, 0.1, False) is x


def test_lean_pretrain_step_resumes_exactly(tmp_path, aeon_data):
    """The manual-optimisation pre-training step keeps exact resume: 12 steps in one go equal
    6 steps, a checkpoint, and 6 more (GunPoint: 50 series, batch 8 → 6 steps per epoch)."""
    from polyclr.engine import load_encoder
    from polyclr.pipelines.timeseries import data as D
    from polyclr.pipelines.timeseries import train as T
    from polyclr.pipelines.timeseries.config import TimeSeriesConfig

    def cfg(steps):
        c = TimeSeriesConfig()
        c.engine.max_steps, c.engine.logger = steps, "none"
        c.encoder.depth, c.encoder.hidden_dims, c.encoder.output_dims = 2, 8, 16
        c.objective.checkpoint_every_n_steps = 0  # checkpoint every epoch
        return c

    path = f"{aeon_data}/GunPoint/GunPoint_TRAIN.ts"
    once, split = tmp_path / "once", tmp_path / "split"
    info = T.pretrain_encoder(cfg(12), D.prepare(cfg(12), path, once), once)
    assert info["pretrain_steps"] == 12
    T.pretrain_encoder(cfg(6), D.prepare(cfg(6), path, split), split)
    again = T.pretrain_encoder(cfg(12), D.prepare(cfg(12), path, split), split, resume=True)
    assert again["pretrain_steps"] == 12
    a, b = load_encoder(once / "encoder.safetensors")[0], load_encoder(split / "encoder.safetensors")[0]
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=0)
