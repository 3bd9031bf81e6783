"""MONAI's traced inverse survives fastai's process-wide ``Tensor.as_subclass`` patch."""

from __future__ import annotations

import numpy as np
import torch

from polyclr.modalities.volume.io import VolumeData
from polyclr.modalities.volume.transforms import PreprocessConfig, invert_label, preprocess


def _sharing_as_subclass(self, typ):
    """What fastai.torch_core installs: the result shares the source's ``__dict__``."""
    res = torch._C.TensorBase.as_subclass(self, typ)
    if hasattr(self, "__dict__"):
        res.__dict__ = self.__dict__
    return res


def test_orientation_and_resampling_are_traced_and_inverted_under_the_patch():
    rng = np.random.default_rng(0)
    label = (rng.random((20, 24, 16)) > 0.5).astype(np.int64)
    affine = np.diag([-2.0, 2.0, 3.0, 1.0])  # LAS storage: reorientation must be undone too
    affine[0, 3] = 38.0
    vol = VolumeData(array=label.astype(np.float32) * 100, affine=affine,
                     spacing=np.array([2.0, 2.0, 3.0]), path=None)
    cfg = PreprocessConfig(spacing=[2.0, 2.0, 3.0], slice_size=[32, 32], crop_foreground=False)
    assert "as_subclass" not in torch.Tensor.__dict__
    torch.Tensor.as_subclass = _sharing_as_subclass
    try:
        d, t = preprocess(vol, label, 2, cfg)
        ops = [o["class"] for o in d["image"].applied_operations]
        assert ops == ["Orientation", "SpatialResample", "ResizeWithPadOrCrop"]
        back = invert_label(d["label"][0].numpy(), d, t)
        np.testing.assert_array_equal(back, label)
        assert torch.Tensor.__dict__["as_subclass"] is _sharing_as_subclass  # patch restored
    finally:
        del torch.Tensor.as_subclass
