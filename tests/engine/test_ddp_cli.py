"""Two CPU processes (gloo DDP) through the CLI: ``pretrain timeseries`` (COMET) and
``pretrain volume``; each finishes, prints and writes its outputs once, the two ranks draw
disjoint samples that together cover the epoch, and the losses of the first steps equal those
of one process on the same global batches (each rank's loss is the loss of the gathered global
batch, and the views of a sample do not depend on how the batch is split)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("ddp_cli.py")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="two CPU processes need two cores"),
]


def _run(args: list[str], trace: Path, devices: int = 2) -> subprocess.CompletedProcess:
    trace.mkdir()
    env = dict(os.environ, POLYCLR_TRACE=str(trace), PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1",
               POLYCLR_PROGRESS_SECONDS="5", OMP_NUM_THREADS="1")
    dist = ["--devices", "2", "--strategy", "ddp"] if devices == 2 else ["--devices", "1"]
    return subprocess.run([sys.executable, str(SCRIPT), *args, *dist],
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)


def _losses(trace: Path, rank: int) -> list[dict]:
    return [json.loads(line) for line in (trace / f"loss{rank}.jsonl").read_text().splitlines()]


def _check_global_losses(single: Path, ddp: Path, steps: int) -> None:
    """The first ``steps`` losses of both ranks equal the one-process losses on the same global
    batches (rows: each rank holds part of the global batch)."""
    one, r0, r1 = _losses(single, 0), _losses(ddp, 0), _losses(ddp, 1)
    for k in range(steps):
        assert r0[k]["rows"] + r1[k]["rows"] == one[k]["rows"], (k, one[k], r0[k], r1[k])
        # float32 sums in another order, and later steps after updates of that precision
        tol = 1e-5 if k == 0 else 1e-4
        assert r0[k]["loss"] == pytest.approx(one[k]["loss"], rel=tol), (k, one[:steps], r0[:steps])
        assert r1[k]["loss"] == pytest.approx(one[k]["loss"], rel=tol), (k, one[:steps], r1[:steps])


def _batches(trace: Path, rank: int) -> list[dict]:
    lines = (trace / f"rank{rank}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _check_once(proc: subprocess.CompletedProcess, command: str) -> None:
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("wrote ") == 1, proc.stdout
    assert proc.stdout.count(f"{command}: ") == 1, proc.stdout
    # progress is printed by rank zero only: each step count appears once per stage
    assert proc.stderr.count("0/") >= 1


def test_ddp_pretrain_timeseries_comet(tmp_path):
    from polyclr.modalities.timeseries.simulator import write_ecg_npz

    data = write_ecg_npz(tmp_path / "ecg.npz", n_patients=8, trials_per_patient=2, windows_per_trial=3)
    out, trace = tmp_path / "out", tmp_path / "trace"
    common = ["pretrain", "timeseries", "--data", str(data), "--set", "objective.name=comet",
              "--set", "encoder.depth=2", "--set", "encoder.hidden_dims=8", "--set", "encoder.output_dims=16"]
    proc = _run([*common, "--out", str(out), "--set", "engine.max_steps=8", "--set", "engine.batch_size=4"], trace)
    _check_once(proc, "pretrain timeseries")
    # one process, the same global batches of 8 windows: 3 steps
    single = _run([*common, "--out", str(tmp_path / "one"), "--set", "engine.max_steps=3",
                   "--set", "engine.batch_size=8"], tmp_path / "trace1", devices=1)
    assert single.returncode == 0, single.stderr[-3000:]
    _check_global_losses(tmp_path / "trace1", trace, steps=3)
    assert (out / "encoder.safetensors").is_file() and (out / "metrics.json").is_file()
    assert sorted(p.name for p in (out / "logs").iterdir()) == ["metrics.csv"]
    r0, r1 = _batches(trace, 0), _batches(trace, 1)
    assert len(r0) == len(r1) == 8  # same number of steps on both ranks
    for epoch in {b["epoch"] for b in r0}:
        a = [i for b in r0 if b["epoch"] == epoch for i in b["batch"]]
        c = [i for b in r1 if b["epoch"] == epoch for i in b["batch"]]
        assert not set(a) & set(c) and len(a) == len(set(a)) and len(c) == len(set(c))
    # epoch 0 ran to its end: together the ranks drew every pre-training window exactly once
    n_items = json.loads((out / "metrics.json").read_text())["pretrain_samples"]
    epoch0 = [i for b in r0 + r1 if b["epoch"] == 0 for i in b["batch"]]
    assert {b["epoch"] for b in r0} == {0, 1}
    assert sorted(epoch0) == list(range(n_items))


def test_ddp_pretrain_volume(tmp_path):
    from tests.volume.conftest import write_phantom_msd

    root = write_phantom_msd(tmp_path / "msd", mixed_orientation=False)
    out, trace = tmp_path / "out", tmp_path / "trace"
    tiny = ["--set", "data.spacing=[2,2,3]", "--set", "data.slice_size=[32,32]",
            "--set", "data.patch_size=[16,16,16]", "--set", "net.features=[4,4,8,8,16,4]",
            "--set", "pretrain.num_partitions=2", "--set", "pretrain.volumes_per_batch=2",
            "--set", "pretrain.global_steps=2", "--set", "pretrain.local_steps=2"]
    proc = _run(["pretrain", "volume", "--data", str(root), "--out", str(out), *tiny], trace)
    _check_once(proc, "pretrain volume")
    # one process, the same global batches of 4 volumes: 2 global steps, then the first local
    # step (from the encoder both runs trained the same way)
    single = _run(["pretrain", "volume", "--data", str(root), "--out", str(tmp_path / "one"), *tiny,
                   "--set", "pretrain.volumes_per_batch=4", "--set", "pretrain.local_steps=1"],
                  tmp_path / "trace1", devices=1)
    assert single.returncode == 0, single.stderr[-3000:]
    _check_global_losses(tmp_path / "trace1", trace, steps=3)
    assert (out / "encoder.safetensors").is_file()
    for stage in ("stage_global", "stage_local"):
        assert (out / stage / "done.json").is_file()
        assert sorted(p.name for p in (out / stage / "logs").iterdir()) == ["metrics.csv"]
    r0, r1 = _batches(trace, 0), _batches(trace, 1)
    assert len(r0) == len(r1) == 4  # 2 global + 2 local steps on each rank
    for stage in (slice(0, 2), slice(2, 4)):  # each stage is one epoch of its own loader
        a = [i for b in r0[stage] for i in b["batch"]]
        c = [i for b in r1[stage] for i in b["batch"]]
        assert not set(a) & set(c) and len(set(a)) == len(a) == len(c) == 4
