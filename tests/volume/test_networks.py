"""Both MONAI network families (BasicUNet, UNet) in 2D and 3D, spatial-size checks, schedules."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from polyclr.errors import ConfigError
from polyclr.modalities.volume.networks import (
    SegMonaiUNet,
    SegUNet,
    build_network,
    check_spatial_size,
)
from polyclr.modalities.volume.objectives import VolumeContrastive
from polyclr.pipelines.volume.config import VolumeConfig
from polyclr.pipelines.volume.config import validate_config as _validate

CH = (4, 8, 16, 32)  # UNet: 3 down-samplings -> sizes must be multiples of 8


@pytest.mark.parametrize("dims", [2, 3])
def test_unet_wrapper_calls_monai_layers_in_monai_order(dims):
    torch.manual_seed(0)
    net = SegMonaiUNet(dims, 1, 3, CH, num_res_units=1).eval()
    x = torch.rand((2, 1) + (16,) * dims)
    with torch.no_grad():
        torch.testing.assert_close(net(x), net.unet(x))
        skips = net.encode(x)
        # one output per down-sampling level (1/2, 1/4, 1/8) + the bottom layer at 1/8
        assert [s.shape[1] for s in skips] == [4, 8, 16, 32]
        assert [s.shape[2] for s in skips] == [8, 4, 2, 2]
        dec = net.decode(skips)
        assert [d.shape[1] for d in dec] == net.decoder_channels == [8, 4]
        assert [d.shape[2] for d in dec] == [4, 8]
    assert net.divisor == 8
    # no layer is registered twice: the state dict is MONAI's, prefixed "unet."
    assert set(net.state_dict()) == {f"unet.{k}" for k in net.unet.state_dict()}
    n_params = sum(p.numel() for p in net.unet.parameters())
    split = net.encoder_parameters() + net.decoder_parameters() + net.head_parameters()
    assert sum(p.numel() for p in split) == n_params and len({id(p) for p in split}) == len(split)


@pytest.mark.parametrize("arch", ["BasicUNet", "UNet"])
@pytest.mark.parametrize("dims", [2, 3])
def test_joint_objective_on_both_families(arch, dims):
    torch.manual_seed(0)
    net = build_network(dims, arch, 1, 3, features=(4, 4, 8, 8, 16, 4), channels=CH, num_res_units=0)
    obj = VolumeContrastive(net, "GD", "LD", phase="joint", region_size=1, num_regions=3,
                            decoder_stage=len(net.decoder_channels))
    batch = {"x": torch.rand((2, 2, 1) + (32,) * dims), "partition": torch.arange(2).repeat(2, 1)}
    out = obj(batch)
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    assert all(p.grad is not None for p in net.encoder_parameters())
    assert all(p.grad is None for p in net.head_parameters())  # the output layer is not pre-trained


def test_spatial_size_error_names_the_fix():
    with pytest.raises(ValueError, match=r"multiple of 16.*\[64, 48\]"):
        check_spatial_size((50, 48), 16, "BasicUNet")
    check_spatial_size((48, 32), 16)
    with pytest.raises(ValueError, match="multiple of 8"):
        SegMonaiUNet(2, 1, 2, CH)(torch.rand(1, 1, 20, 16))
    with pytest.raises(ValueError, match="multiple of 16"):
        SegUNet(2, 1, 2, (4, 4, 8, 8, 16, 4))(torch.rand(1, 1, 24, 32))


def test_config_validation_checks_sizes_against_the_chosen_network():
    cfg = VolumeConfig()
    bad = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, slice_size=[40, 40]))
    with pytest.raises(ConfigError, match="data.slice_size.*multiple of 16"):
        _validate(bad)
    # the same size is fine for a UNet with 3 down-samplings (multiple of 8)
    _validate(dataclasses.replace(bad, net=dataclasses.replace(cfg.net, architecture="UNet",
                                                                channels=[8, 16, 32, 64]),
                                  pretrain=dataclasses.replace(cfg.pretrain, decoder_stage=2)))
    three = dataclasses.replace(cfg, net=dataclasses.replace(cfg.net, spatial_dims=3),
                                data=dataclasses.replace(cfg.data, patch_size=[32, 32, 20]))
    with pytest.raises(ConfigError, match="data.patch_size"):
        _validate(three)
    with pytest.raises(ConfigError, match="architecture"):
        _validate(dataclasses.replace(cfg, net=dataclasses.replace(cfg.net, architecture="VNet")))
    unet = dataclasses.replace(cfg, net=dataclasses.replace(cfg.net, architecture="UNet", channels=[8, 16, 32]))
    with pytest.raises(ConfigError, match="decoder_stage"):
        _validate(unet)  # 3 levels -> 1 decoder stage below the head, default stage 3
    zero = dataclasses.replace(cfg, finetune=dataclasses.replace(cfg.finetune, pretrained_encoder_lr_scale=0.0))
    with pytest.raises(ConfigError, match="pretrained_encoder_lr_scale"):
        _validate(zero)
    for bad_classify in ({"pooling": "median"}, {"slices": 0}, {"lr": 0.0}, {"steps": 0}):
        with pytest.raises(ConfigError, match="classify"):
            _validate(dataclasses.replace(cfg, classify=dataclasses.replace(cfg.classify, **bad_classify)))


def _tiny_cfg(arch: str, schedule: str, strategy: str) -> VolumeConfig:
    cfg = VolumeConfig()
    return dataclasses.replace(
        cfg,
        engine=dataclasses.replace(cfg.engine, accelerator="cpu"),
        data=dataclasses.replace(cfg.data, spacing=[2.0, 2.0, 3.0], slice_size=[32, 32]),
        net=dataclasses.replace(cfg.net, architecture=arch, features=[4, 4, 8, 8, 16, 4],
                                channels=[4, 8, 16, 32], num_res_units=0),
        pretrain=dataclasses.replace(cfg.pretrain, strategy=strategy, schedule=schedule, num_partitions=2,
                                     volumes_per_batch=2, global_steps=2, local_steps=2,
                                     decoder_stage=2, region_size=1, num_regions=3),
    )


@pytest.mark.parametrize("arch", ["BasicUNet", "UNet"])
def test_staged_and_joint_schedules_train_the_right_parts(tiny_msd, arch):
    from polyclr.pipelines.volume.data import prepare
    from polyclr.pipelines.volume.train import build_net, pretrain_net

    def changed(params_a, params_b):
        return [not torch.equal(a, b) for a, b in zip(params_a, params_b, strict=True)]

    cases = None
    for schedule, strategy, stages, enc, dec in (
        ("staged", "GD", ["global"], True, False),      # encoder only: decoder stays at init
        ("staged", "LD", ["local"], False, True),       # decoder only: encoder stays at init
        ("staged", "GD+LD", ["global", "local"], True, True),
        ("joint", "GD+LD", ["joint"], True, True),
    ):
        cfg = _tiny_cfg(arch, schedule, strategy)
        cases = cases or prepare(cfg, tiny_msd)
        net, info = pretrain_net(cfg, cases, strategy, None, 3)
        torch.manual_seed(cfg.engine.seed)
        init = build_net(cfg, 3)
        assert [s["phase"] for s in info["stages"]] == stages
        assert any(changed(net.encoder_parameters(), init.encoder_parameters())) is enc
        assert any(changed(net.decoder_parameters(), init.decoder_parameters())) is dec
        assert not any(changed(net.head_parameters(), init.head_parameters()))


def test_volume_features_mean_and_mean_max_pooling():
    from types import SimpleNamespace

    from polyclr.pipelines.volume.evaluate import volume_features

    torch.manual_seed(0)
    cfg = VolumeConfig()
    net = build_network(2, "UNet", 1, 3, features=(4, 4, 8, 8, 16, 4), channels=CH, num_res_units=0)
    image = torch.rand(1, 16, 16, 5)  # (channel, x, y, z): 5 slices along the default axis
    case = SimpleNamespace(image=image)
    with torch.no_grad():
        bottom = net.eval().encode(image.movedim(cfg.data.axis + 1, 0))[-1]  # (slices, C, h, w)
    mean = volume_features(cfg, net, case)
    both = volume_features(cfg, net, case, "mean_max")
    c = bottom.shape[1]
    assert mean.shape == (c,) and both.shape == (2 * c,)
    torch.testing.assert_close(torch.from_numpy(mean), bottom.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(torch.from_numpy(both[:c]), torch.from_numpy(mean))
    torch.testing.assert_close(torch.from_numpy(both[c:]), bottom.amax(dim=(0, 2, 3)))
    with pytest.raises(ValueError, match="pooling"):
        volume_features(cfg, net, case, "median")
