"""Encoders, augmentations, objectives (gradient routing of AutoTCL's alternation), simulator."""

import math

import numpy as np
import pytest
import torch

from polyclr.modalities.timeseries.augment import (
    ParametricAugmenter,
    crop_resize,
    overlapping_crops,
    permutation,
    take_per_row,
)
from polyclr.modalities.timeseries.autotcl import mask_budget_penalty, mask_smoothness
from polyclr.modalities.timeseries.encoders import (
    Classifier,
    TS2VecEncoder,
    TsaiBackbone,
    instance_embedding,
)
from polyclr.modalities.timeseries.losses import DBPM
from polyclr.modalities.timeseries.objectives import (
    AutoTCLObjective,
    COMETObjective,
    TS2VecObjective,
)
from polyclr.modalities.timeseries.simulator import CLASSES, make_ecg_dataset


@pytest.mark.parametrize("t", [1, 7, 16])
def test_ts2vec_encoder_shapes_and_padding(t):
    enc = TS2VecEncoder(3, output_dims=8, hidden_dims=4, depth=3).eval()
    x = torch.randn(2, 3, t)
    assert enc(x).shape == (2, t, 8)
    # NaN padding is masked: a padded series embeds like the series without its padding only in
    # shape; the max-pool ignores padded steps
    xp = torch.cat([x, torch.full((2, 3, 4), float("nan"))], dim=2)
    assert torch.isfinite(instance_embedding(enc, xp)).all()


def test_ts2vec_encoder_is_causal_free_same_padding():
    # a dilated "same" conv stack: output at t depends on inputs on both sides, length kept
    enc = TS2VecEncoder(1, output_dims=4, hidden_dims=4, depth=2, dropout=0.0).eval()
    x = torch.zeros(1, 1, 32, requires_grad=True)
    enc(x)[0, 16].sum().backward()
    nz = torch.nonzero(x.grad[0, 0]).flatten()
    assert nz.min() < 16 < nz.max()


@pytest.mark.parametrize("t", [3, 8, 9, 20])
def test_dilated_block_centre_tap_shortcut_is_exact(t):
    # for T <= dilation the block uses only the centre tap; outputs and gradients must equal
    # the full dilated convolution's
    from polyclr.modalities.timeseries.encoders import _DilatedBlock

    torch.manual_seed(0)
    fast = _DilatedBlock(4, 6, 3, dilation=8, final=True)
    full = _DilatedBlock(4, 6, 3, dilation=8, final=True)
    full.load_state_dict(fast.state_dict())
    full.center = None  # disable the shortcut
    x = torch.randn(2, 4, t, dtype=torch.float64)
    fast, full = fast.double(), full.double()
    a, b = fast(x), full(x)
    assert a.shape == b.shape == (2, 6, t) and torch.allclose(a, b)
    a.square().sum().backward()
    b.square().sum().backward()
    for p, q in zip(fast.parameters(), full.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad)


def test_tsai_backbone_by_name():
    enc = TsaiBackbone("InceptionTimePlus", 2, 24, nf=8)
    out = enc(torch.randn(3, 2, 24))
    assert out.shape == (3, 24, enc.output_dims)
    assert Classifier(enc, 4)(torch.randn(3, 2, 24)).shape == (3, 4)
    with pytest.raises(ValueError):
        TsaiBackbone("NotAModel", 2, 24)


def test_augmentations():
    x = torch.randn(4, 2, 23)
    p = permutation(x, 5)
    assert torch.allclose(p.sort(dim=2).values, x.sort(dim=2).values)
    torch.manual_seed(0)
    assert torch.allclose(crop_resize(x, min_ratio=1.0), x, atol=1e-5)
    start = torch.tensor([0, 3, 5, 1])
    w = take_per_row(x, start, 6)
    for i in range(4):
        assert torch.equal(w[i], x[i, :, start[i] : start[i] + 6])


def test_overlapping_crops_invariants():
    torch.manual_seed(1)
    for _ in range(50):
        s1, l1, s2, l2, crop = overlapping_crops(30, 5, torch.device("cpu"), 2)
        assert (s1 >= 0).all() and (s1 + l1 <= 30).all() and (s2 + l2 <= 30).all()
        # the last `crop` steps of view 1 are the first `crop` steps of view 2
        assert torch.equal(s1 + l1 - crop, s2)


def test_parametric_augmenter_starts_near_identity():
    aug = ParametricAugmenter(2).eval()
    x = torch.randn(3, 2, 20)
    v, h = aug(x)
    assert v.shape == x.shape and h.shape == (3, 1, 20)
    # eval: g = 1, h = stretched sigmoid(2.0) = 1.2 * 0.8808 - 0.1
    keep = 1.2 * torch.sigmoid(torch.tensor(2.0)) - 0.1
    assert torch.allclose(h, keep.expand_as(h)) and torch.allclose(v, keep * x, atol=1e-6)


