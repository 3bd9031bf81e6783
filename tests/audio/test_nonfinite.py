"""Float audio with NaN/±Inf samples is refused up front (check, pretrain, run), naming the
file and the count of non-finite samples; a finite float file still passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from polyclr.cli import main
from polyclr.errors import DataError
from polyclr.modalities.audio.io import audio_info, check_finite
from tests.audio.conftest import write_set

SR, N = 8000, 4000


def _float_wav(path: Path, where: str) -> int:
    """Write a float32 WAV with non-finite samples at ``where``; return how many."""
    x = (0.3 * np.sin(np.arange(N) / 5.0)).astype(np.float32)
    spots = {"start": ([0, 1], np.nan), "middle": ([N // 2], np.nan), "end": ([N - 3, N - 2, N - 1], np.nan),
             "posinf": ([10, 2000], np.inf), "neginf": ([N - 1], -np.inf), "none": ([], 0.0)}[where]
    x[spots[0]] = spots[1]
    sf.write(path, x, SR, subtype="FLOAT")
    return len(spots[0])


@pytest.mark.parametrize("where", ["start", "middle", "end", "posinf", "neginf"])
def test_check_finite_counts_nonfinite(tmp_path: Path, where: str) -> None:
    n_bad = _float_wav(tmp_path / "x.wav", where)
    with pytest.raises(DataError, match=rf"x\.wav: {n_bad} non-finite sample\(s\)"):
        check_finite(audio_info(tmp_path / "x.wav"))


def test_check_finite_blockwise_and_stereo(tmp_path: Path) -> None:
    # longer than one decoding block, both channels, NaN and Inf in different blocks
    x = np.zeros((200_000, 2), np.float32)
    x[5, 0], x[150_000, 1], x[-1, :] = np.nan, np.inf, -np.inf
    sf.write(tmp_path / "long.wav", x, SR, subtype="DOUBLE")
    with pytest.raises(DataError, match=r"long\.wav: 4 non-finite sample\(s\) \(NaN or Inf\) of 400000"):
        check_finite(audio_info(tmp_path / "long.wav"))


def test_finite_float_and_pcm_pass(tmp_path: Path) -> None:
    _float_wav(tmp_path / "ok.wav", "none")
    check_finite(audio_info(tmp_path / "ok.wav"))
    sf.write(tmp_path / "pcm.wav", np.zeros(N, np.float32), SR, subtype="PCM_16")
    check_finite(audio_info(tmp_path / "pcm.wav"))


@pytest.mark.parametrize("command", ["check", "pretrain", "run"])
@pytest.mark.parametrize("where", ["start", "middle", "end", "posinf", "neginf"])
def test_cli_exit_2_names_file_and_count(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         command: str, where: str) -> None:
    root = write_set(tmp_path / "set", n_per_class=2)
    n_bad = _float_wav(root / "tone_1.wav", where)
    out = tmp_path / "out"
    args = [command, "audio", "--data", str(root)] + ([] if command == "check" else ["--out", str(out)])
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert "tone_1.wav" in err[0] and f"{n_bad} non-finite sample(s)" in err[0]
    assert not out.exists()


def test_cli_control_float_set_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_set(tmp_path / "set", n_per_class=2)
    _float_wav(root / "tone_1.wav", "none")
    assert main(["check", "audio", "--data", str(root)]) == 0
    assert "OK (audio)" in capsys.readouterr().out
