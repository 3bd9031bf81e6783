"""The ``selection:`` section every pipeline config carries."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SelectionConfig:
    """Redundancy-reducing selection applied to the pre-training items before pre-training.

    Attributes:
        method: ``none`` (off), ``dhash``, ``ahash``, ``phash``, ``ssim``, ``embedding``,
            ``entropy`` or ``every_n``.
        threshold: method-specific threshold (dHash: max Hamming distance to drop, e.g. 6).
        every_n: keep one item in N (``every_n`` method, or to match a count).
        scope: ``group`` (per volume / recording / patient, in physical order) or ``global``.
    """

    method: str = "none"
    threshold: float | None = None
    every_n: int | None = None
    scope: str = "group"
