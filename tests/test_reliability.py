"""Crash safety and determinism through the real CLI (time-series pipeline on GunPoint)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytest.importorskip("polyclr.pipelines.timeseries")

SMALL = [
    "--set", "encoder.output_dims=16", "--set", "encoder.hidden_dims=8", "--set", "encoder.depth=2",
    "--set", "engine.accelerator=cpu", "--set", "engine.seed=11",
]
VOLATILE = {"wall_seconds", "pretrain_seconds", "seconds", "peak_memory_mb", "peak_rss_mb"}


def _gunpoint() -> Path:
    import aeon

    return Path(aeon.__file__).parent / "datasets" / "data" / "GunPoint" / "GunPoint_TRAIN.ts"


def _cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "polyclr.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in VOLATILE and not k.endswith("_seconds")}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


@pytest.mark.slow
def test_same_seed_same_metrics(tmp_path: Path):
    args = ["run", "timeseries", "--data", str(_gunpoint()), *SMALL,
            "--set", "engine.max_steps=15", "--set", "downstream.label_fractions=[0.1]",
            "--set", "downstream.seeds=[0]", "--set", "downstream.methods=[linear_probe,pretrained]",
            "--set", "downstream.finetune_steps=10", "--set", "downstream.plots=false"]
    for name in ("a", "b"):
        proc = _cli(*args, "--out", str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr[-3000:]
    ma = json.loads((tmp_path / "a" / "metrics.json").read_text())
    mb = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert _strip(ma) == _strip(mb)
    wa, wb = load_file(str(tmp_path / "a" / "encoder.safetensors")), load_file(str(tmp_path / "b" / "encoder.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    env = json.loads((tmp_path / "a" / "environment.json").read_text())
    assert env["seed"] == 11 and "torch" in env["packages"]
    assert (tmp_path / "a" / "config.yaml").is_file() and (tmp_path / "a" / "splits.json").is_file()


@pytest.mark.slow
def test_pretrain_resume_after_kill_9_matches_uninterrupted(tmp_path: Path):
    base = ["pretrain", "timeseries", "--data", str(_gunpoint()), *SMALL, "--set", "engine.max_steps=80"]
    full = _cli(*base, "--out", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr[-3000:]

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "polyclr.cli", *base, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = out / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if ckpt.is_file() and ckpt.stat().st_size > 0:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed; raise max_steps"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "metrics.json").exists()  # no partial results
    resumed = _cli(*base, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    wa = load_file(str(tmp_path / "full" / "encoder.safetensors"))
    wb = load_file(str(out / "encoder.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
