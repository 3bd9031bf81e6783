"""CLI: bad datasets exit 2 with one line naming the file; check works on a good set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from polyclr.cli import main
from tests.audio.conftest import write_set


def _break(root: Path, how: str) -> str:
    if how == "zero_byte":
        (root / "tone_0.wav").write_bytes(b"")
        return "tone_0.wav"
    if how == "header_only":
        sf.write(root / "tone_0.wav", np.zeros((0, 1), np.float32), 8000)
        return "tone_0.wav"
    if how == "random_flac":
        (root / "x.flac").write_bytes(np.random.default_rng(0).bytes(999))
        with open(root / "captions.csv", "a", encoding="utf-8") as fh:
            fh.write("x.flac,some noise,noise,x.flac,\n")
        return "x.flac"
    if how == "one_sample":
        sf.write(root / "tone_1.wav", np.zeros(1, np.float32), 8000)
        return "tone_1.wav"
    if how == "no_caption_column":
        text = (root / "captions.csv").read_text(encoding="utf-8").replace("caption,", "text,", 1)
        (root / "captions.csv").write_text(text, encoding="utf-8")
        return "captions.csv"
    if how == "missing_file":
        (root / "noise_1.wav").unlink()
        return "noise_1.wav"
    if how == "not_utf8":
        (root / "captions.csv").write_bytes((root / "captions.csv").read_bytes() + "x.wav,caf\xe9\n".encode("latin-1"))
        return "captions.csv"
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how", ["zero_byte", "header_only", "random_flac", "one_sample", "no_caption_column", "missing_file", "not_utf8"]
)
def test_bad_dataset_exit_2_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str) -> None:
    root = write_set(tmp_path / "set", n_per_class=2)
    name = _break(root, how)
    out = tmp_path / "out"
    code = main(["run", "audio", "--data", str(root), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and name in err
    assert not out.exists()  # no partial output


def test_check_good_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_set(tmp_path / "set", n_per_class=4)
    assert main(["check", "audio", "--data", str(root)]) == 0
    line = capsys.readouterr().out
    assert "files=12" in line and "captions=20" in line and "labels=2" in line