def test_parametric_augmenter_hard_mask_straight_through_and_invertible_g():
    torch.manual_seed(0)
    aug = ParametricAugmenter(2, init_keep_logit=0.0, max_log_scale=0.5).train()
    torch.nn.init.normal_(aug.transform_head.weight)
    x = torch.randn(4, 2, 32)
    v, h = aug(x)
    assert set(h.detach().unique().tolist()) == {0.0, 1.0}  # hard 0/1 masks in training
    kept = (h > 0).expand_as(x)
    ratio = (v[kept] / x[kept]).abs()
    assert (ratio >= math.exp(-0.5) - 1e-5).all() and (ratio <= math.exp(0.5) + 1e-5).all()  # g != 0
    assert (v[~kept] == 0).all()
    (v.sum() + h.sum()).backward()  # straight-through: the mask head still gets a gradient
    assert aug.mask_head.bias.grad is not None and aug.mask_head.bias.grad.abs() > 0


def test_autotcl_regularisers_hand_examples():
    h = torch.tensor([[[1.0, 1.0, 0.0, 0.0]], [[1.0, 1.0, 1.0, 1.0]]])
    # kept fractions 0.5 and 1.0; budget 0.6 -> relu(-0.1) = 0 and relu(0.4) = 0.4; mean 0.2
    assert torch.isclose(mask_budget_penalty(h, 0.6), torch.tensor(0.2))
    # one change out of 3 neighbour pairs in sample 0, none in sample 1 -> 1/6
    assert torch.isclose(mask_smoothness(h), torch.tensor(1 / 6))
    assert mask_smoothness(torch.ones(2, 1, 1)) == 0


def _batch(b=6, t=16):
    return {"x": torch.randn(b, 1, t), "index": torch.arange(b), "trial": torch.arange(b) // 2,
            "patient": torch.arange(b) // 4}


def test_autotcl_alternates_gradients():
    enc = TS2VecEncoder(1, output_dims=8, hidden_dims=4, depth=2)
    obj = AutoTCLObjective(enc, 1, aug_every=2).train()
    batch = _batch()
    obj(batch)["loss"].backward()  # step 0: encoder step
    assert enc.input_fc.weight.grad is not None
    assert all(p.grad is None for p in obj.augmenter.parameters())
    obj.zero_grad(set_to_none=True)
    out = obj(batch)  # step 1: augmenter step, encoder frozen
    out["loss"].backward()
    assert {"aug_info", "aug_adversarial", "aug_budget", "aug_smooth", "aug_kept"} <= set(out)
    assert all(p.grad is None for p in enc.parameters())
    assert enc.training  # the frozen pass runs in eval mode and restores the mode
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in obj.augmenter.parameters())


def test_autotcl_augmenter_objective_combines_its_terms():
    torch.manual_seed(0)
    obj = AutoTCLObjective(TS2VecEncoder(1, output_dims=8, hidden_dims=4, depth=2), 1, budget_weight=2.0,
                           adv_weight=0.5, keep_ratio=0.3, smooth_weight=0.25).train()
    out = obj.augmenter_loss(_batch()["x"])
    expected = out["aug_info"] - 0.5 * out["aug_adversarial"] + 2.0 * out["aug_budget"] + 0.25 * out["aug_smooth"]
    assert torch.isclose(out["loss"].detach(), expected)
    assert out["aug_adversarial"] > 0 and out["aug_budget"] > 0  # init keeps ~all: over budget
    with pytest.raises(ValueError):
        AutoTCLObjective(TS2VecEncoder(1), 1, keep_ratio=0.0)


def test_ts2vec_and_comet_objectives_train_step():
    torch.manual_seed(0)
    enc = TS2VecEncoder(1, output_dims=8, hidden_dims=4, depth=2)
    obj = TS2VecObjective(enc, dbpm=DBPM(6, warmup=1)).train()
    out = obj(_batch())
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and enc.input_fc.weight.grad is not None
    assert obj.dbpm.visits.sum() == 6
    assert obj.n_averaged == 1 and obj.export_encoder() is obj.avg_encoder
    comet = COMETObjective(TS2VecEncoder(1, output_dims=8, hidden_dims=4, depth=2),
                           {"sample": 1.0, "trial": 0.5, "patient": 0.5}).train()
    out = comet(_batch())
    assert set(k for k in out if k.startswith("level_")) == {"level_sample", "level_trial", "level_patient"}
    with pytest.raises(ValueError):
        COMETObjective(enc, {"sample": 0.0})


