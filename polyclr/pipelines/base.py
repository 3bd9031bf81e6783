"""The contract every modality pipeline fulfils, so the CLI and notebooks drive them alike.

A command opens the dataset once (:meth:`Pipeline.open`: read and validate every file, return a
:class:`Prepared`), then hands that object to the step it runs; ``check`` prints what ``open``
found. Every step also accepts a plain path and opens it itself, for the Python API.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polyclr.errors import NotSupportedError


@dataclass
class CheckReport:
    """What ``polyclr check`` prints: a summary of a usable dataset plus warnings.

    Problems that make the dataset unusable are raised as :class:`polyclr.errors.DataError`.
    """

    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class Prepared:
    """A dataset read and validated once; each modality subclasses it with what it loaded.

    Attributes:
        path: the dataset file or folder.
        summary: counts and ranges that ``polyclr check`` prints.
        warnings: problems that do not stop a run (printed by ``check``).
    """

    path: Path
    summary: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def report(self) -> CheckReport:
        """The check report of this dataset."""
        return CheckReport(dict(self.summary), list(self.warnings))


Data = Path | str | Prepared


def demo_stats(pretrained: list[float], random_init: list[float]) -> dict[str, Any]:
    """The numbers a demo line prints: mean and sample standard deviation of each side over the
    same ``n`` runs (same head, budget and labels on both sides)."""
    import numpy as np

    if len(pretrained) != len(random_init) or not pretrained:
        raise ValueError("both sides of a demo comparison need the same, non-zero number of runs")
    a, b = np.asarray(pretrained, dtype=float), np.asarray(random_init, dtype=float)
    sd_a, sd_b = (float(v.std(ddof=1)) if len(v) > 1 else float("nan") for v in (a, b))
    return {"pretrained": float(a.mean()), "random_init": float(b.mean()), "pretrained_std": sd_a,
            "random_init_std": sd_b, "n": len(a)}


class Pipeline(ABC):
    """One modality's pretrain → fine-tune → evaluate recipe.

    Every step takes the resolved config object (an instance of ``config_class``), the dataset
    (a :class:`Prepared` from :meth:`open`, or a path that the step opens), and the output
    directory (already created by the caller). Each returns the metrics mapping that the caller
    writes to ``OUT/metrics.json``. Steps a modality cannot do raise
    :class:`polyclr.errors.NotSupportedError`.
    """

    name: str = ""
    config_class: type = object

    @abstractmethod
    def open(self, cfg: Any, data: Path) -> Prepared:
        """Read and validate ``data`` once; raise DataError naming the bad file."""

    def opened(self, cfg: Any, data: Data) -> Prepared:
        """``data`` itself when already opened, else :meth:`open` of the path."""
        return data if isinstance(data, Prepared) else self.open(cfg, Path(data))

    def check(self, cfg: Any, data: Data) -> CheckReport:
        """Validate ``data`` without training (what ``polyclr check`` prints)."""
        return self.opened(cfg, data).report()

    @abstractmethod
    def pretrain(self, cfg: Any, data: Data, out: Path, resume: bool = False) -> dict[str, Any]:
        """Contrastive pre-training; writes ``out/checkpoints/`` and ``out/encoder.safetensors``."""

    @abstractmethod
    def finetune(
        self,
        cfg: Any,
        data: Data,
        checkpoint: Path | None,
        out: Path,
        label_fraction: float | None = None,
        labeled_volumes: int | None = None,
    ) -> dict[str, Any]:
        """Fine-tune on the labelled subset (random init when ``checkpoint`` is None)."""

    @abstractmethod
    def evaluate(self, cfg: Any, data: Data, checkpoint: Path, out: Path) -> dict[str, Any]:
        """Evaluate a checkpoint on the held-out split."""

    @abstractmethod
    def run(self, cfg: Any, data: Data, out: Path, resume: bool = False) -> dict[str, Any]:
        """Pretrain → fine-tune at the standard label budgets → report; ``resume`` skips the
        stages a killed run finished (``out/stages``) and continues the interrupted one."""

    def embed(self, cfg: Any, data: Data, checkpoint: Path, out: Path) -> dict[str, Any]:
        """One embedding per file / sample with a pre-trained encoder (``out/embeddings.npy``)."""
        raise NotSupportedError(f"'embed' is not supported for {self.name}")

    def predict(self, cfg: Any, data: Data, checkpoint: Path, out: Path) -> dict[str, Any]:
        """Predictions of a fine-tuned model for new inputs, written under ``out``."""
        raise NotSupportedError(f"'predict' is not supported for {self.name}")

    def selection_items(self, path: Path) -> Any:
        """The items ``polyclr select`` sees (a :class:`polyclr.selection.sources.ItemSet`)."""
        raise NotSupportedError(f"'select' is not supported for {self.name}")

    def selection_features(self, checkpoint: Path, items: list[Any]) -> Any:
        """Encoder features ``(N, D)`` of selection items for ``select --method embedding``."""
        raise NotSupportedError(f"encoder checkpoints for 'select --method embedding' are not "
                                f"supported for {self.name}; pass a .npy/.npz feature file (N, D)")

    @abstractmethod
    def demo_data(self) -> Path:
        """Path to the embedded default data (generated into a cache folder if needed)."""

    @abstractmethod
    def demo(self, out: Path) -> dict[str, Any]:
        """A few-minute CPU run on :meth:`demo_data` comparing pre-trained and random init under
        the same head, budget and labels; returns at least ``{"metric", "pretrained",
        "random_init", "pretrained_std", "random_init_std", "n"}`` (:func:`demo_stats`) and
        ``"note"``: one line on what the comparison shows and does not show."""

    def demo_config(self) -> Any:
        """The small config the demo uses (default: the class defaults)."""
        return self.config_class()

    def summary_line(self, metrics: dict[str, Any]) -> str:
        """A short human summary of ``metrics`` for the terminal."""
        keys = [k for k, v in metrics.items() if isinstance(v, int | float)][:6]
        return ", ".join(f"{k}={metrics[k]:.4g}" for k in keys)
