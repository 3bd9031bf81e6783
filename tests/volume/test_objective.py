"""Objectives and networks: shapes, phases (what is trained), loss values against the core."""

from __future__ import annotations

import math

import pytest
import torch

from polyclr.losses import MultiPositiveInfoNCE
from polyclr.modalities.volume.augment import apply_affine, augment_pair, random_affine_params
from polyclr.modalities.volume.networks import SegUNet
from polyclr.modalities.volume.objectives import VolumeContrastive

FEATS = (4, 4, 8, 8, 16, 4)


def _batch(b=2, s=2, size=32, dims=2):
    shape = (b, s, 1) + (size,) * dims
    return {"x": torch.rand(shape), "partition": torch.arange(s).repeat(b, 1)}


@pytest.mark.parametrize("dims", [2, 3])
def test_segunet_matches_monai_forward(dims):
    torch.manual_seed(0)
    net = SegUNet(dims, 1, 3, FEATS)
    x = torch.rand((1, 1) + (32,) * dims)
    torch.testing.assert_close(net(x), net.unet(x))


@pytest.mark.parametrize("dims", [2, 3])
def test_joint_objective_runs_and_trains_everything(dims):
    torch.manual_seed(0)
    obj = VolumeContrastive(SegUNet(dims, 1, 3, FEATS), "GD", "LD", phase="joint", region_size=2,
                            num_regions=4, decoder_stage=4)
    out = obj(_batch(b=2 if dims == 2 else 1, dims=dims))
    assert torch.isfinite(out["loss"]) and set(out) == {"loss", "global_loss", "local_loss"}
    out["loss"].backward()
    assert obj.encoder.unet.conv_0.conv_0.conv.weight.grad is not None
    assert obj.encoder.unet.upcat_1.convs.conv_0.conv.weight.grad is not None


def test_local_phase_freezes_encoder():
    obj = VolumeContrastive(SegUNet(2, 1, 3, FEATS), "GD", "LD", phase="local", region_size=2, num_regions=4)
    assert not any(p.requires_grad for p in obj.encoder.encoder_parameters())
    assert all(p.requires_grad for p in obj.encoder.decoder_parameters())
    obj(_batch())["loss"].backward()
    assert obj.encoder.unet.conv_0.conv_0.conv.weight.grad is None
    obj.set_phase("global")
    assert all(p.requires_grad for p in obj.encoder.encoder_parameters())
    assert not any(p.requires_grad for p in obj.encoder.decoder_parameters())


def test_gd_minus_loss_equals_core_loss_by_hand():
    # identical embeddings for all images of partition 0: G^D- excludes them, so per anchor the
    # loss is -log(e^{1/t} / (e^{1/t} + sum over the other-partition negatives))
    z = torch.tensor([[1.0, 0], [1.0, 0], [0, 1.0], [1.0, 0], [1.0, 0], [0, 1.0]])
    ids = torch.tensor([0, 1, 2, 0, 1, 2])
    part = torch.tensor([0, 0, 1, 0, 0, 1])
    from polyclr.modalities.volume.partitions import global_pairs

    pos, excl = global_pairs("GD-", ids, part)
    t = 0.5
    loss = MultiPositiveInfoNCE(temperature=t)(z, pos, excl)
    a = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2 * math.exp(0)))  # rows 0,1,3,4
    c = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 4 * math.exp(0)))  # rows 2,5
    assert loss.item() == pytest.approx((4 * a + 2 * c) / 6, rel=1e-6)


def test_constructor_validation():
    net = SegUNet(2, 1, 3, FEATS)
    with pytest.raises(ValueError):
        VolumeContrastive(net, "XX", None, phase="global")
    with pytest.raises(ValueError):
        VolumeContrastive(net, None, "LD", phase="joint")
    with pytest.raises(ValueError):
        SegUNet(4)


def test_identity_affine_keeps_image_and_labels_stay_integer():
    x = torch.rand(2, 1, 8, 8)
    theta = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(2, 2, 3)
    torch.testing.assert_close(apply_affine(x, theta), x, atol=1e-5, rtol=0)
    y = torch.randint(0, 3, (2, 1, 8, 8))
    torch.manual_seed(0)
    xa, ya = augment_pair(x, y, 2)
    assert ya.dtype == torch.long and set(ya.unique().tolist()) <= {0, 1, 2}
    assert random_affine_params(3, 3).shape == (3, 3, 4)
