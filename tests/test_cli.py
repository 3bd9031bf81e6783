"""CLI surface: help, version, bad config keys and missing files exit 2 with one line."""

import subprocess
import sys

import pytest

from polyclr import __version__
from polyclr.cli import main


def test_help_and_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "pretrain" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--version"])
    assert __version__ in capsys.readouterr().out


def test_missing_data_file_exits_2_with_one_line(tmp_path, capsys):
    pytest.importorskip("polyclr.pipelines.timeseries")
    out = tmp_path / "run"
    code = main(["pretrain", "timeseries", "--data", str(tmp_path / "missing.npz"), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "missing.npz" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_unknown_config_key_exits_2(tmp_path, capsys):
    from polyclr.pipelines import available_pipelines

    if not available_pipelines():
        pytest.skip("no pipeline installed")
    modality = available_pipelines()[0]
    cfg = tmp_path / "c.yaml"
    cfg.write_text("no_such_key: 1\n")
    code = main(["check", modality, "--data", str(tmp_path), "--config", str(cfg)])
    err = capsys.readouterr().err
    assert code == 2 and "no_such_key" in err and "Traceback" not in err


def test_unknown_modality_exits_2(tmp_path, capsys):
    code = main(["check", "xray", "--data", str(tmp_path)])
    assert code == 2 and "unknown modality" in capsys.readouterr().err


def test_console_script_runs_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "polyclr.cli", "check", "volume", "--data", str(tmp_path / "nope")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
