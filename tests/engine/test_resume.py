"""Checkpoint + exact resume on CPU, including a real SIGKILL mid-epoch."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

SCRIPT = Path(__file__).with_name("toy_training.py")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=240)


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "encoder.safetensors"))


def test_resume_after_sigkill_matches_uninterrupted(tmp_path: Path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert _run(str(full), "3").returncode == 0
    # 4 batches per epoch: step 10 is mid-way through epoch 3; last.ckpt is from epoch 2.
    proc = _run(str(killed), "3", "--kill-at-step", "10")
    assert proc.returncode == -signal.SIGKILL
    assert (killed / "checkpoints" / "last.ckpt").is_file()
    assert not (killed / "encoder.safetensors").exists()
    assert not list((killed / "checkpoints").glob("*.tmp"))
    resumed = _run(str(killed), "3", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = _weights(full), _weights(killed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_stop_after_two_epochs_then_resume_equals_three(tmp_path: Path):
    full, staged = tmp_path / "full", tmp_path / "staged"
    assert _run(str(full), "3").returncode == 0
    assert _run(str(staged), "2").returncode == 0
    assert _run(str(staged), "3", "--resume").returncode == 0
    a, b = _weights(full), _weights(staged)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_step_budget_resume_after_sigkill_matches(tmp_path: Path):
    """``engine.max_steps`` runs (TS2Vec-style budgets) resume exactly too, with drop_last."""
    full, killed = tmp_path / "full", tmp_path / "killed"
    common = ["-1", "--max-steps", "14", "--drop-last"]
    assert _run(str(full), *common).returncode == 0
    assert _run(str(killed), *common, "--kill-at-step", "10").returncode == -signal.SIGKILL
    assert _run(str(killed), *common, "--resume").returncode == 0
    a, b = _weights(full), _weights(killed)
    for k in a:
        assert torch.equal(a[k], b[k]), k
