"""Order-aware hard negatives (CompA-style) and the order test's pairs.

Reference: Ghosh et al., "CompA: Addressing the Gap in Compositional Reasoning in
Audio-Language Models", ICLR 2024. For a caption describing two events in order ("A then B",
"A followed by B", "A before B", "first A, then B", "B after A") the hard negatives are the
caption with the events swapped and the audio with its two segments swapped.
"""

from __future__ import annotations

import re

import numpy as np

# (pattern, template of the caption, is "after" = events written in reverse temporal order)
_PATTERNS: list[tuple[re.Pattern[str], str, bool]] = [
    (re.compile(r"^first (?P<a>.+?),? (?:and )?then (?P<b>.+)$", re.I), "first {a}, then {b}", False),
    (re.compile(r"^(?P<a>.+?),? (?:and )?then (?P<b>.+)$", re.I), "{a} then {b}", False),
    (re.compile(r"^(?P<a>.+?),? followed by (?P<b>.+)$", re.I), "{a} followed by {b}", False),
    (re.compile(r"^(?P<a>.+?) before (?P<b>.+)$", re.I), "{a} before {b}", False),
    (re.compile(r"^(?P<b>.+?) after (?P<a>.+)$", re.I), "{b} after {a}", True),
]


def ordered_events(caption: str) -> tuple[str, str] | None:
    """The two events of an ordered caption in temporal order, or ``None``.

    >>> ordered_events("a beep followed by noise")
    ('a beep', 'noise')
    >>> ordered_events("a dog barks after a door slams")
    ('a door slams', 'a dog barks')
    """
    text = caption.strip().rstrip(".")
    for pattern, _, _ in _PATTERNS:
        m = pattern.match(text)
        if m and m.group("a").strip() and m.group("b").strip():
            return m.group("a").strip(), m.group("b").strip()
    return None


def swap_caption(caption: str) -> str | None:
    """The caption with its two events swapped (same wording), or ``None`` if not ordered.

    >>> swap_caption("a beep followed by noise")
    'noise followed by a beep'
    """
    text = caption.strip().rstrip(".")
    for pattern, template, _ in _PATTERNS:
        m = pattern.match(text)
        if m and m.group("a").strip() and m.group("b").strip():
            return template.format(a=m.group("b").strip(), b=m.group("a").strip())
    return None


def order_keys(captions: list[str]) -> np.ndarray:
    """Ids of each caption's ordered event pair and of its reversal (-1 = not an ordered caption).

    Two captions *conflict* when one's pair is the other's reversal, whatever the wording
    ("a beep then noise" vs "noise followed by a beep"): row i conflicts with row j iff
    ``keys[i, 1] == keys[j, 0] >= 0``.

    Shape:
        returns ``(len(captions), 2)`` int64: ``[:, 0]`` = id of (A, B), ``[:, 1]`` = id of (B, A).
    """
    ids: dict[tuple[str, str], int] = {}
    out = np.full((len(captions), 2), -1, dtype=np.int64)
    for i, c in enumerate(captions):
        ev = ordered_events(c)
        if ev is None:
            continue
        a, b = ev[0].lower(), ev[1].lower()
        out[i, 0] = ids.setdefault((a, b), len(ids))
        out[i, 1] = ids.setdefault((b, a), len(ids))
    return out


def swap_audio(wave: np.ndarray, boundary: int | None = None) -> np.ndarray:
    """Swap the two segments of an ordered recording at ``boundary`` (default: the midpoint).

    Shape:
        wave: ``(..., T)``; returns the same shape: ``concat(wave[b:], wave[:b])``.
    """
    t = wave.shape[-1]
    b = t // 2 if boundary is None else int(np.clip(boundary, 1, t - 1))
    return np.concatenate([wave[..., b:], wave[..., :b]], axis=-1)


def order_scores(sim: np.ndarray) -> dict[str, float]:
    """CompA/Winoground text, audio and group scores from 2x2 similarity blocks.

    ``sim[k, i, j]`` = similarity of caption i and audio j of pair k, where index 0 is the
    original (caption, audio) and 1 the swapped ones. Text score: each audio prefers its own
    caption; audio score: each caption prefers its own audio; group: both. Chance: 25 %, 25 %,
    16.7 %.

    Shape:
        sim: ``(K, 2, 2)``; returns fractions in [0, 1].
    """
    s = np.asarray(sim, dtype=np.float64)
    if s.ndim != 3 or s.shape[1:] != (2, 2):
        raise ValueError(f"sim must be (K, 2, 2), got {s.shape}")
    text = (s[:, 0, 0] > s[:, 1, 0]) & (s[:, 1, 1] > s[:, 0, 1])
    audio = (s[:, 0, 0] > s[:, 0, 1]) & (s[:, 1, 1] > s[:, 1, 0])
    group = text & audio
    n = max(len(s), 1)
    return {
        "text_score": float(text.sum() / n),
        "audio_score": float(audio.sum() / n),
        "group_score": float(group.sum() / n),
        "n_pairs": int(len(s)),
    }
