"""Dataset fingerprint -> preprocessing and network plan (nnU-Net's idea, kept small).

The fingerprint summarises what the data is: spacings, shapes, channels, intensities inside the
foreground (label > 0 where labelled, else voxels above the volume's mean), modality (CT or MRI),
class frequencies. The plan derives what training needs from it:

* ``spacing``: the median voxel size per axis;
* ``axis``: the slice axis (the coarsest axis when the data is anisotropic, else S);
* ``slice_size`` (2D) / ``patch_size`` (3D): the median extent on that grid, rounded up to a
  multiple of 16 (the network's down-sampling); larger than ``max_slice_voxels`` (a CPU-friendly
  default) and the in-plane spacing is coarsened instead, so the field of view stays whole;
* ``depth``: 2x down-samplings that keep at least 3 voxels at the bottleneck (4: MONAI
  BasicUNet; fewer: MONAI UNet with that many levels);
* ``normalisation``: ``zscore`` per volume and channel for MRI; ``ct`` (clip to the
  foreground's 0.5 / 99.5 percentiles, then z-score with the foreground's global mean and std)
  for CT;
* ``num_partitions`` S: up to 4, at most half the slices along the axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: foreground voxels sampled per volume for the intensity statistics
SAMPLES_PER_VOLUME = 20_000


@dataclass
class Fingerprinter:
    """Accumulates a fingerprint one volume at a time (validation reads each volume once)."""

    seed: int = 0
    spacings: list[np.ndarray] = field(default_factory=list)
    shapes: list[tuple[int, ...]] = field(default_factory=list)
    channels: list[int] = field(default_factory=list)
    samples: list[np.ndarray] = field(default_factory=list)
    minima: list[float] = field(default_factory=list)
    class_voxels: dict[int, int] = field(default_factory=dict)
    channel_names: tuple[str, ...] = ()
    dicom_modalities: set[str] = field(default_factory=set)

    def add(self, vol: Any, label: np.ndarray | None, channel_names: tuple[str, ...] = ()) -> None:
        """Add one loaded volume (``VolumeData``) and its label map (or None).

        Shape:
            vol.array: (X, Y, Z) or (X, Y, Z, C); label: (X, Y, Z).
        """
        arr = vol.channels_first()  # (C, X, Y, Z)
        self.spacings.append(np.asarray(vol.spacing, float))
        self.shapes.append(tuple(int(s) for s in arr.shape[1:]))
        self.channels.append(int(arr.shape[0]))
        self.minima.append(float(arr[0].min()))
        self.channel_names = self.channel_names or tuple(channel_names)
        if getattr(vol, "series", None) is not None and vol.series.modality:
            self.dicom_modalities.add(vol.series.modality.upper())
        rng = np.random.default_rng([self.seed, len(self.shapes)])
        flat = arr.reshape(arr.shape[0], -1)
        fg = (label > 0 if label is not None and label.any() else arr[0] > arr[0].mean()).ravel()
        n_fg = int(fg.sum())
        if n_fg > SAMPLES_PER_VOLUME:  # random voxels, the foreground ones kept: no index list of
            draw = rng.integers(0, fg.size, 4 * SAMPLES_PER_VOLUME * max(1, fg.size // n_fg))  # a whole CT
            idx = np.sort(rng.permutation(np.unique(draw[fg[draw]]))[:SAMPLES_PER_VOLUME])
        else:
            idx = np.flatnonzero(fg)
        self.samples.append(flat[:, idx])
        if label is not None:
            values, counts = np.unique(label, return_counts=True)
            for v, c in zip(values.tolist(), counts.tolist(), strict=True):
                self.class_voxels[int(v)] = self.class_voxels.get(int(v), 0) + int(c)

    def result(self) -> dict[str, Any]:
        """The fingerprint as plain JSON-ready values."""
        if not self.shapes:
            raise ValueError("no volumes in the fingerprint")
        sp, sh = np.array(self.spacings), np.array(self.shapes)
        n_ch = max(self.channels)
        samples = np.concatenate([s for s in self.samples if s.shape[0] == n_ch], axis=1)
        per_channel = [{
            "p00_5": float(np.percentile(c, 0.5)), "p99_5": float(np.percentile(c, 99.5)),
            "mean": float(c.mean()), "std": float(c.std()), "min": float(c.min()), "max": float(c.max()),
        } for c in samples]
        total = sum(self.class_voxels.values())
        return {
            "volumes": len(self.shapes), "channels": n_ch, "channel_names": list(self.channel_names),
            "spacing_median": np.median(sp, 0).round(4).tolist(),
            "spacing_min": sp.min(0).round(4).tolist(), "spacing_max": sp.max(0).round(4).tolist(),
            "shape_median": np.median(sh, 0).round().astype(int).tolist(),
            "shape_min": sh.min(0).tolist(), "shape_max": sh.max(0).tolist(),
            "extent_mm_median": np.median(sh * sp, 0).round(1).tolist(),
            "foreground_intensity": per_channel,
            "volume_min": float(min(self.minima)),
            "modality": detect_modality(self.channel_names, self.dicom_modalities, per_channel,
                                        float(min(self.minima))),
            "class_frequencies": {str(k): round(v / total, 6) for k, v in sorted(self.class_voxels.items())}
            if total else {},
        }


def detect_modality(names: tuple[str, ...] | list[str], dicom: set[str], stats: list[dict],
                    volume_min: float | None = None) -> str:
    """``CT`` when the channel names or DICOM say so, or the intensities are Hounsfield-like
    (air at or below -500 somewhere in the volumes); else ``MRI``."""
    if "CT" in dicom or any("CT" in str(n).upper().split() or str(n).upper() == "CT" for n in names):
        return "CT"
    if dicom and dicom <= {"MR"} or any("MR" in str(n).upper() for n in names):
        return "MRI"
    low = stats[0]["min"] if volume_min is None else volume_min
    return "CT" if low <= -500 else "MRI"


def _round_up(n: float, k: int) -> int:
    return int(max(k, k * math.ceil(n / k - 1e-9)))


def plan_depth(smallest: int) -> int:
    """2x down-samplings that leave at least 2 voxels on the smallest side (at most 4)."""
    return max(1, min(4, int(math.floor(math.log2(max(smallest, 2) / 2)))))


def make_plan(fp: dict[str, Any], spatial_dims: int = 2, max_slice_voxels: int = 96 * 96,
              max_patch_voxels: int = 64**3, divisor: int = 16, spacing: list[float] | None = None,
              axis: int | None = None) -> dict[str, Any]:
    """Derive the plan (see the module doc) from a fingerprint; ``spacing`` / ``axis`` given by
    the user are kept (sizes then follow from them, without coarsening)."""
    fixed = bool(spacing)
    spacing = np.array(spacing if fixed else fp["spacing_median"], float)
    spacing = np.where(spacing > 0, spacing, np.array(fp["spacing_median"], float))
    extent = np.array(fp["extent_mm_median"], float)
    aniso = spacing.max() / max(spacing.min(), 1e-6) > 2.0
    if axis is None or axis < 0:
        axis = int(np.argmax(spacing)) if aniso else 2
    inplane = [a for a in range(3) if a != axis]
    shape = extent / spacing
    if spatial_dims == 2:
        area = shape[inplane[0]] * shape[inplane[1]]
        if area > max_slice_voxels and not fixed:  # coarsen in-plane so the whole field of view fits
            spacing[inplane] *= math.sqrt(area / max_slice_voxels)
        shape = extent / spacing
        size = [_round_up(shape[a], divisor) for a in inplane]
        smallest = min(size)
    else:
        vox = float(np.prod(shape))
        if vox > max_patch_voxels and not fixed:
            spacing *= (vox / max_patch_voxels) ** (1 / 3)
        shape = extent / spacing
        size = [_round_up(min(s, round(max_patch_voxels ** (1 / 3))), divisor) for s in shape]
        smallest = min(size)
    depth = plan_depth(smallest)
    slices = int(round(shape[axis]))
    intens = fp["foreground_intensity"]
    plan: dict[str, Any] = {
        "spacing": [round(float(s), 4) for s in spacing], "axis": axis,
        "slice_size" if spatial_dims == 2 else "patch_size": size,
        "depth": depth, "architecture": "BasicUNet" if depth == 4 else "UNet",
        "normalisation": "ct" if fp["modality"] == "CT" else "zscore",
        "intensity_stats": [[round(c["p00_5"], 4), round(c["p99_5"], 4), round(c["mean"], 4),
                             round(max(c["std"], 1e-6), 4)] for c in intens],
        "num_partitions": int(max(1, min(4, slices // 2))),
        "in_channels": int(fp["channels"]),
    }
    return plan


def needs_plan(cfg: Any) -> bool:
    """True while some key of a volume config is left to the dataset's plan."""
    d, n = cfg.data, cfg.net
    return (not d.spacing or d.axis < 0 or d.normalisation == "auto" or n.architecture == "auto"
            or n.in_channels < 1 or cfg.pretrain.num_partitions < 1
            or not (d.slice_size if n.spatial_dims == 2 else d.patch_size)
            or (d.normalisation == "ct" and not d.intensity_stats))


