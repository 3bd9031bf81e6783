"""The first progress line of a long command comes early: the data is read and validated before
torch Lightning is imported (a multi-second import), and the command's stderr shows a line at
once after that, then the step lines of training."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1",
           POLYCLR_PROGRESS_SECONDS="1")
ENV.pop("POLYCLR_QUIET", None)


def _ecg(tmp_path: Path) -> Path:
    from polyclr.modalities.timeseries.simulator import write_ecg_npz

    return write_ecg_npz(tmp_path / "ecg.npz", n_patients=4, trials_per_patient=2, windows_per_trial=2)


def test_reading_the_data_needs_no_lightning(tmp_path):
    data = _ecg(tmp_path)
    code = ("import sys\n"
            "from polyclr.pipelines import get_pipeline\n"
            "from polyclr.pipelines.timeseries.config import TimeSeriesConfig\n"
            f"get_pipeline('timeseries').open(TimeSeriesConfig(), {str(data)!r})\n"
            "print(sorted(m for m in ('lightning', 'tsai', 'fastai') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def _timed_stderr(cmd: list[str]) -> tuple[int, list[tuple[float, str]]]:
    """Run ``cmd``; every stderr line with its arrival time in seconds after the start."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV,
                            cwd=ROOT)
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append((time.monotonic() - t0, line.rstrip("\n")))

    reader = threading.Thread(target=read)
    reader.start()
    rc = proc.wait(timeout=600)
    reader.join(timeout=30)
    return rc, lines


def test_first_progress_line_comes_early_then_step_lines(tmp_path):
    data = _ecg(tmp_path)
    rc, lines = _timed_stderr([sys.executable, "-m", "polyclr.cli", "pretrain", "timeseries", "--data", str(data),
                               "--out", str(tmp_path / "out"), "--set", "engine.max_steps=4",
                               "--set", "engine.batch_size=4", "--set", "encoder.depth=2",
                               "--set", "encoder.hidden_dims=8", "--set", "encoder.output_dims=16"])
    assert rc == 0, lines[-20:]
    text = [line for _, line in lines]
    first = next(i for i, line in enumerate(text) if line.startswith("pretrain timeseries: read "))
    steps = [i for i, line in enumerate(text) if line.startswith("pretrain ts2vec: ")]
    assert steps and first < steps[0], text
    assert text[steps[0]].startswith("pretrain ts2vec: 0/4 steps"), text
    assert text[steps[-1]].startswith("pretrain ts2vec: 4/4 steps (100%)"), text
    # the target is 10 s on an idle machine; the bound here leaves room for a loaded CI runner
    # (the import of torch alone can take several seconds there)
    assert lines[first][0] < 60, f"first progress line after {lines[first][0]:.1f} s: {text[first]}"
    times = [t for t, _ in lines[first:]]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps, default=0) < 60, (gaps, text)


def test_quiet_run_prints_no_progress(tmp_path):
    data = _ecg(tmp_path)
    rc, lines = _timed_stderr([sys.executable, "-m", "polyclr.cli", "pretrain", "timeseries", "--data", str(data),
                               "--out", str(tmp_path / "out"), "--quiet", "--set", "engine.max_steps=2",
                               "--set", "engine.batch_size=4", "--set", "encoder.depth=2",
                               "--set", "encoder.hidden_dims=8", "--set", "encoder.output_dims=16"])
    assert rc == 0, lines[-20:]
    assert not [line for _, line in lines if line.startswith("pretrain ")], lines


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _lines_mode(monkeypatch, seconds: str = "10") -> _Clock:
    from polyclr.engine import progress as P

    clock = _Clock()
    monkeypatch.setattr(P.time, "monotonic", clock)
    monkeypatch.setenv("POLYCLR_PROGRESS_SECONDS", seconds)
    monkeypatch.delenv("POLYCLR_QUIET", raising=False)
    monkeypatch.setattr(P.sys.stderr, "isatty", lambda: False)
    return clock


def test_sized_items_count_units_with_total_and_eta(monkeypatch, capsys):
    from polyclr.engine import progress as P

    clock = _lines_mode(monkeypatch)
    for k, _ in enumerate(P.track(range(4), "select dhash: hashing", unit="images", sizes=[256, 256, 256, 32])):
        clock.t = 11.0 * (k + 1)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "select dhash: hashing: 0/800 images (0%) 0.00 it/s ETA ?"
    assert lines[1].startswith("select dhash: hashing: 256/800 images (32%)")
    assert lines[-1].startswith("select dhash: hashing: 800/800 images (100%)")


def test_quiet_start_prints_only_work_that_takes_a_while(monkeypatch, capsys):
    from polyclr.engine import progress as P

    clock = _lines_mode(monkeypatch)
    for _ in P.track(range(3), "embed series", unit="series", quiet_start=True):
        clock.t += 1.0  # 3 s in all: nothing printed
    assert capsys.readouterr().err == ""
    for _ in P.track(range(30), "embed series", unit="series", quiet_start=True):
        clock.t += 1.0  # 30 s: a line every 10 s and the final count, no start line
    lines = capsys.readouterr().err.strip().splitlines()
    assert not lines[0].startswith("embed series: 0/")
    assert lines[-1].startswith("embed series: 30/30 series (100%)") and 3 <= len(lines) <= 4


def test_hashing_a_large_selection_shows_progress(monkeypatch, capsys):
    import numpy as np

    from polyclr.selection.hashing import hash_images

    _lines_mode(monkeypatch)
    images = np.random.default_rng(0).integers(0, 255, (2600, 9, 8), dtype=np.uint8)
    codes = hash_images(images, "dhash", threads=1)
    assert codes.shape == (2600,)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("select dhash: hashing: 0/2600 images")
    assert lines[-1].startswith("select dhash: hashing: 2600/2600 images (100%)")
