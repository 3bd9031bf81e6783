"""AutoTCL's parametric augmentation (Zheng et al., "Parametric Augmentation for Time Series
Contrastive Learning", ICLR 2024): the augmentation network and its regularisers.

A view is ``v = g(x) ⊙ h(x) ⊙ x``: ``h(x)`` is a per-timestamp binary mask that keeps the
informative part ``h(x) ⊙ x`` and drops the rest; ``g(x)`` is a non-zero (hence invertible,
information-lossless) per-(channel, timestamp) factor. Both heads share one small dilated-conv
trunk. The network is trained alternately with the encoder (see
:class:`polyclr.modalities.timeseries.objectives.AutoTCLObjective`); it never looks inside the
encoder, so any per-timestamp encoder works. Written by hand: no installed library ships it.
"""

from __future__ import annotations

import torch
from torch import nn


class ParametricAugmenter(nn.Module):
    """The augmentation network ``x -> (v, h)`` with ``v = g(x) ⊙ h(x) ⊙ x``.

    ``h`` is sampled from a hard-concrete distribution (a binary-concrete / Gumbel-sigmoid
    relaxation stretched to ``(stretch_low, stretch_high)`` and clipped to ``[0, 1]``, Louizos
    et al. 2018). In training the forward value is the hard 0/1 mask and the gradient is the
    relaxed sample's (straight-through); in eval mode it is the stretched, clipped probability
    (no sampling). ``g = exp(max_log_scale * tanh(.))`` lies in ``[e^-s, e^s]``, never 0.

    Args:
        in_channels: channels ``C``.
        hidden: width of the shared trunk.
        depth: dilated residual-free conv layers of the trunk (dilations 1, 2, 4, ...).
        temperature: temperature of the binary-concrete relaxation.
        stretch: ``(low, high)`` stretch of the hard-concrete distribution (low < 0 < 1 < high).
        max_log_scale: bound ``s`` of ``|log g|``.
        init_keep_logit: initial mask logit (positive: start by keeping most timestamps).
        hard: straight-through hard masks in training (False: the relaxed mask).

    Shape:
        x: ``(B, C, T)`` (NaN = padding, treated as 0); returns ``(v (B, C, T), h (B, 1, T))``.
    """

    def __init__(self, in_channels: int, hidden: int = 32, depth: int = 3, temperature: float = 0.5,
                 stretch: tuple[float, float] = (-0.1, 1.1), max_log_scale: float = 0.5,
                 init_keep_logit: float = 2.0, hard: bool = True) -> None:
        super().__init__()
        if in_channels < 1 or hidden < 1 or depth < 1 or temperature <= 0 or max_log_scale <= 0:
            raise ValueError("in_channels, hidden, depth, temperature and max_log_scale must be positive")
        if not stretch[0] <= 0 < 1 <= stretch[1]:
            raise ValueError(f"stretch must satisfy low <= 0 < 1 <= high, got {stretch}")
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Conv1d(in_channels if i == 0 else hidden, hidden, 3, padding=2**i, dilation=2**i),
                       nn.GELU()]
        self.trunk = nn.Sequential(*layers)
        self.mask_head = nn.Conv1d(hidden, 1, 1)  # h(x): one keep-logit per timestamp
        self.transform_head = nn.Conv1d(hidden, in_channels, 1)  # g(x): one factor per (c, t)
        nn.init.zeros_(self.mask_head.weight)
        nn.init.constant_(self.mask_head.bias, init_keep_logit)
        nn.init.zeros_(self.transform_head.weight)  # start at g = 1
        nn.init.zeros_(self.transform_head.bias)
        self.temperature, self.stretch, self.max_log_scale, self.hard = temperature, stretch, max_log_scale, hard

    def mask(self, logit: torch.Tensor) -> torch.Tensor:
        """Hard-concrete sample (training) or its deterministic value (eval). Shape: any → same."""
        low, high = self.stretch
        if self.training:
            u = torch.rand_like(logit).clamp(1e-6, 1 - 1e-6)
            soft = torch.sigmoid((logit + torch.log(u) - torch.log1p(-u)) / self.temperature)
        else:
            soft = torch.sigmoid(logit)
        soft = (soft * (high - low) + low).clamp(0.0, 1.0)
        if self.training and self.hard:
            return (soft > 0.5).to(soft.dtype) + (soft - soft.detach())  # straight-through, exact 0/1
        return soft

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.nan_to_num(x, nan=0.0)
        feats = self.trunk(x)
        h = self.mask(self.mask_head(feats))
        g = torch.exp(torch.tanh(self.transform_head(feats)) * self.max_log_scale)
        return g * h * x, h


def mask_budget_penalty(h: torch.Tensor, keep_ratio: float) -> torch.Tensor:
    """Sparsity regulariser: mean over samples of ``relu(kept fraction - keep_ratio)`` — the
    view should keep at most ``keep_ratio`` of the timestamps (a minimal informative part).

    Shape:
        h: ``(B, 1, T)`` mask in [0, 1]; returns a scalar.
    """
    return torch.relu(h.flatten(1).mean(dim=1) - keep_ratio).mean()


def mask_smoothness(h: torch.Tensor) -> torch.Tensor:
    """Temporal-consistency regulariser: mean absolute change of the mask between neighbouring
    timestamps (masks drop contiguous segments rather than isolated points).

    Shape:
        h: ``(B, 1, T)``; returns a scalar (0 when ``T == 1``).
    """
    if h.shape[-1] < 2:
        return h.new_zeros(())
    return (h[..., 1:] - h[..., :-1]).abs().mean()
