"""Batched, on-device augmentation for 2D slices and 3D patches.

Written by hand (on ``torch.nn.functional.affine_grid`` / ``grid_sample``) because MONAI's random
dictionary transforms work one sample at a time on the CPU: per-slice ``RandAffined`` made the
data loader the bottleneck of pre-training (tens of ms per view). Here one call transforms the
whole batch on whatever device the batch is on. Parameters follow MONAI's ``RandAffine`` /
``RandAdjustContrast`` / ``RandScaleIntensity`` / ``RandShiftIntensity`` / ``RandGaussianNoise``.
With ``rng`` (:class:`polyclr.sample_rng.SampleRandom`) a sample's parameters and noise depend
only on ``(seed, step, sample key)``, so a global batch split over processes is augmented as one
process would augment it; without it the process RNG is used.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from polyclr.sample_rng import SampleRandom


def _uniform(batch: int, shape: tuple[int, ...], rng: SampleRandom | None,
             device: torch.device | None) -> torch.Tensor:
    """``(batch, *shape)`` uniform [0, 1) draws, per sample from ``rng`` when given."""
    if rng is None:
        return torch.rand(batch, *shape, device=device)
    return rng.rand(*shape).to(device)


def _rotation_3d(angles: torch.Tensor) -> torch.Tensor:
    """Rotation matrices from per-sample angles about x, y, z. Shape: (B, 3) -> (B, 3, 3)."""
    cx, cy, cz = angles.cos().unbind(1)
    sx, sy, sz = angles.sin().unbind(1)
    one, zero = torch.ones_like(cx), torch.zeros_like(cx)
    rx = torch.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], 1).view(-1, 3, 3)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], 1).view(-1, 3, 3)
    rz = torch.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], 1).view(-1, 3, 3)
    return rz @ ry @ rx


def random_affine_params(batch: int, spatial_dims: int, rotate: float = 0.25, scale: float = 0.15,
                         translate: float = 0.1, device: torch.device | None = None,
                         rng: SampleRandom | None = None) -> torch.Tensor:
    """Random affine matrices in normalised coordinates (for ``affine_grid``).

    Args:
        rotate: max rotation (radians) per axis; scale: max relative zoom; translate: max shift
            as a fraction of the half-extent.

    Shape:
        returns ``(B, d, d+1)``.
    """
    d = spatial_dims
    if d == 2:
        a = (_uniform(batch, (), rng, device) * 2 - 1) * rotate
        rot = torch.stack([a.cos(), -a.sin(), a.sin(), a.cos()], 1).view(-1, 2, 2)
    else:
        rot = _rotation_3d((_uniform(batch, (3,), rng, device) * 2 - 1) * rotate)
    zoom = 1 + (_uniform(batch, (d,), rng, device) * 2 - 1) * scale
    lin = rot / zoom[:, None, :]
    shift = (_uniform(batch, (d, 1), rng, device) * 2 - 1) * translate * 2
    return torch.cat([lin, shift], dim=2)


def apply_affine(x: torch.Tensor, theta: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Resample ``x`` with affine ``theta`` (zeros outside).

    Shape:
        x: ``(B, C, *spatial)``; theta: ``(B, d, d+1)``; returns the shape of ``x``.
    """
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def random_intensity(x: torch.Tensor, gamma: tuple[float, float] = (0.6, 1.6), scale: float = 0.2,
                     shift: float = 0.1, noise_std: float = 0.03, p_noise: float = 0.5,
                     rng: SampleRandom | None = None) -> torch.Tensor:
    """Per-sample gamma, scale, shift and Gaussian noise. Gamma acts on each sample rescaled to
    [0, 1] by its own minimum and maximum (so z-scored intensities keep their negative half);
    shift and noise are in units of that range (for intensities in [0, 1]: absolute).

    Shape:
        x: ``(B, C, *spatial)``; returns the same shape.
    """
    b = x.shape[0]
    view = (b,) + (1,) * (x.dim() - 1)
    flat = x.reshape(b, -1)
    lo = flat.amin(1).view(view)
    span = (flat.amax(1).view(view) - lo).clamp_min(1e-6)
    ones = view[1:]
    lg_lo, lg_hi = math.log(gamma[0]), math.log(gamma[1])
    lg = (lg_lo + _uniform(b, (), rng, x.device) * (lg_hi - lg_lo)).exp()
    y = ((x - lo) / span).clamp(0, 1).pow(lg.view(view)) * span + lo
    y = y * (1 + (_uniform(b, ones, rng, x.device) * 2 - 1) * scale)
    y = y + (_uniform(b, ones, rng, x.device) * 2 - 1) * shift * span
    noise_on = (_uniform(b, ones, rng, x.device) < p_noise).to(x.dtype)
    noise = torch.randn_like(y) if rng is None else rng.randn(*y.shape[1:]).to(y)
    return y + noise * noise_std * span * noise_on


def augment_pair(x: torch.Tensor, y: torch.Tensor | None, spatial_dims: int
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Same random affine for image and label (nearest for the label), then intensity on image.

    Shape:
        x: ``(B, C, *spatial)`` float; y: ``(B, 1, *spatial)`` long or None.
    """
    theta = random_affine_params(x.shape[0], spatial_dims, device=x.device)
    xa = random_intensity(apply_affine(x, theta))
    ya = None if y is None else apply_affine(y.float(), theta, mode="nearest").round().long()
    return xa, ya


class AugmentCollate:
    """A picklable ``collate_fn``: stack ``(x, y)`` items and augment the whole batch at once.

    Args:
        spatial_dims: 2 or 3.
        augment: apply :func:`augment_pair` (False: stack only).
    """

    def __init__(self, spatial_dims: int, augment: bool = True) -> None:
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        self.spatial_dims, self.augment = spatial_dims, augment

    def __call__(self, items: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.stack([i[0] for i in items])
        y = torch.stack([i[1] for i in items])
        if not self.augment:
            return x, y
        xa, ya = augment_pair(x, y, self.spatial_dims)
        return xa, ya
