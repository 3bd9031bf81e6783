"""`polyclr select` end to end: physical ordering, outputs, modalities, bad input (exit 2)."""

import json

import numpy as np
import pandas as pd
import pytest

from polyclr.cli import main

nib = pytest.importorskip("nibabel")


def _pattern(seed: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 200, size=(size, size)).astype(np.float32)


def _save(path, array, z_step, z0):
    aff = np.diag([1.0, 1.0, z_step, 1.0])
    aff[2, 3] = z0
    nib.save(nib.Nifti1Image(array.astype(np.float32), aff), str(path))


def test_single_slice_files_ordered_by_affine_not_name(tmp_path):
    a, b = _pattern(1), _pattern(2)
    d = tmp_path / "slices"
    d.mkdir()
    # negative z direction; world z: slice_1 -> 30, slice_2 -> 20, slice_10 -> 10, slice_11 -> 0
    for name, img, z in [("slice_1", a + 1, 30.0), ("slice_2", b, 20.0), ("slice_10", a, 10.0),
                         ("slice_11", a, 0.0)]:
        _save(d / f"{name}.nii", img[:, :, None], -2.0, z)
    out = tmp_path / "out"
    assert main(["select", "--data", str(d), "--out", str(out), "--threshold", "6"]) == 0
    m = pd.read_csv(out / "manifest.csv")
    assert list(m.columns) == ["item", "group", "position", "kept", "score", "reason"]
    by = m.set_index("item")
    assert by.loc["slice_11.nii", "position"] == 0.0 and by.loc["slice_1.nii", "position"] == 30.0
    # physical order 11, 10, 2, 1 -> keep 11 and 2; 10 and 1 duplicate slice_11
    assert sorted(m.loc[m.kept, "item"]) == ["slice_11.nii", "slice_2.nii"]
    assert by.loc["slice_10.nii", "reason"].endswith("to slice_11.nii")
    assert by.loc["slice_1.nii", "reason"].endswith("to slice_11.nii")
    s = json.loads((out / "summary.json").read_text())
    assert s["items_in"] == 4 and s["items_kept"] == 2 and s["reduction_ratio"] == 0.5


def test_volume_with_negative_axis_and_plot(tmp_path):
    a, b = _pattern(3), _pattern(4)
    vol = np.stack([a, a, b], axis=2)  # stored order: z = 10, 8, 6 (superior to inferior)
    _save(tmp_path / "vol.nii.gz", vol, -2.0, 10.0)
    out = tmp_path / "out"
    assert main(["select", "--data", str(tmp_path / "vol.nii.gz"), "--out", str(out), "--plot"]) == 0
    m = pd.read_csv(out / "manifest.csv").sort_values("position")
    assert m["position"].tolist() == [6.0, 8.0, 10.0]
    assert m["kept"].tolist() == [True, True, False]
    assert m["reason"].iloc[2].endswith("to vol.nii.gz:1")
    assert (out / "selection_strip_vol.nii.gz.png").stat().st_size > 1000


def test_msd_layout_every_n_and_embedding(tmp_path):
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    rng = np.random.default_rng(0)
    for i in (2, 10):
        _save(tmp_path / "imagesTr" / f"case_{i}.nii.gz", rng.random((16, 16, 9)), 1.0, 0.0)
        _save(tmp_path / "labelsTr" / f"case_{i}.nii.gz", np.zeros((16, 16, 9)), 1.0, 0.0)
    out = tmp_path / "o1"
    assert main(["select", "--data", str(tmp_path), "--out", str(out), "--method", "every_n",
                 "--every-n", "4"]) == 0
    m = pd.read_csv(out / "manifest.csv")
    assert len(m) == 18 and m.kept.sum() == 6  # slices 0, 4, 8 of each volume
    assert m.group.unique().tolist() == ["imagesTr/case_2.nii.gz", "imagesTr/case_10.nii.gz"]
    feats = np.repeat(np.eye(3), 6, axis=0)
    np.save(tmp_path / "f.npy", feats)
    out = tmp_path / "o2"
    assert main(["select", "--data", str(tmp_path), "--out", str(out), "--method", "embedding",
                 "--checkpoint", str(tmp_path / "f.npy"), "--scope", "global"]) == 0
    assert pd.read_csv(out / "manifest.csv").kept.sum() == 3


