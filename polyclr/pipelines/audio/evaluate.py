"""Held-out evaluation: zero-shot, retrieval, CompA-style order test, linear probe, long form."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from polyclr.evaluation import linear_probe, retrieval_metrics
from polyclr.modalities.audio.encoders import AudioEncoder
from polyclr.modalities.audio.features import eval_crops
from polyclr.modalities.audio.fusion import TextConditionedFusion, mean_pool_similarity
from polyclr.modalities.audio.io import load_mono
from polyclr.modalities.audio.order import order_scores, swap_audio, swap_caption
from polyclr.modalities.audio.text import TextTower
from polyclr.pipelines.audio.config import AudioConfig
from polyclr.pipelines.audio.data import AudioItem, Prepared, embed_items, embed_waves


def text_embeddings(text: TextTower, texts: list[str]) -> torch.Tensor:
    """Normalised joint-space text embeddings. Shape: ``(N, proj_dim)``."""
    return F.normalize(text.encode(texts).cpu(), dim=-1)


def zero_shot(
    audio: torch.Tensor, labels: list[str], classes: list[str], text: TextTower, templates: list[str]
) -> dict[str, Any]:
    """Zero-shot classification: each class is the mean of its prompt-template embeddings.

    Shape:
        audio: ``(N, D)`` normalised; labels: N class names (members of ``classes``).
    """
    protos = []
    for c in classes:
        e = text_embeddings(text, [t.format(c) for t in templates])
        protos.append(F.normalize(e.mean(0), dim=-1))
    scores = audio @ torch.stack(protos).T
    pred = scores.argmax(1).numpy()
    y = np.array([classes.index(lab) for lab in labels])
    per_class = {c: float((pred[y == i] == i).mean()) for i, c in enumerate(classes) if (y == i).any()}
    return {"accuracy": float((pred == y).mean()), "n": int(len(y)), "n_classes": len(classes),
            "chance": 1.0 / len(classes), "per_class": per_class}


def retrieval(audio: torch.Tensor, items: list[AudioItem], text: TextTower) -> dict[str, Any]:
    """Text→audio and audio→text R@1/5/10 and mAP@10 (every caption of a file is relevant)."""
    caps = [(c, i) for i, it in enumerate(items) for c in it.captions]
    t = text_embeddings(text, [c for c, _ in caps])
    sim = (t @ audio.T).numpy()
    rel = np.zeros_like(sim, dtype=bool)
    rel[np.arange(len(caps)), [i for _, i in caps]] = True
    return {"t2a": retrieval_metrics(sim, rel), "a2t": retrieval_metrics(sim.T, rel.T),
            "n_captions": len(caps), "n_audio": len(items)}


def order_test(
    encoder: AudioEncoder, items: list[AudioItem], text: TextTower, sr: int, clip_seconds: float,
    max_seconds: float = 30.0,
) -> dict[str, Any]:
    """CompA-style test on ordered test files: original/swapped caption × original/swapped audio.

    Chance: text 25 %, audio 25 %, group 16.7 %.
    """
    n = int(round(clip_seconds * sr))
    blocks = []
    for it in items:
        ordered = [c for c in it.captions if swap_caption(c) is not None]
        if not ordered or it.seconds > max_seconds:
            continue
        wave = load_mono(it.path, sr)
        b = None if it.boundary_s is None else int(it.boundary_s * sr)
        pair = np.concatenate([eval_crops(wave, n), eval_crops(swap_audio(wave, b), n)])
        a, _ = embed_waves(encoder, pair)
        a = F.normalize(a, dim=-1)
        t = text_embeddings(text, [ordered[0], swap_caption(ordered[0])])
        blocks.append((t @ a.T).numpy())
    if not blocks:
        return {"text_score": None, "audio_score": None, "group_score": None, "n_pairs": 0}
    return order_scores(np.stack(blocks))


def long_form(
    audio: torch.Tensor, items: list[AudioItem], text: TextTower, k: int, temperature: float
) -> dict[str, Any]:
    """Retrieval of long recordings made of ``k`` consecutive held-out clips.

    Query: a caption of one clip; relevant: the recording holding it. Text-conditioned attention
    fusion (CoLLAP-style) versus mean pooling of the clip embeddings.
    """
    r = len(items) // k
    if k < 2 or r < 2:
        return {}
    perm = np.random.default_rng(0).permutation(len(items))[: r * k]  # fixed mixing of clips
    items = [items[i] for i in perm]
    clips = audio[torch.from_numpy(perm)].reshape(r, k, -1)
    mask = torch.ones(r, k, dtype=torch.bool)
    caps = [(c, i // k) for i, it in enumerate(items) for c in it.captions[:1]]
    t = text_embeddings(text, [c for c, _ in caps])
    rel = np.zeros((len(caps), r), dtype=bool)
    rel[np.arange(len(caps)), [j for _, j in caps]] = True
    fused = TextConditionedFusion(temperature)(t, clips, mask).numpy()
    mean = mean_pool_similarity(t, clips, mask).numpy()
    return {"clips_per_recording": k, "n_recordings": r,
            "attention_fusion": retrieval_metrics(fused, rel), "mean_pool": retrieval_metrics(mean, rel)}


def evaluate_models(
    cfg: AudioConfig, encoder: AudioEncoder, text: TextTower, prep: Prepared
) -> dict[str, Any]:
    """Every held-out metric of one trained (or random) model pair."""
    sr, clip = cfg.features.sample_rate, cfg.data.clip_seconds
    train, test = prep.subset("train"), prep.subset("test")
    a_test, f_test = embed_items(encoder, test, sr, clip, cfg.data.eval_crops)
    out: dict[str, Any] = {"retrieval": retrieval(a_test, test, text)}
    classes = sorted({it.label for it in prep.items if it.label})
    lab_test = [i for i, it in enumerate(test) if it.label]
    if len(classes) >= 2 and lab_test:
        out["zero_shot"] = zero_shot(a_test[lab_test], [test[i].label for i in lab_test], classes,
                                     text, cfg.evaluation.templates)
        lab_train = [it for it in train if it.label]
        if len({it.label for it in lab_train}) >= 2:
            _, f_train = embed_items(encoder, lab_train, sr, clip, cfg.data.eval_crops)
            ytr = np.array([classes.index(it.label) for it in lab_train])
            yte = np.array([classes.index(test[i].label) for i in lab_test])
            out["linear_probe"] = linear_probe(f_train.numpy(), ytr, f_test[lab_test].numpy(), yte,
                                               seed=cfg.engine.seed)
    out["order"] = order_test(encoder, test, text, sr, clip, cfg.data.cache_max_seconds)
    if cfg.evaluation.long_form_clips:
        lf = long_form(a_test, test, text, cfg.evaluation.long_form_clips, cfg.evaluation.fusion_temperature)
        if lf:
            out["long_form"] = lf
    out["_test_embeddings"] = a_test
    out["_test_labels"] = [it.label or "ordered/other" for it in test]
    return out
