"""Torch datasets over preprocessed volumes: partition-structured pre-training batches and
labelled slices / patches for fine-tuning."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from polyclr.modalities.volume.partitions import normalised_positions, partition_index


def seed_from_torch() -> int:
    return int(torch.randint(0, 2**31 - 1, (1,)).item())


def _take(vol: torch.Tensor, spatial_dims: int, axis: int, index: int, patch: list[int],
          rng: np.random.Generator) -> torch.Tensor:
    """A 2D slice at ``index`` along ``axis`` or a 3D patch centred there (others random).

    Shape:
        vol: ``(C, X, Y, Z)``; returns ``(C, H, W)`` or ``(C, *patch)``.
    """
    if spatial_dims == 2:
        return vol.select(axis + 1, index)
    sl: list[slice] = [slice(None)]
    for a in range(3):
        size, n = int(patch[a]), vol.shape[a + 1]
        if a == axis:
            start = int(np.clip(index - size // 2, 0, n - size))
        else:
            start = int(rng.integers(0, n - size + 1))
        sl.append(slice(start, start + size))
    return vol[tuple(sl)]


class PartitionDataset(Dataset):
    """Each item: one volume, one slice/patch drawn from each of its S partitions.

    Mirrors the paper's batches (several volumes x one image per partition). Views are made on
    the batch by the objective (:mod:`polyclr.modalities.volume.augment`), on its device.

    Args:
        spatial_dims: 2 (slices) or 3 (patches).
        volumes: preprocessed images ``(1, X, Y, Z)`` in [0, 1] (a list, or a lazy sequence
            over a cache such as :class:`polyclr.pipelines.volume.prepare.CaseField`).
        affines: their (4, 4) affines (for physical positions).
        num_partitions: S.
        axis: partition axis (2 = S).
        patch_size: 3D patch size.
        length: items per epoch (default: number of volumes).
        keep: optional per-volume boolean masks of the planes that may be drawn.
        seed: with a seed, an item fetched by the key ``(i, epoch)`` (``make_loader(...,
            epoch_keys=True)``) draws its planes from ``(seed, epoch, i)`` alone, so the items of
            a global batch are the same however it is split over processes; an integer key (or
            no seed) draws from the torch RNG.

    Shape:
        item["x"]: ``(S, 1, *spatial)``; item["partition"], ["position"], ["volume"], ["index"]
        (the item ``i``): ``(S,)``.
    """

    def __init__(
        self,
        spatial_dims: int,
        volumes: Sequence[torch.Tensor],
        affines: list[np.ndarray],
        num_partitions: int,
        axis: int = 2,
        patch_size: list[int] | None = None,
        length: int | None = None,
        keep: list[np.ndarray] | None = None,
        seed: int | None = None,
    ) -> None:
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if keep is not None and len(keep) != len(volumes):
            raise ValueError("keep needs one mask per volume")
        if not volumes:
            raise ValueError("no volumes")
        self.spatial_dims, self.volumes = spatial_dims, volumes
        self.axis, self.S = axis, num_partitions
        self.patch = list(patch_size or [32, 32, 32])
        self.length = length or len(volumes)
        self.seed = seed
        self.positions, self.partitions = [], []
        for vi, (v, a) in enumerate(zip(volumes, affines, strict=True)):
            n = v.shape[axis + 1]
            pos = normalised_positions(a, tuple(v.shape[1:]), axis)
            if keep is not None and np.asarray(keep[vi]).any():  # planes dropped by selection
                pos = np.where(np.asarray(keep[vi], bool), pos, np.nan)
            if spatial_dims == 3:  # patch centres must leave room for the patch along the axis
                half = self.patch[axis] // 2
                valid = np.zeros(n, bool)
                valid[half:max(half + 1, n - self.patch[axis] + half + 1)] = True
                pos = np.where(valid, pos, np.nan)
            self.positions.append(pos)
            part = np.full(n, -1, np.int64)
            ok = ~np.isnan(pos)
            part[ok] = partition_index(pos[ok], num_partitions)
            self.partitions.append(part)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        i, epoch = key if isinstance(key, tuple) else (key, None)
        v = i % len(self.volumes)
        if epoch is None or self.seed is None:
            rng = np.random.default_rng(seed_from_torch())
        else:
            rng = np.random.default_rng([self.seed, epoch, i])
        vol, part, pos = self.volumes[v], self.partitions[v], self.positions[v]
        xs, parts, posits = [], [], []
        for s in range(self.S):
            candidates = np.flatnonzero(part == s)
            if len(candidates) == 0:  # fewer planes than partitions: nearest plane
                target = (s + 0.5) / self.S
                candidates = np.array([int(np.nanargmin(np.abs(pos - target)))])
            k = int(rng.choice(candidates))
            xs.append(_take(vol, self.spatial_dims, self.axis, k, self.patch, rng))
            parts.append(s)
            posits.append(float(pos[k]))
        return {
            "x": torch.stack(xs).float(),
            "partition": torch.tensor(parts, dtype=torch.long),
            "position": torch.tensor(posits, dtype=torch.float32),
            "volume": torch.full((self.S,), v, dtype=torch.long),
            "index": torch.full((self.S,), i, dtype=torch.long),
        }


class LabelledDataset(Dataset):
    """Labelled slices (2D) or random patches (3D) of a few volumes (augment with
    :class:`polyclr.modalities.volume.augment.AugmentCollate`).

    Args:
        spatial_dims: 2 or 3.
        images, labels: preprocessed ``(1, X, Y, Z)`` image and label tensors.
        axis: slice axis for 2D.
        patch_size: 3D patch size.
        patches_per_volume: 3D items per volume per epoch.
        skip_empty: 2D: leave out slices without any foreground label.

    Shape:
        item: ``(x (1, *spatial) float, y (1, *spatial) long)``.
    """

    def __init__(self, spatial_dims: int, images: Sequence[torch.Tensor], labels: Sequence[torch.Tensor],
                 axis: int = 2, patch_size: list[int] | None = None,
                 patches_per_volume: int = 16, skip_empty: bool = True) -> None:
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        self.spatial_dims, self.axis = spatial_dims, axis
        self.patch = list(patch_size or [32, 32, 32])
        self.images, self.labels = images, labels
        if spatial_dims == 2:
            self.index = [(v, k) for v, lab in enumerate(labels) for k in range(lab.shape[axis + 1])
                          if not skip_empty or bool(lab.select(axis + 1, k).any())]
        else:
            self.index = [(v, -1) for v in range(len(images)) for _ in range(patches_per_volume)]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        v, k = self.index[i]
        img, lab = self.images[v], self.labels[v]
        if self.spatial_dims == 2:
            return img.select(self.axis + 1, k).float(), lab.select(self.axis + 1, k).long()
        rng = np.random.default_rng(seed_from_torch())
        starts = [int(rng.integers(0, img.shape[a + 1] - self.patch[a] + 1)) for a in range(3)]
        sl = (slice(None), *(slice(s, s + p) for s, p in zip(starts, self.patch, strict=True)))
        return img[sl].float(), lab[sl].long()