def test_simulator_deterministic_and_hierarchical():
    a = make_ecg_dataset(n_patients=4, trials_per_patient=2, windows_per_trial=3, seed=3)
    b = make_ecg_dataset(n_patients=4, trials_per_patient=2, windows_per_trial=3, seed=3)
    c = make_ecg_dataset(n_patients=4, trials_per_patient=2, windows_per_trial=3, seed=4)
    assert np.array_equal(a.X, b.X) and not np.array_equal(a.X, c.X)
    assert a.X.shape == (24, 2, 256) and set(a.classes) <= set(CLASSES)
    assert len(np.unique(a.patient_id)) == 4 and len(np.unique(a.trial_id)) == 8
    # a trial has one class and one patient
    for t in np.unique(a.trial_id):
        m = a.trial_id == t
        assert len(np.unique(a.y[m])) == 1 and len(np.unique(a.patient_id[m])) == 1


def test_simulated_rhythm_differs_by_class():
    # AF-like recordings have irregular RR intervals: R-peak spacing varies more than in normal
    from polyclr.modalities.timeseries.simulator import _patient_params, simulate_recording

    rng = np.random.default_rng(0)
    params = _patient_params(rng)
    cv = {}
    for cls in (0, 1):
        lead = simulate_recording(np.random.default_rng(1), params, cls, 30.0, 100.0)[1]
        peaks = np.flatnonzero((lead[1:-1] > lead[:-2]) & (lead[1:-1] >= lead[2:]) & (lead[1:-1] > 0.6 * lead.max())) + 1
        rr = np.diff(peaks)
        cv[cls] = rr.std() / rr.mean()
    assert cv[1] > 2 * cv[0]


@pytest.mark.parametrize("n_classes", [2, 3])
def test_lp_ft_head_reproduces_probe(n_classes):
    from sklearn.linear_model import LogisticRegression

    from polyclr.pipelines.timeseries.train import embed, init_head_from_probe, predict_proba

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 1, 12)).astype(np.float32)
    y = np.arange(30) % n_classes
    X[:, 0, :4] += y[:, None] * 2.0
    model = Classifier(TS2VecEncoder(1, output_dims=8, hidden_dims=4, depth=2), n_classes + 1)
    init_head_from_probe(model, X, y, seed=0)
    emb = embed(model.encoder, X).astype(np.float64)
    mu, sd = emb.mean(0), emb.std(0) + 1e-6
    ref = LogisticRegression(max_iter=1000, random_state=0).fit((emb - mu) / sd, y)
    proba = predict_proba(model, X)
    assert proba.shape == (30, n_classes + 1) and proba[:, n_classes].max() < 1e-6  # unseen class
    np.testing.assert_allclose(proba[:, :n_classes], ref.predict_proba((emb - mu) / sd), atol=1e-4)


def test_finetune_steps_follow_epochs_up_to_the_cap():
    from polyclr.pipelines.timeseries.config import TimeSeriesConfig
    from polyclr.pipelines.timeseries.train import finetune_steps

    cfg = TimeSeriesConfig()
    cfg.downstream.finetune_batch_size, cfg.downstream.finetune_steps, cfg.downstream.finetune_epochs = 16, 100, 10
    assert finetune_steps(cfg, 10) == 10  # one batch of 10 per epoch
    assert finetune_steps(cfg, 97) == 70  # ceil(97 / 16) = 7 batches per epoch
    assert finetune_steps(cfg, 981) == 100  # capped
    cfg.downstream.finetune_epochs = 0
    assert finetune_steps(cfg, 10) == 100  # 0 epochs: always the step budget


def test_balanced_class_weights_closed_form():
    from polyclr.pipelines.timeseries.train import class_weights

    w = class_weights(np.array([0, 0, 0, 1]), 3)  # 4 samples, 2 present classes: n / (2 n_c)
    np.testing.assert_allclose(w.numpy(), [4 / 6, 4 / 2, 1.0])


def test_finetune_without_dropout_starts_at_the_probe_loss():
    from polyclr.pipelines.timeseries.train import _dropout_off, init_head_from_probe

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 1, 16)).astype(np.float32)
    y = np.arange(24) % 2
    X[:, 0, :4] += y[:, None] * 2.0
    model = Classifier(TS2VecEncoder(1, output_dims=8, hidden_dims=4, depth=2), 2)
    init_head_from_probe(model, X, y, seed=0)
    xb, yb = torch.from_numpy(X), torch.from_numpy(y)
    with torch.no_grad():
        model.eval()
        probe_loss = torch.nn.functional.cross_entropy(model(xb), yb)
        model.train()
        _dropout_off(model)
        assert model.training and not model.encoder.dropout.training
        torch.testing.assert_close(torch.nn.functional.cross_entropy(model(xb), yb), probe_loss)


def test_finetune_defaults_fit_the_default_run_budget():
    from polyclr.pipelines.timeseries.config import TimeSeriesConfig

    ds = TimeSeriesConfig().downstream
    assert ds.finetune_dropout is False and ds.finetune_epochs == 10 and ds.finetune_steps == 150
