"""Figures and ``report.md`` of ``polyclr run audio`` (through the shared plot/report modules)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from polyclr.pipelines.audio.config import AudioConfig


def public(metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` without the private (``_``-prefixed) entries such as raw embeddings."""
    return {k: v for k, v in metrics.items() if not k.startswith("_")}


def write_audio_report(cfg: AudioConfig, out: Path, metrics: dict[str, Any], embeddings: dict[str, Any]) -> None:
    """t-SNE of the held-out audio embeddings per objective and ``report.md`` (skipped when the
    plotting extra is missing)."""
    try:
        from polyclr.evaluation.plots import plot_embedding
        from polyclr.report import write_report
    except ImportError:  # reporting helpers are optional for the metrics themselves
        return
    figures = []
    for name, (emb, labels) in embeddings.items():
        path = out / "figures" / f"embedding_{name.replace('+', '_')}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        plot_embedding(emb.numpy(), np.array(labels), path, title=f"held-out audio ({name})")
        figures.append({"path": path, "caption": f"t-SNE of held-out audio embeddings, {name}"})
    write_report(out, "polyclr audio–text run", public({k: v for k, v in metrics.items() if k != "summary"}),
                 figures=figures, tables=[("Held-out summary", metrics["summary"])], config=cfg)
