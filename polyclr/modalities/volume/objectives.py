"""Global and local contrastive objectives (Chaitanya et al. 2020) on the one InfoNCE core.

Several processes (DDP): the views of a slice / patch are drawn from generators keyed by
``(seed, step, sample key)`` (:mod:`polyclr.sample_rng`); the embeddings and ids of every process
are gathered (:func:`polyclr.losses.gather_rows`, gradients kept) and each rank computes the loss
of the whole global batch, the loss one process computes on it (DDP's gradient averaging divides
the ``world``-fold gradient of every rank's rows back).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from polyclr.losses import MultiPositiveInfoNCE, gather_rows, world_info
from polyclr.modalities.volume.augment import apply_affine, random_affine_params, random_intensity
from polyclr.modalities.volume.networks import GlobalHead, LocalHead, SegMonaiUNet, SegUNet
from polyclr.modalities.volume.partitions import (
    GLOBAL_STRATEGIES,
    global_pairs,
    local_pairs,
    pool_regions,
    region_boxes,
)
from polyclr.sample_rng import SampleRandom, mix_seed


def _flat(x: torch.Tensor) -> torch.Tensor:
    """(B, S, ...) -> (B*S, ...)."""
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


class VolumeContrastive(nn.Module):
    """Global (G^R / G^D- / G^D) and local (L^l / L^D) contrastive losses on a SegUNet.

    Args:
        net: the encoder-decoder being pre-trained (``self.encoder`` for the engine): a
            :class:`SegUNet` (BasicUNet) or :class:`SegMonaiUNet` (UNet).
        global_strategy: ``GR``, ``GD-``, ``GD`` or None (no global loss).
        local_strategy: ``L``, ``LD`` or None (no local loss).
        phase: ``global`` (encoder + global head), ``local`` (decoder + local head, encoder
            frozen: the paper's second stage) or ``joint`` (all, ``global + local_weight*local``).
        temperature: InfoNCE temperature.
        decoder_stage: which decoder output the local loss uses, 1 = coarsest ..
            ``len(net.decoder_channels)`` (BasicUNet: 4 = full resolution).
        region_size, num_regions, region_sampling: local regions on that feature map.
        within_image_negatives: L^l negatives only from the same image (the paper).
        local_weight: weight of the local loss in ``joint``.
        proj_dim, local_dim: head output sizes.
        seed: seed of the keyed view randomness (``None``: drawn from the torch RNG).
    """

    ddp_find_unused_parameters = True  # the local stage uses only some decoder stages

    def __init__(
        self,
        net: SegUNet | SegMonaiUNet,
        global_strategy: str | None = "GD",
        local_strategy: str | None = "LD",
        phase: str = "joint",
        temperature: float = 0.1,
        decoder_stage: int = 3,
        region_size: int = 3,
        num_regions: int = 13,
        region_sampling: str = "grid",
        within_image_negatives: bool = True,
        local_weight: float = 1.0,
        proj_dim: int = 128,
        local_dim: int = 64,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if global_strategy is not None and global_strategy not in GLOBAL_STRATEGIES:
            raise ValueError(f"global_strategy must be one of {GLOBAL_STRATEGIES} or None")
        if local_strategy not in (None, "L", "LD"):
            raise ValueError("local_strategy must be 'L', 'LD' or None")
        if phase not in ("global", "local", "joint"):
            raise ValueError(f"phase must be global, local or joint, got {phase!r}")
        stages = len(net.decoder_channels)
        if local_strategy is not None and not 1 <= decoder_stage <= stages:
            raise ValueError(f"decoder_stage must be in 1..{stages} for this network, got {decoder_stage}")
        if phase in ("global", "joint") and global_strategy is None:
            raise ValueError(f"phase {phase!r} needs a global strategy")
        if phase in ("local", "joint") and local_strategy is None:
            raise ValueError(f"phase {phase!r} needs a local strategy")
        self.encoder = net
        self.global_strategy, self.local_strategy = global_strategy, local_strategy
        self.decoder_stage = decoder_stage
        self.region_size, self.num_regions, self.region_sampling = region_size, num_regions, region_sampling
        self.within_image_negatives, self.local_weight = within_image_negatives, local_weight
        self.global_head = GlobalHead(net.bottleneck_channels, out_dim=proj_dim)
        stage_channels = net.decoder_channels[min(decoder_stage, stages) - 1]
        self.local_head = LocalHead(net.spatial_dims, stage_channels, local_dim)
        self.loss = MultiPositiveInfoNCE(temperature=temperature)
        self.seed = int(torch.randint(0, 2**31 - 1, (1,)).item()) if seed is None else int(seed)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.set_phase(phase)

    def set_phase(self, phase: str) -> None:
        """Switch stage; in ``local`` the encoder is frozen (requires_grad False)."""
        self.phase = phase
        for p in self.encoder.encoder_parameters():
            p.requires_grad_(phase != "local")
        for p in self.global_head.parameters():
            p.requires_grad_(phase != "local")
        for p in list(self.encoder.decoder_parameters()) + list(self.local_head.parameters()):
            p.requires_grad_(phase != "global")
        for p in self.encoder.head_parameters():
            p.requires_grad_(False)

    @staticmethod
    def _gathered(z: torch.Tensor, ids: torch.Tensor, partitions: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Embeddings (with gradients), image ids and partitions of every process."""
        if world_info()[1] == 1:
            return z, ids, partitions
        return gather_rows(z), gather_rows(ids, with_grad=False), gather_rows(partitions, with_grad=False)

    def global_loss(self, v1: torch.Tensor, v2: torch.Tensor, partitions: torch.Tensor,
                    keys: torch.Tensor | None = None) -> torch.Tensor:
        """Global loss over two views. Shape: v1, v2 ``(N, C, *spatial)``; partitions, keys
        (one id per image, unique in the global batch; default ``arange(N)``) ``(N,)``."""
        keys = torch.arange(v1.shape[0], device=v1.device) if keys is None else keys
        z = self.global_head(self.encoder.encode(torch.cat([v1, v2]))[-1])
        z, ids, part = self._gathered(z, torch.cat([keys, keys]), torch.cat([partitions, partitions]))
        pos, excl = global_pairs(self.global_strategy, ids, part)
        return self.loss(z, pos, excl)

    def local_loss(self, v1: torch.Tensor, v2: torch.Tensor, partitions: torch.Tensor,
                   keys: torch.Tensor | None = None, gen: torch.Generator | None = None) -> torch.Tensor:
        """Local loss over region embeddings of a decoder stage (spatially aligned views);
        ``gen`` draws the regions (default: seeded from the torch RNG)."""
        n = v1.shape[0]
        keys = torch.arange(n, device=v1.device) if keys is None else keys
        x = torch.cat([v1, v2])
        if self.phase == "local":
            with torch.no_grad():
                skips = self.encoder.encode(x)
        else:
            skips = self.encoder.encode(x)
        feats = self.encoder.decode(skips, upto=self.decoder_stage)[-1]
        proj = self.local_head(feats)
        if gen is None:
            gen = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,)).item()))
        boxes = region_boxes(tuple(proj.shape[2:]), self.region_size, self.num_regions,
                             self.region_sampling, gen)
        emb = pool_regions(proj, boxes).reshape(2 * n * self.num_regions, -1)
        emb, ids, part = self._gathered(emb, torch.cat([keys, keys]), torch.cat([partitions, partitions]))
        pos, excl, _, _ = local_pairs(self.local_strategy, ids, part, self.num_regions,
                                      self.within_image_negatives)
        return self.loss(emb, pos, excl)

    def views(self, x: torch.Tensor, aligned: bool, rng: SampleRandom | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Two augmented views of ``x``; ``aligned``: one shared spatial transform, so the same
        region in both views shows the same anatomy (local loss); else independent ones;
        ``rng`` draws them per sample (default: the process RNG)."""
        d = self.encoder.spatial_dims
        t1 = random_affine_params(x.shape[0], d, device=x.device, rng=rng)
        t2 = t1 if aligned else random_affine_params(x.shape[0], d, device=x.device, rng=rng)
        return random_intensity(apply_affine(x, t1), rng=rng), random_intensity(apply_affine(x, t2), rng=rng)

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Loss of the current phase. Shape: batch["x"] ``(B, S, 1, *spatial)``,
        batch["partition"] ``(B, S)``, optional batch["index"] ``(B, S)`` dataset item (keys the
        views' randomness; default: the position in the batch)."""
        part = _flat(batch["partition"])
        x = _flat(batch["x"])
        s = batch["x"].shape[1]
        item = batch.get("index")
        if item is None:
            item = torch.arange(batch["x"].shape[0], device=x.device)[:, None].expand(-1, s)
        keys = _flat(item * s + torch.arange(s, device=item.device))  # unique per slice / patch
        step = int(self.step.item())
        rng = SampleRandom(keys, self.seed, step, x.device)
        if self.training:
            self.step += 1
        out: dict[str, torch.Tensor] = {}
        total = None
        if self.phase in ("global", "joint"):
            out["global_loss"] = self.global_loss(*self.views(x, aligned=False, rng=rng), part, keys)
            total = out["global_loss"]
        if self.phase in ("local", "joint"):
            v1, v2 = self.views(x, aligned=True, rng=rng)
            regions = torch.Generator().manual_seed(mix_seed(self.seed, step, 2))  # same on every rank
            out["local_loss"] = self.local_loss(v1, v2, part, keys, regions)
            w = self.local_weight if self.phase == "joint" else 1.0
            total = w * out["local_loss"] if total is None else total + w * out["local_loss"]
        out["loss"] = total
        return out
