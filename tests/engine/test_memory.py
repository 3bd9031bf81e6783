"""pin_mmap_threshold: large tensors freed in one step go back to the OS instead of glibc's heap."""

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
