"""The loading steps of the volume caches, as MONAI map transforms.

Kept apart from :mod:`polyclr.modalities.volume.cache` because subclassing MONAI's ``Transform``
imports the whole ``monai`` package (many seconds): reading and validating volumes does not need
it, so ``check`` and the first progress line of ``pretrain`` / ``run`` come before it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from polyclr._optional import require
from polyclr.modalities.volume.io import load_label, load_volume
from polyclr.modalities.volume.transforms import monai_safe_tensors

_Transform = require("monai.transforms", "volume").Transform


class LoadVolumed(_Transform):
    """Map transform: ``{"image": path[, "label": path]}`` -> MetaTensors ``(1, X, Y, Z)`` (RAS,
    with the affine), through :func:`load_volume` / :func:`load_label`.

    A MONAI ``Transform`` and not random: MONAI's cache datasets cache everything up to the first
    random transform *or the first callable that is not a MONAI Transform*, so both matter.
    """

    def __call__(self, d: dict[str, Any]) -> dict[str, Any]:
        mdata = require("monai.data", "volume")
        out = dict(d)
        vol = load_volume(d["image"], series=d.get("series"), channels=tuple(d.get("channels") or ()))
        out["image"] = mdata.MetaTensor(np.ascontiguousarray(vol.channels_first()), affine=vol.affine)
        if d.get("label"):
            lab = load_label(d["label"], vol)
            out["label"] = mdata.MetaTensor(lab[None].astype(np.float32), affine=vol.affine)
        return out


class LoadPreprocessd(_Transform):
    """:class:`LoadVolumed`, then the preprocessing ``Compose`` for a labelled or an unlabelled
    item (deterministic, so the cache datasets cache its output)."""

    def __init__(self, with_label: Any, without_label: Any) -> None:
        self.with_label, self.without_label = with_label, without_label
        self.load = LoadVolumed()

    def __call__(self, d: dict[str, Any]) -> dict[str, Any]:
        with monai_safe_tensors():
            d = self.load(d)
            t = self.with_label if d.get("label") is not None else self.without_label
            return t({k: v for k, v in d.items() if k in ("image", "label")})