def test_timeseries_npz_grouped_by_patient(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.normal(size=(2, 1, 64))
    X = np.concatenate([np.repeat(base[:1], 3, 0), np.repeat(base[1:], 3, 0)])
    np.savez(tmp_path / "d.npz", X=X.astype(np.float32), y=np.arange(6) % 2,
             patient_id=np.array([0, 0, 0, 1, 1, 1]))
    out = tmp_path / "out"
    assert main(["select", "--data", str(tmp_path / "d.npz"), "--out", str(out)]) == 0
    m = pd.read_csv(out / "manifest.csv")
    assert m.kept.tolist() == [True, False, False, True, False, False]
    assert m.group.unique().tolist() == ["patient_0", "patient_1"]


def test_audio_windows(tmp_path):
    sf = pytest.importorskip("soundfile")
    pytest.importorskip("torchaudio")
    sr = 16000
    t = np.arange(sr * 8) / sr
    wave = np.where(t < 4, np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 2500 * t)) * 0.3
    sf.write(tmp_path / "rec.wav", wave.astype(np.float32), sr)
    out = tmp_path / "out"
    assert main(["select", "--data", str(tmp_path), "--out", str(out)]) == 0
    m = pd.read_csv(out / "manifest.csv")
    assert m.position.tolist() == [0.0, 2.0, 4.0, 6.0]
    assert m.kept.tolist() == [True, False, True, False]


@pytest.mark.parametrize("extra", [["--threshold", "100"], ["--method", "bogus"],
                                   ["--method", "every_n"], ["--method", "ssim", "--scope", "global"]])
def test_bad_settings_exit_2_without_output(tmp_path, capsys, extra):
    _save(tmp_path / "v.nii", np.random.default_rng(0).random((8, 8, 3)), 1.0, 0.0)
    out = tmp_path / "out"
    assert main(["select", "--data", str(tmp_path / "v.nii"), "--out", str(out), *extra]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_bad_data_exit_2(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    assert main(["select", "--data", str(empty), "--out", str(out)]) == 2
    assert "empty" in capsys.readouterr().err and not out.exists()
    vol = np.random.default_rng(0).random((8, 8, 3))
    vol[1, 1, 1] = np.nan
    _save(tmp_path / "nan.nii", vol, 1.0, 0.0)
    assert main(["select", "--data", str(tmp_path / "nan.nii"), "--out", str(out)]) == 2
    assert "NaN" in capsys.readouterr().err and not out.exists()
    (tmp_path / "bad.nii").write_bytes(b"not a nifti")
    assert main(["select", "--data", str(tmp_path / "bad.nii"), "--out", str(out)]) == 2
    assert "bad.nii" in capsys.readouterr().err
    _save(tmp_path / "ok.nii", np.random.default_rng(0).random((8, 8, 3)), 1.0, 0.0)
    np.save(tmp_path / "f.npy", np.ones((2, 4)))
    assert main(["select", "--data", str(tmp_path / "ok.nii"), "--out", str(out), "--method",
                 "embedding", "--checkpoint", str(tmp_path / "f.npy")]) == 2
    assert "f.npy" in capsys.readouterr().err and not out.exists()


@pytest.mark.slow
def test_embedding_with_timeseries_encoder(tmp_path):
    pytest.importorskip("tsai")
    from polyclr.engine import save_encoder
    from polyclr.pipelines.timeseries import train as T

    spec = {"name": "ts2vec", "in_channels": 1, "seq_len": 32, "kwargs": {}}
    enc = T.make_encoder(spec)
    save_encoder(tmp_path / "encoder.safetensors", enc.state_dict(),
                 {"modality": "timeseries", "encoder": spec,
                  "input": {"normalization": {"mean": [0.0], "std": [1.0]}}})
    rng = np.random.default_rng(0)
    base = rng.normal(size=(2, 1, 32)).astype(np.float32)
    X = np.concatenate([np.repeat(base[:1], 3, 0), np.repeat(base[1:], 3, 0)])
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(6) % 2, patient_id=np.array([0, 0, 0, 1, 1, 1]))
    out = tmp_path / "out"
    assert main(["select", "--data", str(tmp_path / "d.npz"), "--out", str(out), "--method",
                 "embedding", "--checkpoint", str(tmp_path / "encoder.safetensors")]) == 0
    m = pd.read_csv(out / "manifest.csv")
    assert m.kept.tolist() == [True, False, False, True, False, False]  # identical series
    assert "encoder" in json.loads((out / "summary.json").read_text())["features"]
