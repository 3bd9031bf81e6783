"""Audio I/O: reading, resampling, windows, and every bad input named in the issue."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from polyclr.errors import DataError
from polyclr.modalities.audio.io import audio_info, downmix, load_audio, read_captions


def test_stereo_44k_is_resampled_and_downmixed(tmp_path: Path) -> None:
    sr = 44100
    t = np.arange(sr) / sr
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([left, -0.25 * np.ones_like(t)], axis=1).astype(np.float32)
    sf.write(tmp_path / "s.wav", stereo, sr)
    wave, rate = load_audio(tmp_path / "s.wav", 16000)
    assert rate == 16000 and wave.shape == (2, 16000) and wave.dtype == np.float32
    mono = downmix(wave)
    assert mono.shape == (16000,)
    # 440 Hz survives resampling: the spectrum peak of the first channel is at 440 Hz (1 Hz bins)
    spec = np.abs(np.fft.rfft(wave[0]))
    assert abs(int(spec.argmax()) - 440) <= 1
    # the constant right channel is -0.25 away from the edges
    assert np.allclose(wave[1, 2000:-2000], -0.25, atol=1e-3)


@pytest.mark.parametrize("fmt", ["FLAC", "OGG"])
def test_flac_and_ogg(tmp_path: Path, fmt: str) -> None:
    x = (0.3 * np.sin(np.linspace(0, 200, 8000))).astype(np.float32)
    path = tmp_path / f"x.{fmt.lower()}"
    sf.write(path, x, 8000, format=fmt)
    wave, rate = load_audio(path, None)
    assert rate == 8000 and wave.shape[0] == 1 and abs(wave.shape[1] - 8000) <= 1


def test_window_reads_only_the_window(tmp_path: Path) -> None:
    sr = 8000
    x = np.arange(10 * sr, dtype=np.float32) / (10 * sr)  # a ramp: sample value encodes position
    sf.write(tmp_path / "ramp.wav", x, sr, subtype="FLOAT")
    wave, _ = load_audio(tmp_path / "ramp.wav", None, start_s=3.0, max_seconds=0.5)
    assert wave.shape == (1, 4000)
    np.testing.assert_allclose(wave[0, 0], 3 * sr / (10 * sr), atol=1e-6)


def test_silent_clip_works(tmp_path: Path) -> None:
    sf.write(tmp_path / "z.wav", np.zeros(4000, np.float32), 8000)
    wave, _ = load_audio(tmp_path / "z.wav", 8000)
    assert wave.shape == (1, 4000) and not wave.any()


def _bad_files(d: Path) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    (d / "zero.wav").write_bytes(b"")
    sf.write(d / "header_only.wav", np.zeros((0, 1), np.float32), 16000)
    (d / "random.flac").write_bytes(np.random.default_rng(0).bytes(2048))
    sf.write(d / "one_sample.wav", np.zeros((1, 1), np.float32), 16000)
    return {p.name: p for p in d.iterdir()}


@pytest.mark.parametrize(
    "name,problem",
    [("zero.wav", "0 bytes"), ("header_only.wav", "header only"), ("random.flac", "not a readable"),
     ("one_sample.wav", "too short")],
)
def test_bad_audio_raises_data_error_naming_file(tmp_path: Path, name: str, problem: str) -> None:
    files = _bad_files(tmp_path)
    with pytest.raises(DataError) as err:
        load_audio(files[name], 16000)
    assert name in str(err.value) and problem in str(err.value)
    assert "\n" not in err.value.one_line()


def test_committed_bad_files_rejected() -> None:
    bad = Path(__file__).parents[1] / "data" / "bad" / "audio"
    for path in sorted(bad.glob("*.wav")) + sorted(bad.glob("*.flac")):
        with pytest.raises(DataError, match=path.name):
            audio_info(path)


def _table(d: Path, text: str | bytes) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    sf.write(d / "a.wav", np.zeros(800, np.float32), 8000)
    data = text.encode("utf-8") if isinstance(text, str) else text
    (d / "captions.csv").write_bytes(data)
    return d


def test_read_captions_several_per_file(tmp_path: Path) -> None:
    d = _table(tmp_path, "file_name,caption,label\na.wav,one,x\na.wav,\"two, with comma\",x\n")
    t = read_captions(d)
    assert t.files == ["a.wav"] and t.captions_of() == {"a.wav": ["one", "two, with comma"]}
    assert t.patient_ids == ["a.wav", "a.wav"] and t.labels == ["x", "x"]


@pytest.mark.parametrize(
    "content,problem",
    [
        ("file_name,text\na.wav,hello\n", "missing column(s) caption"),
        ("file_name,caption\nmissing.wav,hello\n", "does not exist"),
        ("file_name,caption\na.wav,caf\xe9\n".encode("latin-1"), "not UTF-8"),
        ("file_name,caption\na.wav,\n", "empty caption"),
        ("file_name,caption\n", "no rows"),
    ],
)
def test_bad_caption_tables(tmp_path: Path, content: str | bytes, problem: str) -> None:
    d = _table(tmp_path, content)
    with pytest.raises(DataError) as err:
        read_captions(d)
    assert problem in str(err.value)
    assert "captions.csv" in str(err.value) or "missing.wav" in str(err.value)


def test_ten_minute_recording_streamed(tmp_path: Path) -> None:
    from polyclr.modalities.audio.fusion import iter_clips

    sr = 8000
    path = tmp_path / "long.flac"
    with sf.SoundFile(path, "w", sr, 1, format="FLAC") as fh:  # written in blocks, never whole
        for _ in range(60):
            fh.write(np.zeros(10 * sr, np.float32) + 0.01)
    info = audio_info(path)
    assert abs(info.seconds - 600) < 1e-6
    clips = list(iter_clips(path, sr, clip_seconds=30.0))
    assert len(clips) == 20 and all(c.shape == (30 * sr,) for c in clips)
    assert os.path.getsize(path) > 0
