"""Pre-training objectives (``forward(batch) -> {"loss", ...}``) for :class:`PretrainModule`.

Batches are dicts: ``x (B, C, T)`` float (NaN = padding), ``index (B,)`` dataset row,
``trial (B,)`` and ``patient (B,)`` long ids.

Several processes (DDP): the random views of a sample are drawn from generators keyed by
``(seed, step, index)`` (:mod:`polyclr.sample_rng`), and TS2Vec / COMET gather the encoded views
and the ids of every process (:func:`polyclr.losses.gather_rows`, gradients kept) and compute
the loss on the whole global batch, so each rank's loss is the loss a single process computes on
that batch. Every rank computing the full loss gives each rank's input ``world`` times its share
of the gradient; DDP's gradient averaging divides it back.
"""

from __future__ import annotations

import copy
import inspect

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from polyclr.losses import (
    MultiPositiveInfoNCE,
    gather_rows,
    same_sample_mask,
    two_view_ids,
    world_info,
)
from polyclr.modalities.timeseries.augment import (
    compose,
    overlapping_crops,
    take_per_row,
)
from polyclr.modalities.timeseries.autotcl import (
    ParametricAugmenter,
    mask_budget_penalty,
    mask_smoothness,
)
from polyclr.modalities.timeseries.losses import (
    DBPM,
    comet_level_losses,
    hierarchical_contrastive_loss,
)
from polyclr.sample_rng import SampleRandom


