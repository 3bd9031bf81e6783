"""CLI: bad input exits 2 with one line naming the file; check summary; end-to-end runs (slow)."""

import json

import numpy as np
import pytest

from polyclr.cli import main
from polyclr.modalities.timeseries.simulator import write_ecg_npz
from polyclr.pipelines.timeseries import data as D
from polyclr.pipelines.timeseries.config import TimeSeriesConfig


def _bad(tmp_path, kind):
    X = np.random.default_rng(0).normal(size=(6, 1, 8)).astype(np.float32)
    y = np.array([0, 1] * 3)
    p = tmp_path / f"{kind}.npz"
    if kind == "rank2":
        np.savez(p, X=X[:, 0], y=y)
    elif kind == "nan":  # a series with no value at all (NaN inside a series is a masked gap)
        X[1] = np.nan
        np.savez(p, X=X, y=y)
    elif kind == "oneclass":
        np.savez(p, X=X, y=np.ones(6))
    elif kind == "mismatch":
        np.savez(p, X=X, y=y[:4])
    else:
        p = tmp_path / "empty.ts"
        p.write_text("")
    return p


@pytest.mark.parametrize("kind", ["rank2", "nan", "oneclass", "mismatch", "empty"])
@pytest.mark.parametrize("command", ["check", "run"])
def test_bad_input_exit_2(tmp_path, capsys, kind, command):
    p = _bad(tmp_path, kind)
    out = tmp_path / "out"
    args = [command, "timeseries", "--data", str(p)] + (["--out", str(out)] if command == "run" else [])
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and p.name in err[0]
    assert not out.exists()


def test_check_summarises(tmp_path, capsys, aeon_data):
    assert main(["check", "timeseries", "--data", f"{aeon_data}/BasicMotions/BasicMotions_TRAIN.ts"]) == 0
    line = capsys.readouterr().out
    assert "samples=80" in line and "channels=6" in line and "classes=4" in line and "patients=80" in line


def test_prepare_patient_independent_and_train_normalised(tmp_path):
    path = write_ecg_npz(tmp_path / "ecg.npz", n_patients=8, trials_per_patient=2, windows_per_trial=3)
    cfg = TimeSeriesConfig()
    prep = D.prepare(cfg, path, tmp_path)
    d = prep.data
    assert not set(d.patient_id[prep.train]) & set(d.patient_id[prep.test])
    np.testing.assert_allclose(d.X[prep.train].mean(axis=(0, 2)), 0, atol=1e-4)
    rec = json.loads((tmp_path / "splits.json").read_text())
    assert set(rec["splits"]) == {"train", "test"}


def _small(tmp_path, extra=()):
    sets = ["--set", "engine.max_steps=6", "--set", "engine.batch_size=8", "--set", "encoder.depth=2",
            "--set", "encoder.hidden_dims=8", "--set", "encoder.output_dims=16",
            "--set", "downstream.finetune_steps=5", "--set", "engine.logger=none"]
    return sets + list(extra)


@pytest.mark.slow
def test_run_gunpoint_end_to_end(tmp_path, aeon_data):
    out = tmp_path / "run"
    args = ["run", "timeseries", "--data", f"{aeon_data}/GunPoint/GunPoint_TRAIN.ts", "--out", str(out)]
    assert main(args + _small(tmp_path, ["--set", "downstream.seeds=[0,1]"])) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["pretrain_seconds"] > 0 and 0 <= m["linear_probe"]["accuracy"] <= 1
    assert len(m["rows"]) == 4 * 3 * 2
    assert {"method", "label_fraction", "seed", "accuracy", "macro_f1", "auroc"} <= set(m["rows"][0])
    assert (out / "encoder.safetensors").is_file() and (out / "splits.json").is_file()
    assert (out / "report.md").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["comet", "autotcl"])
def test_pretrain_finetune_evaluate_chain(tmp_path, objective):
    data = write_ecg_npz(tmp_path / "ecg.npz", n_patients=8, trials_per_patient=2, windows_per_trial=4)
    pre, ft, ev = tmp_path / "pre", tmp_path / "ft", tmp_path / "ev"
    common = ["timeseries", "--data", str(data)]
    assert main(["pretrain", *common, "--out", str(pre), *_small(tmp_path, ["--set", f"objective.name={objective}", "--set", "objective.dbpm=true"])]) == 0
    assert main(["finetune", *common, "--out", str(ft), "--checkpoint", str(pre), "--label-fraction", "0.5", *_small(tmp_path)]) == 0
    m = json.loads((ft / "metrics.json").read_text())
    assert m["init"] == "pretrained" and 0 <= m["test"]["accuracy"] <= 1
    assert main(["evaluate", *common, "--out", str(ev), "--checkpoint", str(ft), *_small(tmp_path)]) == 0
    assert json.loads((ev / "metrics.json").read_text())["test"] == m["test"]


def test_selection_hook_every_n(tmp_path):
    path = write_ecg_npz(tmp_path / "ecg.npz", n_patients=6, trials_per_patient=2, windows_per_trial=4)
    cfg = TimeSeriesConfig()
    cfg.selection.method, cfg.selection.every_n = "every_n", 2
    prep = D.prepare(cfg, path)
    kept = D.select_windows(cfg, prep, prep.train)
    # every second window of each recording (4 windows -> 2 per trial)
    assert len(kept) == len(prep.train) // 2 and set(kept) <= set(prep.train)
