"""The contract every modality pipeline fulfils, so the CLI and notebooks drive them alike."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CheckReport:
    """What ``polyclr check`` prints: a summary of a usable dataset plus warnings.

    Problems that make the dataset unusable are raised as :class:`polyclr.errors.DataError`.
    """

    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


class Pipeline(ABC):
    """One modality's pretrain → fine-tune → evaluate recipe.

    Every method takes the resolved config object (an instance of ``config_class``), the data
    path, and the output directory (already created by the caller, after :meth:`check`
    succeeded). Each returns the metrics mapping that the caller writes to ``OUT/metrics.json``.
    """

    name: str = ""
    config_class: type = object

    @abstractmethod
    def check(self, cfg: Any, data: Path) -> CheckReport:
        """Validate ``data`` without training; raise DataError naming the bad file."""

    @abstractmethod
    def pretrain(self, cfg: Any, data: Path, out: Path, resume: bool = False) -> dict[str, Any]:
        """Contrastive pre-training; writes ``out/checkpoints/`` and ``out/encoder.safetensors``."""

    @abstractmethod
    def finetune(
        self,
        cfg: Any,
        data: Path,
        checkpoint: Path | None,
        out: Path,
        label_fraction: float | None = None,
        labeled_volumes: int | None = None,
    ) -> dict[str, Any]:
        """Fine-tune on the labelled subset (random init when ``checkpoint`` is None)."""

    @abstractmethod
    def evaluate(self, cfg: Any, data: Path, checkpoint: Path, out: Path) -> dict[str, Any]:
        """Evaluate a checkpoint on the held-out split."""

    @abstractmethod
    def run(self, cfg: Any, data: Path, out: Path) -> dict[str, Any]:
        """Pretrain → fine-tune at the standard label budgets → report."""

    @abstractmethod
    def demo_data(self) -> Path:
        """Path to the embedded default data (generated into a cache folder if needed)."""

    @abstractmethod
    def demo(self, out: Path) -> dict[str, Any]:
        """A few-minute CPU run on :meth:`demo_data`; returns at least
        ``{"metric": name, "pretrained": value, "random_init": value}``."""

    def demo_config(self) -> Any:
        """The small config the demo uses (default: the class defaults)."""
        return self.config_class()

    def summary_line(self, metrics: dict[str, Any]) -> str:
        """A short human summary of ``metrics`` for the terminal."""
        keys = [k for k, v in metrics.items() if isinstance(v, int | float)][:6]
        return ", ".join(f"{k}={metrics[k]:.4g}" for k in keys)
