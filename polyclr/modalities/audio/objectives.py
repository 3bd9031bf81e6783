"""The audio–text contrastive objective: CLAP (two-way InfoNCE), CWCL soft weights from the
frozen text side, and order-aware hard negatives (CompA-style swapped captions and audio)."""

from __future__ import annotations

import torch
from torch import nn

from polyclr.errors import ConfigError
from polyclr.losses import CrossModalInfoNCE, cwcl_weights, gather_no_grad
from polyclr.modalities.audio.encoders import AudioEncoder
from polyclr.modalities.audio.order import order_keys
from polyclr.modalities.audio.text import TextTower


class AudioTextObjective(nn.Module):
    """CLAP / CWCL / order-negative objective; owns the audio encoder (``.encoder``) and text tower.

    Args:
        encoder: audio encoder (waveform → joint space).
        text: text tower (caption index → joint space).
        name: ``clip``, ``cwcl``, ``clip+order`` or ``cwcl+order``.
        temperature, learnable_temperature, max_logit_scale: logit scale of the loss.
        cwcl_power: exponent on the CWCL weights (1 = the paper's ``(1 + cos) / 2``).
        cwcl_center: compute the CWCL weights from the frozen embeddings minus their mean over
            every registered training caption (see :func:`polyclr.losses.cwcl_weights`).
        zero_swapped_weights: with ``cwcl+order``, set the CWCL weight between captions whose
            events are the same in reversed order to 0. The frozen sentence encoder is nearly
            order-blind (cos("a beep followed by noise", "noise followed by a beep") = 0.965),
            so the paper's weights treat the order-swapped caption as a positive — the opposite
            of what the order negatives teach.

    The batch is a collated dict (the audio pipeline's ``ClipTrainDataset``): ``wave (B, T)``, ``text (B,)``,
    ``swap_text (B,)``, ``swap_wave (B, T)``, ``has_swap (B,)``.
    """

    def __init__(
        self,
        encoder: AudioEncoder,
        text: TextTower,
        name: str = "clip",
        temperature: float = 0.07,
        learnable_temperature: bool = True,
        max_logit_scale: float = 100.0,
        cwcl_power: float = 1.0,
        zero_swapped_weights: bool = True,
        cwcl_center: bool = False,
    ) -> None:
        super().__init__()
        if "cwcl" in name and text.kind != "frozen":
            raise ConfigError("objective cwcl needs model.text_tower=frozen (weights come from it)")
        self.encoder = encoder
        self.text = text
        self.name = name
        self.cwcl_power = cwcl_power
        self.cwcl_center = cwcl_center
        self._frozen_mean = torch.zeros(0)  # mean normalised frozen embedding of the registered texts
        self._frozen_mean_n = 0
        self.zero_swapped_weights = zero_swapped_weights
        self._order_keys = torch.zeros(0, 2, dtype=torch.long)  # per registered text, see order_keys
        self.clips_seen = 0  # audio clips encoded in training (incl. order-swapped ones)
        # gather_distributed is a no-op with one process and gathers across DDP ranks otherwise.
        self.loss = CrossModalInfoNCE(temperature, learnable_temperature, max_logit_scale,
                                      gather_distributed=True)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        a = self.encoder(batch["wave"])
        self.clips_seen += int(a.shape[0])
        t = self.text(batch["text"])
        weights = None
        if "cwcl" in self.name:
            q = gather_no_grad(self.text.frozen_embeddings(batch["text"]).to(a.device))
            weights = cwcl_weights(q, center=self._caption_mean() if self.cwcl_center else None) ** self.cwcl_power
            if "order" in self.name and self.zero_swapped_weights:
                weights = weights.masked_fill(self._swap_conflicts(batch["text"]).to(weights.device), 0.0)
        extra_t = extra_a = None
        has = batch["has_swap"].bool()
        if "order" in self.name and bool(has.any()):
            # Rows without an ordered caption get the anchor's own antipode (detached) as their
            # "extra negative": its logit is -scale (cos = -1), adding < exp(-scale) relative mass
            # to the denominator and no gradient, i.e. it is effectively masked out.
            extra_t = -a.detach().clone()
            extra_a = -t.detach().clone()
            extra_t[has] = self.text(batch["swap_text"][has])
            extra_a[has] = self.encoder(batch["swap_wave"][has])
            self.clips_seen += int(has.sum())
            extra_t, extra_a = extra_t.unsqueeze(1), extra_a.unsqueeze(1)
        loss = self.loss(a, t, weights=weights, extra_b_for_a=extra_t, extra_a_for_b=extra_a)
        return {"loss": loss, "logit_scale": self.loss.logit_scale().detach()}

    def _caption_mean(self) -> torch.Tensor:
        """Mean of the normalised frozen embeddings of every registered caption, ``(D,)``.

        The same on every DDP rank (all ranks register the same captions); recomputed only when
        captions are added."""
        n = len(self.text.texts)
        if self._frozen_mean.numel() == 0 or self._frozen_mean_n != n:
            q = self.text.frozen_embeddings(torch.arange(n)).float()
            self._frozen_mean = torch.nn.functional.normalize(q, dim=-1).mean(0)
            self._frozen_mean_n = n
        return self._frozen_mean

    def _swap_conflicts(self, idx: torch.Tensor) -> torch.Tensor:
        """``(N_all, N_all)`` bool: caption j is caption i's order reversal (gathered batch)."""
        if len(self._order_keys) < len(self.text.texts):
            self._order_keys = torch.from_numpy(order_keys(self.text.texts))
        k = gather_no_grad(self._order_keys[idx.cpu()].to(idx.device))
        return (k[:, 1, None] == k[None, :, 0]) & (k[:, 1, None] >= 0)
