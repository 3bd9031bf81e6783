"""glibc heap policies: pin_mmap_threshold (large tensors freed in one step go back to the OS)
and HeapTrim (freed heap pages go back when the resident set outgrows a budget)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import sys
import textwrap

import pytest

from polyclr.engine import memory


def _glibc() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        return hasattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), "mallinfo2")
    except OSError:
        return False


# In a child process (the setting is process-wide): bytes held in mmapped blocks (mallinfo2's
# hblkhd) while a 16 MiB tensor is alive, after an earlier 16 MiB tensor was freed. glibc's
# dynamic threshold moves the second one onto the heap (0 mmapped bytes) unless it is pinned.
_CHILD = textwrap.dedent("""
    import ctypes, ctypes.util, sys, torch
    from polyclr.engine.memory import pin_mmap_threshold
    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                     "uordblks", "fordblks", "keepcost")]
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    pinned = pin_mmap_threshold() if sys.argv[1] == "pin" else False
    n = 4 << 20  # 16 MiB of float32
    a = torch.empty(n); del a
    b = torch.empty(n)
    print(int(pinned), libc.mallinfo2().hblkhd >= 4 * n)
""")


def _run(mode: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")}
    res = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, env=env,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout.split()


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc (mallopt / mallinfo2) is not in use")
def test_pinned_threshold_keeps_a_reallocated_large_tensor_on_mmap():
    assert _run("default") == ["0", "False"]  # the dynamic threshold moved it onto the heap
    assert _run("pin") == ["1", "True"]


def test_environment_setting_is_respected(monkeypatch):
    monkeypatch.setattr(memory, "_pinned", False)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert memory.pin_mmap_threshold() is False
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=131072")
    assert memory.pin_mmap_threshold() is False


def test_rejects_non_positive_size():
    with pytest.raises(ValueError, match="nbytes"):
        memory.pin_mmap_threshold(0)


def test_heap_trim_policy_closed_form():
    mib = 2**20
    seq = iter([10 * mib, 10.5 * mib, 9 * mib, 10.5 * mib, 12 * mib, 12.5 * mib, 13.5 * mib])
    trims = []
    heap = memory.HeapTrim(1, resident=lambda: int(next(seq)), trim=lambda: trims.append(1))
    got = [heap.step_end() for _ in range(7)]
    # floor 10 → 10.5 within budget → floor 9 → 10.5 is 1.5 over: trim → new floor 12 → 12.5 → 13.5
    assert got == [False, False, False, True, False, False, True]
    assert heap.trims == len(trims) == 2


def test_heap_trim_without_a_resident_reading_never_trims():
    heap = memory.HeapTrim(1, resident=lambda: None, trim=lambda: pytest.fail("trimmed"))
    assert not any(heap.step_end() for _ in range(3))


def test_heap_trim_rejects_non_positive_budget():
    with pytest.raises(ValueError, match="budget_mb"):
        memory.HeapTrim(0)


# In a child process: 1 MiB tensors on the heap (the dynamic threshold raised by a freed 16 MiB
# block), freed below a live 512 KiB block taken from the heap top after them, so the top cannot
# shrink: they stay resident until malloc_trim returns the free pages.
_TRIM_CHILD = textwrap.dedent("""
    import torch
    from polyclr.engine.memory import malloc_trim, resident_bytes
    a = torch.ones(4 << 20); del a
    blocks = [torch.ones(1 << 18) for _ in range(200)]
    keep = torch.ones(1 << 17)
    del blocks
    before = resident_bytes()
    malloc_trim()
    print((before - resident_bytes()) // 2**20)
""")


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc (malloc_trim / mallinfo2) is not in use")
def test_malloc_trim_returns_freed_heap_pages():
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")}
    res = subprocess.run([sys.executable, "-c", _TRIM_CHILD], capture_output=True, text=True, env=env,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert int(res.stdout.split()[-1]) >= 100  # of the 200 MiB freed