class _Objective(nn.Module):
    """Shared parts: DBPM re-weighting and a uniform weight average of the encoder (TS2Vec
    evaluates an SWA copy of its encoder; ``average=True`` does the same), the per-sample keyed
    randomness (``seed``: the run's seed; ``None`` draws one from the torch RNG) and the
    cross-process gather."""

    def __init__(self, encoder: nn.Module, dbpm: DBPM | None = None, average: bool = False,
                 seed: int | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.seed = int(torch.randint(0, 2**31 - 1, (1,)).item()) if seed is None else int(seed)
        self.keyed_encoder = "rng" in inspect.signature(encoder.forward).parameters
        self.dbpm = dbpm
        self.avg_encoder = copy.deepcopy(encoder).requires_grad_(False) if average else None
        self.register_buffer("n_averaged", torch.zeros((), dtype=torch.long))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def _update_average(self) -> None:
        if self.avg_encoder is None:
            return
        n = float(self.n_averaged.item())  # a CPU scalar buffer read (no device sync on CPU)
        # running uniform mean: avg += (p - avg) / (n + 1), one fused op for all parameters
        torch._foreach_lerp_(list(self.avg_encoder.parameters()),
                             [p.detach() for p in self.encoder.parameters()], 1.0 / (n + 1))
        for a, b in zip(self.avg_encoder.buffers(), self.encoder.buffers(), strict=True):
            a.copy_(b)
        self.n_averaged += 1

    def export_encoder(self) -> nn.Module:
        """The encoder to save: the weight average when enabled, else the trained encoder."""
        if self.avg_encoder is not None and self.n_averaged > 0:
            return self.avg_encoder
        return self.encoder

    def sample_rng(self, batch: dict) -> SampleRandom:
        """Generators keyed by ``(seed, step, index)`` for this batch's samples."""
        return SampleRandom(batch["index"], self.seed, int(self.step.item()), batch["x"].device)

    def encode(self, x: torch.Tensor, rng: SampleRandom, **kwargs) -> torch.Tensor:
        """``encoder(x)`` with its timestamp mask and dropout keyed by ``rng`` when it can."""
        return self.encoder(x, rng=rng, **kwargs) if self.keyed_encoder else self.encoder(x, **kwargs)

    @staticmethod
    def gather(batch: dict, *views: torch.Tensor) -> tuple[dict, list[torch.Tensor]]:
        """The views (with gradients) and the batch's ids from every process, rank order; the
        identity with one process."""
        if world_info()[1] == 1:
            return batch, list(views)
        ids = {k: gather_rows(batch[k], with_grad=False) for k in ("index", "trial", "patient") if k in batch}
        return ids, [gather_rows(v) for v in views]

    def _reduce(self, per_sample: torch.Tensor, batch: dict, logs: dict) -> dict[str, torch.Tensor]:
        if self.training:
            self.step += 1
        if self.dbpm is None:
            return {"loss": per_sample.mean(), **logs}
        index = batch["index"]
        w = self.dbpm.weights(index).to(per_sample.dtype)
        if self.training:
            self.dbpm.update(index, per_sample)
        return {"loss": (w * per_sample).mean(), "dbpm_flagged": (w < 1).float().mean(), **logs}


TS2VEC_SMALL_VALUES = 100_000  # training sets up to this many values get the short budget
TS2VEC_ITERS = (200, 600)  # iterations for small / larger training sets


def ts2vec_iterations(n: int, length: int, channels: int) -> int:
    """The public TS2Vec code's default budget: 200 iterations when the training array has at
    most :data:`TS2VEC_SMALL_VALUES` values (``n * length * channels``, padding included, as
    its ``train_data.size``), 600 otherwise."""
    if min(n, length, channels) < 0:
        raise ValueError(f"need non-negative sizes, got n={n}, length={length}, channels={channels}")
    return TS2VEC_ITERS[0] if n * length * channels <= TS2VEC_SMALL_VALUES else TS2VEC_ITERS[1]


def split_long_series(x: np.ndarray, max_train_length: int) -> tuple[np.ndarray, np.ndarray]:
    """TS2Vec's cropping of long training series: a series at least twice ``max_train_length``
    long is cut into ``length // max_train_length`` consecutive sections (``np.array_split``,
    shorter ones NaN-padded to the first), each a training sample; all-NaN samples are dropped.

    Shape:
        x: ``(n, C, T)``; returns ``(x_sections (m, C, T'), source (m,))`` with ``source`` the
        row of ``x`` each section comes from (sections grouped by position, as TS2Vec).
    """
    if max_train_length < 2:
        raise ValueError(f"max_train_length must be >= 2, got {max_train_length}")
    n, _, t = x.shape
    sections = t // max_train_length
    source = np.arange(n)
    if sections >= 2:
        parts = np.array_split(x, sections, axis=2)
        width = parts[0].shape[2]
        x = np.concatenate([np.pad(p, ((0, 0), (0, 0), (0, width - p.shape[2])), constant_values=np.nan)
                            for p in parts], axis=0)
        source = np.tile(source, sections)
    keep = ~np.isnan(x).all(axis=(1, 2))
    return x[keep], source[keep]


class TS2VecObjective(_Objective):
    """TS2Vec: two overlapping random crops (contextual consistency) + timestamp masking (in the
    encoder) + hierarchical instance/temporal loss on the overlap.

    Args:
        encoder: per-timestamp encoder ``(B, C, T) -> (B, T, D)``.
        alpha: instance-loss weight.
        temporal_unit: first scale with a temporal loss (minimum crop ``2**(unit+1)``).
        max_train_length: longer series are cut to a random window of this length first.
        fast: encode both crops in one pass with
            :meth:`~polyclr.modalities.timeseries.encoders.TS2VecEncoder.forward_segments`
            (exact; used when the encoder has it), else one ``encoder(crop)`` call per crop.
    """

    def __init__(self, encoder: nn.Module, alpha: float = 0.5, temporal_unit: int = 0,
                 max_train_length: int = 3000, dbpm: DBPM | None = None, average: bool = True,
                 fast: bool = True, seed: int | None = None) -> None:
        super().__init__(encoder, dbpm, average, seed)
        if not 0 <= alpha <= 1 or temporal_unit < 0 or max_train_length < 2:
            raise ValueError("need 0 <= alpha <= 1, temporal_unit >= 0, max_train_length >= 2")
        self.alpha, self.temporal_unit, self.max_train_length = alpha, temporal_unit, max_train_length
        self.fast = fast and hasattr(encoder, "forward_segments")

    def encode_crops(self, x: torch.Tensor, s1: torch.Tensor, l1: int, s2: torch.Tensor, l2: int,
                     crop: int, mask: torch.Tensor | None = None,
                     rng: SampleRandom | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Representations of the overlap in both crops: ``(z1, z2)``, each ``(B, crop, D)``.

        ``mask`` (optional, ``(B, l1 + l2)`` bool) fixes the timestamp masks of crop 1 then
        crop 2 (the tests use it to compare the fast and the per-crop path); ``rng`` keys the
        encoder's random mask and dropout per sample.
        """
        m1, m2 = (None, None) if mask is None else (mask[:, :l1], mask[:, l1:])
        kw = {"rng": rng} if rng is not None and self.keyed_encoder else {}
        if not self.fast:
            z1 = self.encoder(take_per_row(x, s1, l1), mask=m1, **kw)[:, -crop:]
            z2 = self.encoder(take_per_row(x, s2, l2), mask=m2, **kw)[:, :crop]
            return z1, z2
        ar = torch.arange(max(l1, l2), device=x.device)
        idx = torch.cat([s1[:, None] + ar[:l1], s2[:, None] + ar[:l2]], dim=1)  # (B, l1 + l2)
        both = x.gather(2, idx[:, None, :].expand(-1, x.shape[1], -1))
        z = self.encoder.forward_segments(both, (l1, l2), (l1 - crop, l1 + crop), mask=mask, **kw)
        return z[:, :crop], z[:, crop:]

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        if self.training:
            self._update_average()
        x, rng = batch["x"], self.sample_rng(batch)
        b, _, t = x.shape
        if t > self.max_train_length:
            start = torch.full((b,), rng.batch_randint(0, t - self.max_train_length + 1), device=x.device)
            x, t = take_per_row(x, start, self.max_train_length), self.max_train_length
        s1, l1, s2, l2, crop = overlapping_crops(t, b, x.device, min(t, 2 ** (self.temporal_unit + 1)), rng)
        z1, z2 = self.encode_crops(x, s1, l1, s2, l2, crop, rng=rng)
        every, (z1, z2) = self.gather(batch, z1, z2)
        per = hierarchical_contrastive_loss(z1, z2, self.alpha, self.temporal_unit, reduction="none")
        return self._reduce(per, every, {})


class COMETObjective(_Objective):
    """COMET: two views by fixed augmentations; observation / sample / trial / patient levels.

    Args:
        encoder: per-timestamp encoder.
        weights: ``{level: lambda}`` for any subset of observation, sample, trial, patient.
        temperature: InfoNCE temperature (cosine similarities).
        augmentations: names of fixed augmentations (see :mod:`.augment`).
    """

    def __init__(self, encoder: nn.Module, weights: dict[str, float], temperature: float = 0.1,
                 augmentations: tuple[str, ...] = ("jitter", "scaling", "masking"),
                 dbpm: DBPM | None = None, average: bool = False, seed: int | None = None) -> None:
        super().__init__(encoder, dbpm, average, seed)
        if not any(v > 0 for v in weights.values()):
            raise ValueError("COMET needs at least one level with a positive weight")
        self.weights, self.temperature = dict(weights), temperature
        self.augment = compose(tuple(augmentations))

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        if self.training:
            self._update_average()
        x, rng = batch["x"], self.sample_rng(batch)
        h1 = self.encode(self.augment(x, rng), rng)
        h2 = self.encode(self.augment(x, rng), rng)
        every, (h1, h2) = self.gather(batch, h1, h2)
        per, parts = comet_level_losses(h1, h2, every["trial"], every["patient"], self.weights, self.temperature)
        return self._reduce(per, every, {f"level_{k}": v.detach() for k, v in parts.items()})


class AutoTCLObjective(_Objective):
    """AutoTCL: the encoder contrasts a series ``x`` with its learned view ``v = g(x) ⊙ h(x) ⊙ x``;
    the augmentation network and the encoder are updated alternately.

    Encoder steps: ``v`` from the augmenter (no gradient to it), TS2Vec hierarchical loss
    between the per-timestamp representations of ``x`` and ``v`` (the mask and ``g`` act per
    timestamp, so both are aligned in time). Augmenter steps (every ``aug_every``-th step; the
    encoder frozen, in eval mode, no timestamp masking) minimise

        info(x, v) - adv_weight * L_enc(x, v) + budget_weight * relu(mean(h) - keep_ratio)
        + smooth_weight * mean|h_t - h_{t-1}|

    ``info`` is the InfoNCE between instance embeddings of ``x`` and ``v`` (each view must
    identify its own series in the batch: a lower bound on ``MI(x; v)``, the fidelity term);
    ``-L_enc`` makes the views hard for the encoder (the adversarial term); the two regularisers
    keep the informative part small and temporally contiguous.

    Args:
        encoder: per-timestamp encoder (any; the augmenter never looks inside it).
        in_channels: channels of the input.
        aug_every: one augmenter step every ``aug_every`` steps (>= 2).
        budget_weight: weight of the mask budget (sparsity) penalty.
        temperature: temperature of the fidelity InfoNCE.
        alpha: instance-loss weight of the hierarchical loss.
        adv_weight: weight of the adversarial term (0 = information-preserving only).
        keep_ratio: kept fraction of timestamps above which the budget penalty acts.
        smooth_weight: weight of the temporal-consistency penalty.
    """

    def __init__(self, encoder: nn.Module, in_channels: int, aug_every: int = 2, budget_weight: float = 0.1,
                 temperature: float = 0.2, alpha: float = 0.5, dbpm: DBPM | None = None,
                 average: bool = True, adv_weight: float = 0.5, keep_ratio: float = 0.7,
                 smooth_weight: float = 0.1) -> None:
        super().__init__(encoder, dbpm, average)
        if aug_every < 2:
            raise ValueError(f"aug_every must be >= 2 (alternating steps), got {aug_every}")
        if min(budget_weight, adv_weight, smooth_weight) < 0 or not 0 < keep_ratio <= 1:
            raise ValueError("weights must be >= 0 and keep_ratio in (0, 1]")
        self.augmenter = ParametricAugmenter(in_channels)
        self.aug_every, self.alpha = aug_every, alpha
        self.budget_weight, self.adv_weight = budget_weight, adv_weight
        self.keep_ratio, self.smooth_weight = keep_ratio, smooth_weight
        self.info_nce = MultiPositiveInfoNCE(temperature=temperature)

    def _frozen_encoder(self, x: torch.Tensor) -> torch.Tensor:
        """Per-timestamp representations with the encoder's weights detached (eval mode, no
        timestamp masking): gradients reach the input (the augmenter) but not the encoder."""
        params = {k: v.detach() for k, v in self.encoder.named_parameters()}
        params.update(dict(self.encoder.named_buffers()))
        valid = ~torch.isnan(x).any(dim=1)
        was_training = self.encoder.training
        self.encoder.eval()
        try:
            return functional_call(self.encoder, params, (x,), {"mask": torch.ones_like(valid)})
        finally:
            self.encoder.train(was_training)

    def augmenter_loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The augmentation network's objective on a batch (encoder frozen). Shape: x ``(B, C, T)``."""
        v, h = self.augmenter(x)
        zx, zv = self._frozen_encoder(x), self._frozen_encoder(v)
        info = self.info_nce(torch.cat([zx.amax(dim=1), zv.amax(dim=1)]),
                             same_sample_mask(two_view_ids(x.shape[0], x.device)))
        adv = hierarchical_contrastive_loss(zx, zv, self.alpha) if self.adv_weight > 0 else info.new_zeros(())
        budget, smooth = mask_budget_penalty(h, self.keep_ratio), mask_smoothness(h)
        loss = info - self.adv_weight * adv + self.budget_weight * budget + self.smooth_weight * smooth
        return {"loss": loss, "aug_info": info.detach(), "aug_adversarial": adv.detach(),
                "aug_budget": budget.detach(), "aug_smooth": smooth.detach(), "aug_kept": h.mean().detach()}

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        x = batch["x"]
        augmenter_step = self.training and int(self.step.item()) % self.aug_every == self.aug_every - 1
        if augmenter_step:
            self.step += 1
            return self.augmenter_loss(x)
        if self.training:
            self._update_average()
        with torch.no_grad():
            v, _ = self.augmenter(x)
        zx, zv = self.encoder(x), self.encoder(v)
        per = hierarchical_contrastive_loss(zx, zv, self.alpha, 0, reduction="none")
        return self._reduce(per, batch, {})


def build_dbpm(enabled: bool, n_samples: int, warmup: int, beta: float, down_weight: float) -> DBPM | None:
    """A :class:`DBPM` when ``enabled`` else ``None``."""
    return DBPM(n_samples, warmup, beta, down_weight) if enabled else None