def apply_plan(cfg: Any, fp: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Fill every key of a volume config (sections ``data``, ``net``, ``pretrain``) left to the
    plan (empty sizes, ``axis`` -1, ``normalisation`` / ``architecture`` ``auto``, 0 channels /
    partitions) from the fingerprint ``fp``; keys the user set stay and the plan follows them.

    Returns:
        ``(resolved config, record)``; the record (fingerprint, plan, values used, keys taken
        from the plan) is what ``OUT/plan.json`` holds.

    Raises:
        ConfigError: ``net.in_channels`` set to another count than the data has.
    """
    import dataclasses

    from polyclr.errors import ConfigError

    d, n, p = cfg.data, cfg.net, cfg.pretrain
    plan = make_plan(fp, n.spatial_dims, spacing=list(d.spacing) or None, axis=d.axis)
    size_key = "slice_size" if n.spatial_dims == 2 else "patch_size"
    chosen = {
        "data.spacing": list(d.spacing) or plan["spacing"],
        "data.axis": d.axis if d.axis >= 0 else plan["axis"],
        f"data.{size_key}": list(getattr(d, size_key)) or plan[size_key],
        "data.normalisation": plan["normalisation"] if d.normalisation == "auto" else d.normalisation,
        "data.intensity_stats": [list(x) for x in d.intensity_stats] or plan["intensity_stats"],
        "net.architecture": plan["architecture"] if n.architecture == "auto" else n.architecture,
        "net.in_channels": n.in_channels or plan["in_channels"],
        "pretrain.num_partitions": p.num_partitions or plan["num_partitions"],
    }
    if chosen["net.in_channels"] != plan["in_channels"]:
        raise ConfigError(f"config key 'net.in_channels': {n.in_channels}, but the data has "
                          f"{plan['in_channels']} channel(s)")
    opened = {"data": d, "net": n, "pretrain": p}
    from_plan = [k for k in chosen if getattr(opened[k.split(".")[0]], k.split(".")[1]) in ([], -1, 0, "auto")]
    data_kw = {k.split(".")[1]: v for k, v in chosen.items() if k.startswith("data.")}
    if n.spatial_dims == 2 and not d.patch_size:
        data_kw["patch_size"] = [32, 32, 32]  # unused by 2D networks
    depth = plan_depth(min(chosen[f"data.{size_key}"]))  # the sizes actually used
    plan.update(depth=depth, architecture="BasicUNet" if depth == 4 else "UNet")
    if n.architecture == "auto":
        chosen["net.architecture"] = plan["architecture"]
    net_kw = {"architecture": chosen["net.architecture"], "in_channels": chosen["net.in_channels"]}
    pre_kw = {"num_partitions": chosen["pretrain.num_partitions"]}
    if n.architecture == "auto" and plan["architecture"] == "UNet":
        net_kw["channels"] = list(n.channels)[: depth + 1]
        pre_kw["decoder_stage"] = max(1, min(p.decoder_stage, depth - 1))  # stages a shallower UNet has
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(d, **data_kw), net=dataclasses.replace(n, **net_kw),
                              pretrain=dataclasses.replace(p, **pre_kw))
    return cfg, {"fingerprint": fp, "plan": plan, "applied": chosen, "from_plan": from_plan}
