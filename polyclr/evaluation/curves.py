"""Training curves of a run directory for its report: every pre-training log on its own figure,
the fine-tunes' loss curves together on one (from the CSV logs that ``engine.logger: csv`` writes)."""

from __future__ import annotations

from pathlib import Path

from polyclr.errors import DataError
from polyclr.evaluation._plotbase import _MAX_LEGEND, _figure, _save
from polyclr.evaluation.plots import plot_training_curve


def _label(out: Path, csv: Path) -> str:
    parts = [p for p in csv.parent.relative_to(out).parts if p not in ("logs", "runs", "pretrain")]
    return " ".join(parts) or "pretrain"


def _finetune_figure(out: Path, logs: list[Path], path: Path) -> Path | None:
    import pandas as pd

    fig = _figure(6.4, 4.0)
    ax = fig.subplots()
    drawn = 0
    for csv in logs:
        df = pd.read_csv(csv)
        col = next((c for c in ("train/loss", "train/loss_step") if c in df.columns), None)
        if col is None or "step" not in df.columns:
            continue
        sub = df[["step", col]].dropna()
        ax.plot(sub["step"].to_numpy(), sub[col].to_numpy(), lw=1, marker="." if len(sub) < 40 else None,
                label=csv.parent.name.removeprefix("finetune_") if drawn < _MAX_LEGEND else None)
        drawn += 1
    if not drawn:
        return None
    ax.set_xlabel("step")
    ax.set_ylabel("train/loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    ax.set_title(f"fine-tuning loss ({drawn} runs)")
    return _save(fig, path)


def training_curve_figures(out: str | Path) -> list[tuple[Path, str]]:
    """``(png, caption)`` for each training log under ``out`` (written to ``out/figures/``)."""
    out = Path(out)
    logs = sorted(p for p in out.rglob("metrics.csv") if "logs" in p.relative_to(out).parts)
    finetunes = [p for p in logs if p.parent.name.startswith("finetune_")]
    figures: list[tuple[Path, str]] = []
    for csv in (p for p in logs if p not in finetunes):
        label = _label(out, csv)
        png = out / "figures" / f"training_{label.replace(' ', '_').replace('+', '_')}.png"
        try:
            figures.append((plot_training_curve(csv, png), f"Pre-training loss ({label})"))
        except DataError:  # a log without a loss column (nothing trained yet)
            continue
    if finetunes:
        png = _finetune_figure(out, finetunes, out / "figures" / "training_finetune.png")
        if png is not None:
            figures.append((png, "Fine-tuning loss of every label budget, combination and seed"))
    return figures
