"""CLI-level engine behaviour: progress on stderr of a short run, --resume with another
configuration refused by key, bf16-mixed on the CPU."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml
from torch.utils.data import TensorDataset

from polyclr.cli import main
from polyclr.engine import EngineConfig, PretrainModule, fit, make_loader, seed_everything

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--set", "engine.max_steps=8", "--set", "engine.batch_size=8", "--set", "encoder.depth=2",
         "--set", "encoder.hidden_dims=8", "--set", "encoder.output_dims=16"]


def _ecg(tmp_path: Path) -> Path:
    from polyclr.modalities.timeseries.simulator import write_ecg_npz

    return write_ecg_npz(tmp_path / "ecg.npz", n_patients=8, trials_per_patient=2, windows_per_trial=3)


def test_progress_lines_on_a_non_interactive_stderr(tmp_path):
    """Reads the stderr of a short `pretrain` as it is written: the first progress line (the step
    budget, 0/8) comes before any training step, then lines with the count, ETA and loss."""
    data = _ecg(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", POLYCLR_PROGRESS_SECONDS="1")
    cmd = [sys.executable, "-m", "polyclr.cli", "pretrain", "timeseries", "--data", str(data),
           "--out", str(tmp_path / "out"), *SMALL]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stamped = [(time.monotonic() - t0, line.rstrip()) for line in proc.stderr]
    assert proc.wait() == 0, "\n".join(line for _, line in stamped)[-2000:]
    progress = [(t, line) for t, line in stamped if line.startswith("pretrain ts2vec: ")]
    assert progress[0][1].startswith("pretrain ts2vec: 0/8 steps (0%)")
    assert progress[-1][1].startswith("pretrain ts2vec: 8/8 steps (100%)") and "loss=" in progress[-1][1]
    assert all("ETA" in line for _, line in progress)
    print(f"first progress line after {progress[0][0]:.1f} s (process start, imports included); "
          f"largest gap between lines {max(b[0] - a[0] for a, b in zip(progress, progress[1:], strict=False)):.1f} s")


def test_quiet_run_prints_no_progress(tmp_path, capsys):
    data = _ecg(tmp_path)
    assert main(["pretrain", "timeseries", "--data", str(data), "--out", str(tmp_path / "o"), "--quiet",
                 *SMALL, "--set", "engine.max_steps=2"]) == 0
    assert "steps" not in capsys.readouterr().err


def test_resume_with_another_configuration_is_refused_by_key(tmp_path, capsys):
    data = _ecg(tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    from polyclr.config import resolve_config, to_dict
    from polyclr.pipelines import get_pipeline

    cfg = to_dict(resolve_config(get_pipeline("timeseries").config_class, None, SMALL[1::2]))
    cfg["engine"]["lr"] = 0.5
    cfg["encoder"]["depth"] = 7
    (out / "config.yaml").write_text(yaml.safe_dump(cfg))
    before = sorted(p.name for p in out.iterdir())
    code = main(["run", "timeseries", "--data", str(data), "--out", str(out), "--resume", *SMALL,
                 "--devices", "1"])  # where it runs may change; what it computes may not
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "engine.lr" in err[0] and "encoder.depth" in err[0] and "config.yaml" in err[0]
    assert "engine.devices" not in err[0]
    assert sorted(p.name for p in out.iterdir()) == before


def test_bf16_mixed_autocasts_on_cpu(tmp_path):
    seen: list[torch.dtype] = []

    class Obj(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = torch.nn.Linear(8, 4)

        def forward(self, batch):
            z = self.encoder(batch[0])
            seen.append(z.dtype)
            return z.float().pow(2).mean()

    cfg = EngineConfig(max_epochs=1, batch_size=8, accelerator="cpu", precision="bf16-mixed", logger="none")
    seed_everything(0)
    data = TensorDataset(torch.randn(16, 8))
    fit(PretrainModule(Obj()), make_loader(data, 8), cfg, None, checkpoints=False)
    assert seen and set(seen) == {torch.bfloat16}


def test_bf16_mixed_timeseries_pretrain_through_the_cli(tmp_path):
    data = _ecg(tmp_path)
    out = tmp_path / "bf16"
    assert main(["pretrain", "timeseries", "--data", str(data), "--out", str(out), "--quiet",
                 "--precision", "bf16-mixed", "--accelerator", "cpu", *SMALL]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["pretrain_steps"] == 8 and math.isfinite(m["final_loss"])
    assert yaml.safe_load((out / "config.yaml").read_text())["engine"]["precision"] == "bf16-mixed"
