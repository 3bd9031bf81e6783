"""Lightning progress callback over a training stage's whole optimiser-step budget (see
:mod:`polyclr.engine.progress` for the output modes)."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks.progress.progress_bar import ProgressBar

from polyclr.engine.progress import _Reporter


class StepProgress(ProgressBar):
    """Lightning progress callback over the whole optimiser-step budget (not per epoch).

    Args:
        desc: label of the stage (``"pretrain GD+LD global"``, ``"finetune 10% seed 0"``).
        total_steps: the step budget; ``None`` = ``max_epochs x batches per epoch``.
    """

    def __init__(self, desc: str = "train", total_steps: int | None = None) -> None:
        super().__init__()
        self.desc = desc
        self.total_steps = total_steps
        self._enabled = True
        self._rep: _Reporter | None = None

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def _total(self, trainer: Any) -> int | None:
        if self.total_steps and self.total_steps > 0:
            return int(self.total_steps)
        per_epoch = trainer.num_training_batches
        if trainer.max_epochs and trainer.max_epochs > 0 and per_epoch not in (None, float("inf")):
            return int(trainer.max_epochs * per_epoch)
        return None

    def _extra(self, trainer: Any) -> str:
        metrics = trainer.progress_bar_metrics
        return " ".join(f"{k.split('/')[-1]}={float(v):.4g}" for k, v in metrics.items()
                        if isinstance(v, float | int) or getattr(v, "numel", lambda: 0)() == 1)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if self._enabled and trainer.is_global_zero:
            self._rep = _Reporter(self.desc, self._total(trainer), "steps")
            self._rep.update(trainer.global_step, force=True)

    def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
        if self._rep is not None:
            self._rep.update(trainer.global_step, self._extra(trainer))

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self._rep is not None:
            self._rep.close(trainer.global_step, self._extra(trainer))
            self._rep = None

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if self._rep is not None and self._rep.bar is not None:
            self._rep.bar.close()
        self._rep = None
