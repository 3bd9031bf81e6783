"""Volume-level classification: pooled classifier head, stratified slice sampling, fine-tuning."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from polyclr.modalities.volume.networks import VolumeClassifier, build_network
from polyclr.pipelines.volume.config import VolumeConfig
from polyclr.pipelines.volume.data import VolumeLabelDataset
from polyclr.pipelines.volume.evaluate import predict_proba
from polyclr.pipelines.volume.train import finetune_classifier

FEATURES = (4, 4, 8, 8, 16, 4)


def _net(dims: int = 2):
    torch.manual_seed(0)
    return build_network(dims, "BasicUNet", 1, 3, features=FEATURES)


def _case(image: torch.Tensor, label: int | None):
    return SimpleNamespace(image=image, item=SimpleNamespace(class_label=label))


@pytest.mark.parametrize("pooling, width", [("mean", 16), ("mean_max", 32)])
def test_classifier_pools_bottleneck_of_all_slices(pooling, width):
    model = VolumeClassifier(_net(), 3, 2, pooling).eval()
    assert model.head.in_features == width
    x = torch.rand(2, 5, 1, 32, 32)  # 2 volumes x 5 slices
    with torch.no_grad():
        out = model(x)
        bottom = model.net.encode(x[1])[-1]  # the second volume alone: (5, 16, 2, 2)
        expected = bottom.mean(dim=(0, 2, 3))
        if pooling == "mean_max":
            expected = torch.cat([expected, bottom.amax(dim=(0, 2, 3))])
        torch.testing.assert_close(model.features(x)[1], expected)
    assert out.shape == (2, 3)


def test_classifier_3d_and_bad_arguments():
    model = VolumeClassifier(_net(3), 2, 3).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 1, 32, 32, 32)).shape == (1, 2)
    with pytest.raises(ValueError, match="pooling"):
        VolumeClassifier(_net(), 2, 2, "median")
    with pytest.raises(ValueError, match="num_classes"):
        VolumeClassifier(_net(), 1, 2)
    with pytest.raises(ValueError, match="spatial_dims"):
        VolumeClassifier(_net(), 2, 4)


def test_slices_are_drawn_one_per_stratum():
    cfg = VolumeConfig()  # 2D, slice axis 2 (the last voxel axis)
    z = 10
    image = torch.arange(z, dtype=torch.float32).expand(1, 4, 4, z).clone()  # slice k holds value k
    ds = VolumeLabelDataset(cfg, [_case(image, 1)], slices=5)
    seen = set()
    for i in range(20):
        torch.manual_seed(i)
        x, y = ds[0]
        idx = x[:, 0, 0, 0].long().numpy()
        assert x.shape == (5, 1, 4, 4) and int(y) == 1
        assert np.array_equal(idx // 2, np.arange(5))  # strata [0,2), [2,4), ... each hit once
        seen.update(idx.tolist())
    assert seen == set(range(z))  # every slice of each stratum gets drawn
    short = VolumeLabelDataset(cfg, [_case(image[..., :3], 0)], slices=5)
    idx = short[0][0][:, 0, 0, 0].long().numpy()
    assert idx.min() >= 0 and idx.max() <= 2 and np.all(np.diff(idx) >= 0)
    with pytest.raises(ValueError, match="slices"):
        VolumeLabelDataset(cfg, [], slices=0)


def test_finetuning_learns_a_bright_blob_on_held_out_volumes():
    """Class 1 volumes carry a bright cube at a random place; the fine-tuned classifier must rank
    held-out volumes (other seeds) almost perfectly."""
    cfg = VolumeConfig()
    cfg.net.features = list(FEATURES)
    cfg.classify.steps, cfg.classify.slices, cfg.classify.batch_volumes = 120, 8, 4
    cfg.classify.lr = 1e-2
    cfg.engine.accelerator = "cpu"

    def volumes(seed: int, n: int):
        rng = np.random.default_rng(seed)
        out = []
        for i in range(n):
            img = rng.normal(0.3, 0.05, size=(1, 32, 32, 8)).astype(np.float32)
            if i % 2:
                x, y = rng.integers(4, 24, size=2)
                z = rng.integers(0, 7)
                img[0, x:x + 5, y:y + 5, z:z + 2] = 1.0
            out.append(_case(torch.from_numpy(img), i % 2))
        return out

    train, test = volumes(0, 16), volumes(1, 20)
    model = finetune_classifier(cfg, _net(), train, 2, seed=0)
    proba = predict_proba(cfg, model, test)
    assert proba.shape == (20, 2) and np.allclose(proba.sum(1), 1.0, atol=1e-5)
    from sklearn.metrics import roc_auc_score

    auroc = roc_auc_score([c.item.class_label for c in test], proba[:, 1])
    assert auroc >= 0.9


def test_whole_volume_prediction_in_chunks_matches_one_pass():
    from polyclr.modalities.volume.networks import volume_bottleneck

    model = VolumeClassifier(_net(), 2, 2).eval()
    x = torch.rand(70, 1, 32, 32)  # more slices than one chunk (32)
    with torch.no_grad():
        torch.testing.assert_close(model.predict_volume(x), model(x[None])[0], rtol=1e-4, atol=1e-5)
        one_pass = model.net.encode(x)[-1].movedim(1, 0).flatten(1)  # (C, slices * positions)
        torch.testing.assert_close(volume_bottleneck(model.net, x, 2, chunk=32), one_pass,
                                   rtol=1e-4, atol=1e-5)
