"""Property-based fuzzing of every reader: random bytes and random shapes may only raise
polyclr's own error types (never a raw numpy/nibabel/soundfile/aeon exception)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polyclr.errors import PolyclrError

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

NIFTI_MAGIC = b"\x5c\x01\x00\x00"  # sizeof_hdr = 348, little endian


def _write(suffix: str, data: bytes) -> Path:
    d = Path(tempfile.mkdtemp(prefix="polyclr-fuzz-"))
    p = d / f"sample{suffix}"
    p.write_bytes(data)
    return p


def _only_polyclr_errors(fn, path: Path) -> None:
    try:
        fn(path)
    except PolyclrError as exc:
        assert str(path.name) in str(exc) or str(path.parent) in str(exc)
    except MemoryError:  # pragma: no cover - must never happen: headers are checked first
        pytest.fail(f"{path}: reader allocated from an absurd header")


@FUZZ
@given(st.binary(max_size=2048), st.sampled_from([".nii", ".nii.gz", ".dcm"]))
def test_volume_reader_random_bytes(data, suffix):
    from polyclr.modalities.volume.io import load_volume

    _only_polyclr_errors(load_volume, _write(suffix, data))


@FUZZ
@given(st.binary(min_size=0, max_size=600))
def test_volume_reader_nifti_like_headers(data):
    from polyclr.modalities.volume.io import load_volume

    # Start with a valid NIfTI-1 size field so nibabel parses the random rest as a header.
    _only_polyclr_errors(load_volume, _write(".nii", NIFTI_MAGIC + data))


@FUZZ
@given(st.binary(max_size=2048), st.sampled_from([".ts", ".npz", ".csv"]))
def test_timeseries_reader_random_bytes(data, suffix):
    from polyclr.modalities.timeseries.io import load_dataset

    _only_polyclr_errors(load_dataset, _write(suffix, data))


@FUZZ
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=4),
    st.sampled_from(["float32", "float64", "int16", "object"]),
    st.booleans(),
)
def test_timeseries_reader_random_shapes(shape, dtype, with_y):
    from polyclr.modalities.timeseries.io import load_dataset

    arrays = {"X": np.zeros(shape, dtype=dtype)}
    if with_y:
        arrays["y"] = np.arange(shape[0] if shape else 1)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path = _write(".npz", buf.getvalue())
    try:
        load_dataset(path)
    except PolyclrError:
        pass


@FUZZ
@given(st.binary(max_size=2048), st.sampled_from([".wav", ".flac", ".ogg"]))
def test_audio_reader_random_bytes(data, suffix):
    from polyclr.modalities.audio.io import load_audio

    _only_polyclr_errors(lambda p: load_audio(p, 16000), _write(suffix, data))


@FUZZ
@given(st.binary(max_size=1024))
def test_caption_table_random_bytes(data):
    from polyclr.modalities.audio.io import read_captions

    path = _write(".csv", data)
    (path.parent / "captions.csv").write_bytes(data)
    try:
        read_captions(path.parent)
    except PolyclrError:
        pass


@pytest.mark.parametrize("data", [b"\r\x00", b"file_name,caption\na.wav,\"x\r\x00\n", b"\x00\r\n\r"])
def test_caption_table_csv_errors_are_data_errors(data, tmp_path):
    """Regression (hypothesis found ``b'\\r\\x00'``): csv.Error must surface as a DataError."""
    from polyclr.errors import DataError
    from polyclr.modalities.audio.io import read_captions

    (tmp_path / "captions.csv").write_bytes(data)
    with pytest.raises(DataError):
        read_captions(tmp_path)
