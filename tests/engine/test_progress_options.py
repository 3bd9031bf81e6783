"""Progress output, engine-setting checks, loggers, rank-zero writes and DDP sharding of samplers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from polyclr.engine import EngineConfig, PretrainModule, fit, make_loader, seed_everything
from polyclr.engine import progress as P
from polyclr.engine.data import EpochSeededBatchSampler, shard_batches
from polyclr.engine.options import validate_engine
from polyclr.errors import ConfigError
from polyclr.modalities.timeseries.sampler import HierarchicalBatchSampler
from polyclr.rundir import write_json


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_lines_every_interval_with_total_and_eta(monkeypatch, capsys):
    clock = _Clock()
    monkeypatch.setattr(P.time, "monotonic", clock)
    monkeypatch.setenv("POLYCLR_PROGRESS_SECONDS", "10")
    monkeypatch.delenv("POLYCLR_QUIET", raising=False)
    monkeypatch.setattr(P.sys.stderr, "isatty", lambda: False)
    seen = []
    for i in P.track(range(100), "predict", unit="volumes"):
        clock.t = i * 1.0  # one item per second
        seen.append(i)
    lines = capsys.readouterr().err.strip().splitlines()
    assert seen == list(range(100))
    assert lines[0] == "predict: 0/100 volumes (0%) 0.00 it/s ETA ?"  # printed before any work
    assert lines[-1].startswith("predict: 100/100 volumes (100%)")
    # one line per 10 s of work: starts of the run, every 10 s, and the end
    assert 10 <= len(lines) <= 12


def test_quiet_prints_nothing(monkeypatch, capsys):
    P.set_quiet(True)
    try:
        assert list(P.track(range(5), "x")) == list(range(5))
    finally:
        P.set_quiet(False)
    assert capsys.readouterr().err == ""


def test_format_line_rate_after_resume():
    line = P.format_line("pretrain", 150, 200, "steps", 10.0, "loss=1.2", start_done=100)
    assert line == "pretrain: 150/200 steps (75%) 5.00 it/s ETA 10s loss=1.2"


def _toy_fit(tmp_path: Path, **engine) -> Path:
    cfg = EngineConfig(max_epochs=2, batch_size=8, accelerator="cpu", seed=1, **engine)
    seed_everything(cfg.seed)
    data = TensorDataset(torch.randn(32, 8, generator=torch.Generator().manual_seed(0)))
    enc = torch.nn.Linear(8, 4)

    class Obj(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = enc

        def forward(self, batch):
            return self.encoder(batch[0]).pow(2).mean()

    fit(PretrainModule(Obj()), make_loader(data, 8, seed=1), cfg, tmp_path, desc="toy")
    return tmp_path


def test_step_progress_reports_the_step_budget(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(P.sys.stderr, "isatty", lambda: False)
    monkeypatch.delenv("POLYCLR_QUIET", raising=False)
    _toy_fit(tmp_path, max_steps=6, logger="none")
    err = capsys.readouterr().err
    assert "toy: 0/6 steps (0%)" in err and "toy: 6/6 steps (100%)" in err


def test_tensorboard_logger_writes_events(tmp_path):
    _toy_fit(tmp_path, logger="csv,tensorboard", log_every_n_steps=1)
    assert (tmp_path / "logs" / "metrics.csv").is_file()
    assert list((tmp_path / "logs").rglob("events.out.tfevents.*"))


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("logger", "tensorbored", "unknown logger"),
    ("logger", "mlflow", "mlflow package is not installed"),
    ("logger", "wandb", "wandb package is not installed"),
    ("strategy", "ddp_nonsense", "engine.strategy"),
    ("precision", "8-mixed", "engine.precision"),
    ("devices", str((len(os.sched_getaffinity(0)) + 1) if not torch.cuda.is_available() else 999), "engine.devices"),
    ("accelerator", "tpu9", "engine.accelerator"),
])
def test_bad_engine_settings_are_config_errors(key, value, needle):
    import importlib.util

    if key == "logger" and value in ("mlflow", "wandb") and importlib.util.find_spec(value):
        pytest.skip(f"{value} is installed here")
    cfg = EngineConfig(**{key: value})
    with pytest.raises(ConfigError, match=needle):
        validate_engine(cfg)


def test_cpu_float16_refused():
    with pytest.raises(ConfigError, match="bf16-mixed"):
        validate_engine(EngineConfig(accelerator="cpu", precision="16-mixed"))


def test_bad_cli_engine_settings_exit_2_and_write_nothing(tmp_path, capsys):
    from polyclr.cli import main
    from polyclr.modalities.timeseries.simulator import write_ecg_npz

    data = write_ecg_npz(tmp_path / "ecg.npz", n_patients=4, trials_per_patient=2, windows_per_trial=2)
    too_many = str(len(os.sched_getaffinity(0)) + 1) if not torch.cuda.is_available() else "999"
    for extra in (["--devices", too_many], ["--strategy", "nope"], ["--precision", "4-true"],
                  ["--set", "engine.logger=mlflow"] if not _installed("mlflow") else ["--strategy", "x"]):
        out = tmp_path / "out"
        assert main(["pretrain", "timeseries", "--data", str(data), "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: engine."), err
        assert not out.exists()


def _installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_only_rank_zero_writes(tmp_path, monkeypatch):
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    monkeypatch.setattr(rank_zero_only, "rank", 1)
    write_json(tmp_path / "m.json", {"a": 1})
    assert not (tmp_path / "m.json").exists()
    monkeypatch.setattr(rank_zero_only, "rank", 0)
    write_json(tmp_path / "m.json", {"a": 1})
    assert (tmp_path / "m.json").is_file()


def _per_rank(sampler, world: int, monkeypatch) -> list[list[list[int]]]:
    import polyclr.engine.dist as D

    out = []
    for rank in range(world):
        monkeypatch.setattr(D, "rank_world", lambda r=rank: (r, world))
        out.append(list(sampler))
    return out


@pytest.mark.parametrize("n", [29, 32, 33])
@pytest.mark.parametrize("world", [2, 3])
def test_seeded_batch_sampler_shards_without_drop_or_repeat(n, world, monkeypatch):
    s = EpochSeededBatchSampler(n, batch_size=4, seed=3)
    for epoch in (0, 1):
        s.set_epoch(epoch)
        ranks = _per_rank(s, world, monkeypatch)
        assert len({len(r) for r in ranks}) == 1  # same step count on every rank
        seen = [i for r in ranks for b in r for i in b]
        assert sorted(seen) == list(range(n))
        # step k of all ranks together is step k of one process with batch 4 x world
        monkeypatch.setattr("polyclr.engine.dist.rank_world", lambda: (0, 1))
        single = EpochSeededBatchSampler(n, batch_size=4 * world, seed=3)
        single.set_epoch(epoch)
        first = list(single)[0]
        if n >= 4 * world * 2:
            assert sorted(i for r in ranks for i in r[0]) == sorted(first)


def test_seeded_batch_sampler_single_process_equals_plain_loader():
    from polyclr.engine.data import EpochSeededSampler

    s = EpochSeededBatchSampler(30, 8, seed=5, drop_last=True)
    s.set_epoch(2)
    plain = EpochSeededSampler(range(30), seed=5)
    plain.set_epoch(2)
    perm = list(plain)
    assert list(s) == [perm[i:i + 8] for i in range(0, 24, 8)]


def test_hierarchical_sampler_shards_whole_units(monkeypatch):
    rng = np.random.default_rng(0)
    trial = np.repeat(np.arange(20), rng.integers(2, 6, size=20))
    patient = trial // 2
    s = HierarchicalBatchSampler(trial, patient, batch_size=8, per_trial=2, seed=1)
    for world in (1, 2, 3):
        for epoch in (0, 1):
            s.set_epoch(epoch)
            ranks = _per_rank(s, world, monkeypatch)
            assert len({len(r) for r in ranks}) == 1
            seen = sorted(i for r in ranks for b in r for i in b)
            assert seen == list(range(len(trial)))
            for r in ranks:
                for b in r:  # every trial present on a rank has >= 2 samples there
                    _, counts = np.unique(trial[b], return_counts=True)
                    assert counts.min() >= 2


def test_shard_batches_keeps_units_and_balances():
    batches = [[[0, 1], [2, 3], [4, 5, 6]], [[7, 8]], [[9, 10], [11, 12]]]
    parts = [shard_batches(batches, r, 2) for r in range(2)]
    assert [len(p) for p in parts] == [2, 2]
    assert sorted(i for p in parts for b in p for i in b) == list(range(13))


def test_stage_markers_skip_finished_stages_only_when_resuming(tmp_path):
    from polyclr.rundir import StageMarkers

    calls = []

    def stage():
        calls.append(1)
        return {"dice": float("nan"), "ids": (1, 2), "score": np.float64(0.25)}

    first = StageMarkers(tmp_path, resume=False).run("finetune GD+LD K=1", stage)
    again = StageMarkers(tmp_path, resume=True).run("finetune GD+LD K=1", stage)
    fresh = StageMarkers(tmp_path, resume=False).run("finetune GD+LD K=1", stage)
    assert len(calls) == 2  # the resumed run took the stored result
    for value in (first, again, fresh):  # the same JSON values either way (NaN kept)
        assert np.isnan(value["dice"]) and value["ids"] == [1, 2] and value["score"] == 0.25
    assert StageMarkers(None, resume=True).run("x", lambda: 3) == 3


def test_config_differences_ignore_where_it_runs():
    from polyclr.rundir import config_differences

    old = {"engine": {"lr": 0.1, "devices": "auto", "logger": "csv"}, "net": {"features": [4, 8]}}
    new = {"engine": {"lr": 0.2, "devices": 2, "logger": "tensorboard"}, "net": {"features": [4, 16]},
           "extra": {"k": 1}}
    assert config_differences(old, new) == ["engine.lr", "extra.k", "net.features"]
