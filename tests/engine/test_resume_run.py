"""``polyclr run MODALITY --resume`` after SIGKILL at random points gives the final metrics of an
uninterrupted run (CPU, fixed seed): finished stages are skipped by their done markers, the
interrupted pre-training continues from its last checkpoint."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

TS = ["--set", "engine.max_steps=20", "--set", "engine.batch_size=8", "--set", "encoder.depth=2",
      "--set", "encoder.hidden_dims=8", "--set", "encoder.output_dims=16",
      "--set", "downstream.finetune_steps=3", "--set", "downstream.label_fractions=[0.5,1.0]",
      "--set", "downstream.seeds=[0]", "--set", "downstream.plots=false",
      "--set", "downstream.methods=[linear_probe,pretrained,random_init]",
      "--set", "objective.checkpoint_every_n_steps=0"]
VOLUME = ["--set", "data.spacing=[2,2,3]", "--set", "data.slice_size=[32,32]",
          "--set", "data.patch_size=[16,16,16]", "--set", "net.features=[4,4,8,8,16,4]",
          "--set", "pretrain.num_partitions=2", "--set", "pretrain.volumes_per_batch=2",
          "--set", "pretrain.global_steps=400", "--set", "pretrain.local_steps=300",
          "--set", "pretrain.strategies=[GD+LD,GR]", "--set", "finetune.steps=10",
          "--set", "finetune.batch_size=4", "--set", "finetune.labeled_volumes=[1,2]",
          "--set", "finetune.combinations=1", "--set", "finetune.classification=false",
          "--set", "engine.accelerator=cpu", "--set", "split.test_size=0.34"]


def _cmd(modality: str, data: Path, out: Path, sets: list[str], *extra: str) -> list[str]:
    return [sys.executable, "-m", "polyclr.cli", "run", modality, "--data", str(data), "--out", str(out),
            *sets, "--quiet", *extra]


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")


def _kill_when(cmd: list[str], ready, rng: random.Random, timeout: float = 400, delay: float = 1.0) -> None:
    """Start ``cmd``; SIGKILL it a random 0-``delay`` s after ``ready()`` first holds."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    while not ready() and proc.poll() is None and time.monotonic() - t0 < timeout:
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, delay))
    finished = proc.poll() is not None
    proc.send_signal(signal.SIGKILL)
    err = proc.communicate()[1].decode()
    assert not finished, f"the run ended before it could be killed: {err[-2000:]}"


def _final(out: Path) -> dict:
    m = json.loads((out / "metrics.json").read_text())
    for key in ("wall_seconds", "pretrain_seconds", "peak_rss_mb", "peak_gpu_mb", "pretrain"):
        m.pop(key, None)
    return m


def _markers(out: Path, prefix: str) -> int:
    return len(list((out / "stages").glob(f"{prefix}*.json"))) if (out / "stages").is_dir() else 0


def _resume(cmd: list[str]) -> None:
    proc = subprocess.run([*cmd, "--resume"], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_timeseries_run_killed_twice_resumes_to_identical_metrics(tmp_path):
    from polyclr.modalities.timeseries.simulator import write_ecg_npz

    data = write_ecg_npz(tmp_path / "ecg.npz", n_patients=8, trials_per_patient=2, windows_per_trial=3)
    full, killed = tmp_path / "full", tmp_path / "killed"
    rng = random.Random(21)
    ref = subprocess.run(_cmd("timeseries", data, full, TS), cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr[-3000:]
    cmd = _cmd("timeseries", data, killed, TS)
    # 1: during pre-training, once an epoch checkpoint exists
    _kill_when(cmd, lambda: (killed / "checkpoints" / "last.ckpt").is_file(), rng)
    assert _markers(killed, "pretrain") == 0 and not (killed / "metrics.json").exists()
    # 2: the resumed run is killed again during the fine-tunes (after a random number of the 6;
    # the linear-probe stages take no time, so at least two fine-tunes are left)
    n = rng.randint(1, 3)
    _kill_when([*cmd, "--resume"], lambda: _markers(killed, "finetune") >= n, rng, delay=0.2)
    assert _markers(killed, "pretrain") == 1 and not (killed / "metrics.json").exists()
    _resume(cmd)
    assert _final(killed) == _final(full)


def test_volume_run_killed_resumes_to_identical_metrics(tmp_path):
    from tests.volume.conftest import write_phantom_msd

    root = write_phantom_msd(tmp_path / "msd", mixed_orientation=False)
    full, killed = tmp_path / "full", tmp_path / "killed"
    rng = random.Random(23)
    ref = subprocess.run(_cmd("volume", root, full, VOLUME), cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr[-3000:]
    cmd = _cmd("volume", root, killed, VOLUME)
    # 1: in the first strategy's global phase, after its first (epoch) checkpoint
    _kill_when(cmd, lambda: (killed / "pretrain" / "GD_LD" / "stage_global" / "checkpoints" / "last.ckpt").is_file(),
               rng)
    assert _markers(killed, "pretrain") < 2 and not (killed / "metrics.json").exists()
    # 2: among the fine-tunes
    n = rng.randint(1, 4)
    _kill_when([*cmd, "--resume"], lambda: _markers(killed, "finetune") >= n, rng, delay=0.2)
    assert not (killed / "metrics.json").exists()
    _resume(cmd)
    assert _final(killed) == _final(full)


AUDIO = ["--set", "engine.max_epochs=12", "--set", "engine.batch_size=8", "--set", "data.clip_seconds=0.5",
         "--set", "evaluation.long_form_clips=0", "--set", "objective.runs=[clip,cwcl+order]"]


def _without_timings(m):
    """Metrics with wall-clock entries (seconds, rates, memory peaks) removed, recursively."""
    if isinstance(m, dict):
        return {k: _without_timings(v) for k, v in m.items()
                if not any(t in k for t in ("seconds", "per_second", "peak_", "wall"))}
    if isinstance(m, list):
        return [_without_timings(v) for v in m]
    return m


def test_audio_run_killed_resumes_to_identical_metrics(tmp_path):
    from tests.audio.conftest import write_set

    data = write_set(tmp_path / "set", n_per_class=6)
    full, killed = tmp_path / "full", tmp_path / "killed"
    rng = random.Random(29)
    ref = subprocess.run(_cmd("audio", data, full, AUDIO), cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr[-3000:]
    cmd = _cmd("audio", data, killed, AUDIO)
    # during the first objective's pre-training, once its first epoch checkpoint exists
    _kill_when(cmd, lambda: (killed / "runs" / "clip" / "checkpoints" / "last.ckpt").is_file(), rng)
    assert not (killed / "metrics.json").exists()
    _resume(cmd)
    assert _without_timings(json.loads((killed / "metrics.json").read_text())) == \
        _without_timings(json.loads((full / "metrics.json").read_text()))
