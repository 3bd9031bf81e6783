"""Keep glibc's allocator from hoarding freed tensor memory when tensor sizes vary per step.

glibc malloc serves requests of at least ``M_MMAP_THRESHOLD`` bytes (128 KiB at start) with
``mmap`` and returns them to the OS on ``free``; but by default the threshold is *dynamic*: each
freed mmapped block raises it to that block's size (up to 32 MiB), so afterwards the activations
of a training step come from the brk heap / arenas. When their sizes change every step (TS2Vec's
random crop lengths), freed blocks rarely fit the next step's requests, the heap keeps growing and
its free holes stay resident: RSS rises step after step with no tensor kept alive. Fixing the
threshold (``mallopt(M_MMAP_THRESHOLD, n)``, which also turns the dynamic adjustment off) keeps
large tensors on ``mmap``, so a step's memory goes back to the OS when the step ends. PyTorch's
CPU allocator has no cache of its own in front of malloc, so this is the layer to set.

Written with ``ctypes`` because no installed library exposes ``mallopt``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
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
    if not sys.platform.startswith("linux") or _user_set_threshold():
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _pinned = mallopt(M_MMAP_THRESHOLD, int(nbytes)) == 1
    return _pinned
