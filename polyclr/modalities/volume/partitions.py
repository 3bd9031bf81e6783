"""Partitions from physical positions, local regions, and the pair builders of Chaitanya et al.

Reference: Chaitanya, Erdil, Karani, Konukoglu, "Contrastive learning of global and local
features for medical image segmentation with limited annotations", NeurIPS 2020.

Positions are *physical*: the world coordinate (from the affine) of each voxel plane along the
chosen axis, normalised to the volume's extent, so volumes with different slice thickness or
field of view line up by anatomy, not by slice index. Every mask here feeds the one
:class:`polyclr.losses.MultiPositiveInfoNCE`.
"""

from __future__ import annotations

import numpy as np
import torch

from polyclr.losses import partition_exclusion_mask, same_key_mask, same_sample_mask

GLOBAL_STRATEGIES = ("GR", "GD-", "GD")


def normalised_positions(affine: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """Physical position of every voxel plane along ``axis``, scaled to [0, 1] over the extent.

    The world axis is the one the voxel axis points along most (after RAS reorientation voxel
    axis 2 is S). 0 is the lowest world coordinate, 1 the highest, whatever the storage order.

    Shape:
        returns ``(shape[axis],)`` float64.
    """
    if not 0 <= axis < 3:
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    n = int(shape[axis])
    if n < 1:
        raise ValueError("empty axis")
    a = np.asarray(affine, dtype=np.float64)
    world_axis = int(np.argmax(np.abs(a[:3, axis])))
    coords = a[world_axis, axis] * np.arange(n) + a[world_axis, 3]
    if n == 1:
        return np.zeros(1)
    lo, hi = coords.min(), coords.max()
    return (coords - lo) / (hi - lo)


def partition_index(positions: np.ndarray | torch.Tensor, num_partitions: int):
    """Partition ``floor(p * S)`` of normalised positions, the last one closed (p = 1 -> S-1).

    Shape:
        positions: ``(N,)`` in [0, 1]; returns ``(N,)`` integers in ``[0, S)``.
    """
    if num_partitions < 1:
        raise ValueError(f"num_partitions must be >= 1, got {num_partitions}")
    if isinstance(positions, torch.Tensor):
        return (positions * num_partitions).floor().long().clamp(0, num_partitions - 1)
    return np.clip(np.floor(np.asarray(positions) * num_partitions), 0, num_partitions - 1).astype(np.int64)


def global_pairs(
    strategy: str, sample_ids: torch.Tensor, partitions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Positive and exclusion masks of a global strategy.

    * ``GR``: views of the same slice/patch are positives (SimCLR).
    * ``GD-``: as GR, and the same partition of *other* volumes is excluded from the negatives.
    * ``GD``: everything in the same partition, of any volume, is positive.

    Shape:
        sample_ids, partitions: ``(N,)``; returns ``(positive (N, N) bool, exclude (N, N) | None)``.
    """
    if strategy == "GR":
        return same_sample_mask(sample_ids), None
    if strategy == "GD-":
        return same_sample_mask(sample_ids), partition_exclusion_mask(sample_ids, partitions)
    if strategy == "GD":
        return same_key_mask(partitions), None
    raise ValueError(f"unknown global strategy {strategy!r}; choose one of {GLOBAL_STRATEGIES}")


def region_boxes(
    spatial: tuple[int, ...],
    region_size: int,
    num_regions: int,
    sampling: str = "grid",
    generator: torch.Generator | None = None,
) -> list[tuple[slice, ...]]:
    """Boxes of ``region_size``^d voxels in a feature map: a regular grid or random positions.

    ``grid`` spreads ``num_regions`` boxes evenly (a ``ceil(num_regions^(1/d))`` lattice, first
    ``num_regions`` in raster order); ``random`` draws corners uniformly. Memory of the local
    loss then depends on ``num_regions``, not on the number of pixels.

    Returns:
        list of ``num_regions`` tuples of slices, one per spatial dim.
    """
    if region_size < 1 or num_regions < 1:
        raise ValueError("region_size and num_regions must be >= 1")
    if any(region_size > s for s in spatial):
        raise ValueError(f"region_size {region_size} exceeds feature map {tuple(spatial)}")
    d = len(spatial)
    if sampling == "grid":
        per_axis = int(np.ceil(num_regions ** (1.0 / d) - 1e-9))
        starts = [np.linspace(0, s - region_size, per_axis).round().astype(int) for s in spatial]
        grid = np.stack(np.meshgrid(*starts, indexing="ij"), -1).reshape(-1, d)
        corners = grid[:num_regions]
    elif sampling == "random":
        highs = torch.tensor([s - region_size + 1 for s in spatial])
        corners = (torch.rand(num_regions, d, generator=generator) * highs).floor().long().numpy()
    else:
        raise ValueError(f"sampling must be 'grid' or 'random', got {sampling!r}")
    return [tuple(slice(int(c), int(c) + region_size) for c in corner) for corner in corners]


def pool_regions(features: torch.Tensor, boxes: list[tuple[slice, ...]]) -> torch.Tensor:
    """Mean feature vector of each box.

    Shape:
        features: ``(B, C, *spatial)``; returns ``(B, R, C)``.
    """
    dims = tuple(range(2, features.dim()))
    return torch.stack([features[(slice(None), slice(None), *b)].mean(dim=dims) for b in boxes], 1)


def local_pairs(
    strategy: str, image_ids: torch.Tensor, partitions: torch.Tensor, num_regions: int,
    within_image_negatives: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Masks of the local loss over region embeddings ``(item, region)`` flattened item-major.

    * ``L``  (L^l): the same region of the same image (the other view) is positive; with
      ``within_image_negatives`` only other regions of that image are negatives (as in the paper),
      else every other region in the batch.
    * ``LD`` (L^D): the same region of any image in the same partition is positive; other
      regions are negatives.

    Args:
        image_ids: ``(N,)`` id of the underlying image (both views share it).
        partitions: ``(N,)`` partition of each image.

    Returns:
        ``(positive (N*R, N*R), exclude (N*R, N*R) | None, region_ids (N*R,), keys (N*R,))``.
    """
    r = torch.arange(num_regions, device=image_ids.device)
    img = image_ids[:, None].expand(-1, num_regions).reshape(-1)
    reg = r[None, :].expand(image_ids.shape[0], -1).reshape(-1)
    if strategy == "L":
        keys = img * num_regions + reg
        exclude = ~same_key_mask(img) if within_image_negatives else None
    elif strategy == "LD":
        part = partitions[:, None].expand(-1, num_regions).reshape(-1)
        keys = part * num_regions + reg
        exclude = None
    else:
        raise ValueError(f"unknown local strategy {strategy!r}; choose 'L' or 'LD'")
    return same_key_mask(keys), exclude, reg, keys
