"""FinetuneModule: per-group learning-rate scales for a pre-trained part of the model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from polyclr.engine.modules import FinetuneModule


def _module(**kw) -> tuple[FinetuneModule, nn.Sequential]:
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    return FinetuneModule(model, nn.functional.cross_entropy, lr=0.01, **kw), model


def test_without_scales_one_group_at_lr():
    module, _ = _module()
    opt = module.configure_optimizers()
    assert [g["lr"] for g in opt.param_groups] == [0.01]
    assert len(opt.param_groups[0]["params"]) == 4


def test_scaled_parameters_get_their_own_lr():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    encoder = list(model[0].parameters())
    module = FinetuneModule(model, nn.functional.cross_entropy, lr=0.01, lr_scales=[(encoder, 0.1)])
    opt = module.configure_optimizers()
    by_lr = {round(g["lr"], 12): {id(p) for p in g["params"]} for g in opt.param_groups}
    assert by_lr == {0.01: {id(p) for p in model[1].parameters()},
                     0.001: {id(p) for p in encoder}}


def test_scaled_group_moves_by_the_scaled_step():
    """AdamW's first step moves every weight by about lr (sign of the gradient), so the scaled
    layer moves ten times less than the unscaled one."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    before = [p.detach().clone() for p in model.parameters()]
    module = FinetuneModule(model, nn.functional.cross_entropy, lr=0.01, weight_decay=0.0,
                            lr_scales=[(list(model[0].parameters()), 0.1)])
    opt = module.configure_optimizers()
    loss = nn.functional.cross_entropy(model(torch.randn(8, 3)), torch.randint(0, 2, (8,)))
    loss.backward()
    opt.step()
    steps = [(p.detach() - b).abs() for p, b in zip(model.parameters(), before, strict=True)]
    assert torch.allclose(steps[0][steps[0] > 0], torch.tensor(0.001), rtol=1e-3)
    assert torch.allclose(steps[2][steps[2] > 0], torch.tensor(0.01), rtol=1e-3)


def test_non_positive_scale_rejected():
    model = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="scales must be > 0"):
        FinetuneModule(model, nn.functional.cross_entropy, lr_scales=[(list(model.parameters()), 0.0)])
