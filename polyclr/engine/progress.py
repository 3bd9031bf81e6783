"""Progress of long steps: a bar on a terminal, a compact line every few seconds in a log file.

Training shows the optimiser-step budget (``global_step / max_steps``, or epochs x batches) with
an ETA through a Lightning progress-bar callback; every other long loop (prediction, caching,
hashing, feature extraction) wraps its iterable in :func:`track`. Under a non-interactive
stderr (CI, ``nohup``, SLURM logs) a bar would write carriage returns into the log, so a line
such as ``pretrain global: 120/2000 steps (6%) 3.1 it/s ETA 10m05s loss=3.21`` is printed every
``POLYCLR_PROGRESS_SECONDS`` seconds (default 10) instead. ``POLYCLR_QUIET=1`` (the CLI's
``--quiet``) turns both off. Only global rank zero prints.

This module imports neither torch nor Lightning (the training callback is in
:mod:`polyclr.engine.step_progress`), so the CLI prints its first line before those imports.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

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
    """Prints a line at the start, then at most every ``interval`` seconds, and at the end;
    ``quiet_start``: no line (nor bar) until the work has run ``interval`` seconds, so a loop
    called many times for short work (embedding a probe's windows) prints nothing."""

    def __init__(self, desc: str, total: int | None, unit: str, quiet_start: bool = False) -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.mode = progress_mode()
        self.start = time.monotonic()
        self.last = self.start if quiet_start else -float("inf")
        if quiet_start and self.mode == "bar":
            self.mode = "lines"  # a bar would appear at once; a late line is the quiet equivalent
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
            late = self.printed is None and self.last != -float("inf")  # quiet start: nothing yet
            if (force and done != self.printed and not late) or now - self.last >= line_interval():
                self.last, self.printed = now, done
                line = format_line(self.desc, done, self.total, self.unit, now - self.start, extra,
                                   self.first)
                print(line, file=sys.stderr, flush=True)

    def close(self, done: int, extra: str = "") -> None:
        self.update(done, extra, force=True)  # the final count, unless just printed
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def note(text: str) -> None:
    """One status line on stderr (a phase starting or done) unless progress is off; the CLI's
    first line, printed before the multi-second torch / Lightning imports."""
    if progress_mode() != "off":
        print(text, file=sys.stderr, flush=True)


def track(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "items",
          sizes: Iterable[int] | None = None, quiet_start: bool = False) -> Iterator[T]:
    """Yield from ``iterable`` while showing progress (see the module docstring).

    Args:
        iterable: the work items.
        desc: what is being done, e.g. ``"predict test volumes"``.
        total: number of units (default ``len(iterable)`` when it has one, or ``sum(sizes)``).
        unit: plural noun for the count.
        sizes: units in each item (e.g. images per batch); default 1 each.
        quiet_start: print only once the loop has run ``POLYCLR_PROGRESS_SECONDS`` (for short
            loops that run many times).
    """
    weights = None if sizes is None else list(sizes)
    if total is None:
        total = sum(weights) if weights is not None else (
            len(iterable) if hasattr(iterable, "__len__") else None)  # type: ignore[arg-type]
    rep = _Reporter(desc, total, unit, quiet_start)
    if rep.mode == "off":
        yield from iterable
        return
    done = 0
    rep.update(0, force=True)
    try:
        for k, item in enumerate(iterable):
            yield item
            done += 1 if weights is None else weights[k]
            rep.update(done)
    finally:
        rep.close(done)
