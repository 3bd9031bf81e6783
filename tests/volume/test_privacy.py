"""DICOM identifiers never reach logs, manifests, metrics, reports or model files."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from polyclr.cli import main

IDENTIFIERS = {
    "PatientName": "Zzyzx^Quintessa",
    "PatientID": "MRN-7730419",
    "PatientBirthDate": "19391224",
    "AccessionNumber": "ACC55501234",
}


def _series(folder: Path, n_slices: int = 8, seed: int = 0) -> Path:
    """A DICOM series built from pydicom's bundled MR_small.dcm, with identifiers set."""
    import pydicom
    from pydicom.data import get_testdata_file

    src = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    base = src.pixel_array.astype(np.int16)
    for k in range(n_slices):
        ds = copy.deepcopy(src)
        for key, value in IDENTIFIERS.items():
            setattr(ds, key, value)
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(k) * 2.0]
        ds.SliceLocation = float(k) * 2.0
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.2.1125.{seed}.{k + 1}"
        ds.PixelData = (base + rng.integers(0, 20, base.shape)).astype(np.int16).tobytes()
        ds.save_as(str(folder / f"slice_{k:03d}.dcm"), enforce_file_format=True)
    return folder


def _grep_tree(root: Path) -> list[str]:
    hits = []
    for p in root.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            for key, value in IDENTIFIERS.items():
                if value.encode() in data or value.split("^")[0].encode() in data:
                    hits.append(f"{p}: {key}")
    return hits


def test_check_output_has_no_identifiers(tmp_path, capsys):
    data = tmp_path / "dicom"
    _series(data / "series_a")
    assert main(["check", "volume", "--data", str(data)]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "volumes=1" in text and "shape_min=64x64x8" in text and "spacing_min_mm=0.312x0.312x2" in text
    for value in IDENTIFIERS.values():
        assert value not in text and value.split("^")[0] not in text


@pytest.mark.slow
def test_pretrain_run_dir_has_no_identifiers(tmp_path, capsys):
    data = tmp_path / "dicom"
    _series(data / "series_a", seed=0)
    _series(data / "series_b", seed=1)
    out = tmp_path / "run"
    code = main([
        "pretrain", "volume", "--data", str(data), "--out", str(out),
        "--set", "data.spacing=[0,0,0]", "--set", "data.slice_size=[32,32]",
        "--set", "net.features=[4,4,8,8,16,4]", "--set", "pretrain.num_partitions=2",
        "--set", "pretrain.volumes_per_batch=2", "--set", "pretrain.global_steps=2",
        "--set", "pretrain.local_steps=2", "--set", "engine.accelerator=cpu",
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (out / "encoder.safetensors").is_file() and (out / "metrics.json").is_file()
    assert _grep_tree(out) == []
    for value in IDENTIFIERS.values():
        assert value not in captured.out + captured.err
