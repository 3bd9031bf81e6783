"""Progress of long steps: a bar on a terminal, a compact line every few seconds in a log file.

Training shows the optimiser-step budget (``global_step / max_steps``, or epochs x batches) with
an ETA through a Lightning progress-bar callback; every other long loop (prediction, caching,
hashing, feature extraction) wraps its iterable in :func:`track`. Under a non-interactive
stderr (CI, ``nohup``, SLURM logs) a bar would write carriage returns into the log, so a line
such as ``pretrain global: 120/2000 steps (6%) 3.1 it/s ETA 10m05s loss=3.21`` is printed every
``POLYCLR_PROGRESS_SECONDS`` seconds (default 10) instead. ``POLYCLR_QUIET=1`` (the CLI's
``--quiet``) turns both off. Only global rank zero prints.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from lightning.pytorch.callbacks.progress.progress_bar import ProgressBar

from polyclr.engine.dist import is_rank_zero

T = TypeVar("T")


def set_quiet(quiet: bool) -> None:
    """Turn progress output off (``True``) or back on, in this process and its children."""
    if quiet:
        os.environ["POLYCLR_QUIET"] = "1"
    else:
        os.environ.pop("POLYCLR_QUIET", None)


def progress_mode() -> str:
    """``"off"`` (quiet, or not rank zero), ``"bar"`` (stderr is a terminal) or ``"lines"``."""
    if os.environ.get("POLYCLR_QUIET", "") not in ("", "0") or not is_rank_zero():
        return "off"
    return "bar" if sys.stderr.isatty() else "lines"


def line_interval() -> float:
    """Seconds between two progress lines on a non-interactive stderr."""
    try:
        return max(0.1, float(os.environ.get("POLYCLR_PROGRESS_SECONDS", "10")))
    except ValueError:
        return 10.0


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{sec:02d}s" if m else f"{sec}s")


def format_line(desc: str, done: int, total: int | None, unit: str, elapsed: float,
                extra: str = "", start_done: int = 0) -> str:
    """One compact progress line: count, percentage, rate and ETA (when the total is known);
    ``start_done`` items were done before ``elapsed`` started (a resumed run)."""
    rate = (done - start_done) / elapsed if elapsed > 0 else 0.0
    if total:
        eta = (total - done) / rate if rate > 0 else float("nan")
        eta_txt = _fmt_seconds(eta) if eta == eta else "?"
        text = f"{desc}: {done}/{total} {unit} ({100 * done / total:.0f}%) {rate:.2f} it/s ETA {eta_txt}"
    else:
        text = f"{desc}: {done} {unit} {rate:.2f} it/s elapsed {_fmt_seconds(elapsed)}"
    return f"{text} {extra}".rstrip()


class _Reporter:
    """Prints a line at the start, then at most every ``interval`` seconds, and at the end."""

    def __init__(self, desc: str, total: int | None, unit: str) -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.mode = progress_mode()
        self.start = time.monotonic()
        self.last = -float("inf")
        self.first: int | None = None
        self.printed: int | None = None
        self.bar: Any = None
        if self.mode == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=unit[:-1] if unit.endswith("s") else unit,
                            dynamic_ncols=True, leave=True, file=sys.stderr)

    def update(self, done: int, extra: str = "", force: bool = False) -> None:
        if self.first is None:
            self.first = done
        if self.mode == "bar":
            self.bar.n = done
            if extra:
                self.bar.set_postfix_str(extra, refresh=False)
            self.bar.refresh()
        elif self.mode == "lines":
            now = time.monotonic()
            if (force and done != self.printed) or now - self.last >= line_interval():
                self.last, self.printed = now, done
                line = format_line(self.desc, done, self.total, self.unit, now - self.start, extra,
                                   self.first)
                print(line, file=sys.stderr, flush=True)

    def close(self, done: int, extra: str = "") -> None:
        self.update(done, extra, force=True)  # the final count, unless just printed
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def track(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "items") -> Iterator[T]:
    """Yield from ``iterable`` while showing progress (see the module docstring).

    Args:
        iterable: the work items.
        desc: what is being done, e.g. ``"predict test volumes"``.
        total: number of items (default ``len(iterable)`` when it has one).
        unit: plural noun for the count.
    """
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    rep = _Reporter(desc, total, unit)
    if rep.mode == "off":
        yield from iterable
        return
    done = 0
    rep.update(0, force=True)
    try:
        for item in iterable:
            yield item
            done += 1
            rep.update(done)
    finally:
        rep.close(done)


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
