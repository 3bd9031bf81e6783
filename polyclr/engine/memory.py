"""Keep glibc's allocator from hoarding freed tensor memory when tensor sizes vary per step.

glibc malloc serves requests of at least ``M_MMAP_THRESHOLD`` bytes (128 KiB at start) with
``mmap`` and returns them to the OS on ``free``; but by default the threshold is *dynamic*: each
freed mmapped block raises it to that block's size (up to 32 MiB), so afterwards the activations
of a training step come from the brk heap / arenas. When their sizes change every step (TS2Vec's
random crop lengths), freed blocks rarely fit the next step's requests, the heap keeps growing and
its free holes stay resident: RSS rises step after step with no tensor kept alive. PyTorch's CPU
allocator has no cache of its own in front of malloc, so glibc is the layer to act on. Two ways:

- :class:`HeapTrim` (what the time-series pre-training uses): keep the dynamic threshold, so a
  step's tensors reuse the previous step's heap pages, and call ``malloc_trim(0)`` (which returns
  every free page of the heap to the OS) only when the resident set has grown by more than a
  budget since its smallest value at a step end. Growth stays bounded and pages are faulted in
  again only after a trim.
- :func:`pin_mmap_threshold`: fix the threshold (``mallopt(M_MMAP_THRESHOLD, n)``, which also
  turns the dynamic adjustment off), so every large tensor is its own ``mmap`` and goes back to the
  OS when freed. RSS stays flat, but every large tensor of every step is fresh pages that the
  kernel must fault in and zero (``benchmarks/timeseries_rss_growth.py`` measures the cost).

Written with ``ctypes`` because no installed library exposes ``mallopt`` or ``malloc_trim``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

M_MMAP_THRESHOLD = -3  # <malloc.h>
MMAP_THRESHOLD_BYTES = 1 << 20  # tensors of >= 1 MiB are mmapped; smaller ones stay on the heap

_pinned = False


def _user_set_threshold() -> bool:
    """Whether the environment already chose the threshold (glibc reads these at start-up)."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    return "MALLOC_MMAP_THRESHOLD_" in os.environ or "glibc.malloc.mmap_threshold" in tunables


def pin_mmap_threshold(nbytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``nbytes`` for this process (see the module docstring).

    A no-op returning ``False`` off Linux/glibc, when the environment already sets the
    threshold (``MALLOC_MMAP_THRESHOLD_`` or ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=``), or
    when ``mallopt`` refuses; ``True`` once the threshold is pinned (idempotent).
    """
    global _pinned
    if nbytes < 1:
        raise ValueError(f"nbytes must be >= 1, got {nbytes}")
    if _pinned:
        return True
    libc = None if _user_set_threshold() else _libc()
    mallopt = getattr(libc, "mallopt", None) if libc is not None else None
    if mallopt is None:  # not Linux, set by the environment, or a libc without mallopt (musl)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _pinned = mallopt(M_MMAP_THRESHOLD, int(nbytes)) == 1
    return _pinned


@functools.lru_cache(maxsize=1)  # find_library runs ldconfig: once per process, not per trim
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:  # pragma: no cover - no C library to load
        return None


def resident_bytes() -> int | None:
    """This process's resident set size in bytes (``/proc/self/statm``); ``None`` off Linux."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def malloc_trim() -> bool:
    """Return the free pages of glibc's heaps to the OS (``malloc_trim(0)``); ``False`` when
    the C library has no ``malloc_trim`` (not glibc) or nothing was released."""
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is None:
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim(0) == 1


class HeapTrim:
    """Trim glibc's heap when the resident set outgrows its smallest step-end value by a budget.

    Call :meth:`step_end` after every optimiser step. The first call after construction or after
    a trim sets the floor (the step's working set is then resident and reused by later steps); a
    smaller resident set lowers it; one larger than ``floor + budget_mb`` triggers
    :func:`malloc_trim` and a new floor at the next call.

    Args:
        budget_mb: growth allowed above the floor before trimming (MiB, > 0).
        resident: reads the resident set in bytes (``None`` disables trimming).
        trim: releases free heap memory.
    """

    def __init__(self, budget_mb: float = 256, resident=resident_bytes, trim=malloc_trim) -> None:
        if not budget_mb > 0:
            raise ValueError(f"budget_mb must be > 0, got {budget_mb}")
        self.budget = int(budget_mb * 2**20)
        self._resident, self._trim = resident, trim
        self.floor: int | None = None
        self.trims = 0

    def step_end(self) -> bool:
        """Record the resident set after a step; ``True`` when it triggered a trim."""
        rss = self._resident()
        if rss is None:
            return False
        if self.floor is None or rss < self.floor:
            self.floor = rss
            return False
        if rss - self.floor <= self.budget:
            return False
        self._trim()
        self.trims += 1
        self.floor = None
        return True
