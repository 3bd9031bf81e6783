"""``polyclr predict volume`` / ``embed volume`` round trips: `run` leaves OUT/model.ckpt; masks land
on each scan's own grid and affine (NIfTI; DICOM SEG for DICOM input); volumes.csv in mL."""

from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest

from polyclr.cli import main
from polyclr.modalities.volume.io import load_label, load_volume

from .dicom_builders import write_series
from .test_end_to_end import TINY


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny `run volume` on a phantom MSD folder (its model.ckpt is what predict takes)."""
    from .conftest import write_phantom_msd

    root = write_phantom_msd(tmp_path_factory.mktemp("msd"))
    out = tmp_path_factory.mktemp("run")
    code = main(["run", "volume", "--data", str(root), "--out", str(out), *TINY,
                 "--set", "pretrain.strategies=[GD+LD]", "--set", "finetune.labeled_volumes=[1]",
                 "--set", "finetune.combinations=1", "--set", "finetune.classification=false",
                 "--set", "finetune.fully_supervised=false", "--set", "finetune.write_predictions=false"])
    assert code == 0
    return root, out


def test_run_leaves_model_ckpt_and_plan(trained):
    _, out = trained
    assert (out / "model.ckpt").is_file()
    plan = json.loads((out / "plan.json").read_text())
    assert plan["applied"]["data.spacing"] == [2.0, 2.0, 3.0] and "data.spacing" not in plan["from_plan"]
    assert plan["fingerprint"]["modality"] == "MRI" and plan["applied"]["data.normalisation"] == "zscore"


def test_predict_masks_on_each_scans_own_grid(trained, tmp_path):
    data, run = trained
    out = tmp_path / "pred"
    assert main(["predict", "volume", "--checkpoint", str(run / "model.ckpt"), "--data", str(data),
                 "--out", str(out), "--set", "engine.accelerator=cpu"]) == 0
    rows = list(csv.DictReader(open(out / "volumes.csv")))
    assert len(rows) == 6 and {"outer_ml", "core_ml"} <= set(rows[0])
    for r in rows:
        src = nib.load(str(data / "imagesTr" / f"{r['case']}.nii.gz"))
        mask = nib.load(str(out / r["mask"]))
        assert mask.shape == src.shape
        np.testing.assert_allclose(mask.affine, src.affine, atol=1e-5)
        arr = np.asarray(mask.dataobj)
        assert float(r["outer_ml"]) == pytest.approx((arr == 1).sum() * 12.0 / 1000, abs=1e-3)
    # a single NIfTI file, and the run directory as the checkpoint
    one = tmp_path / "one"
    assert main(["predict", "volume", "--checkpoint", str(run), "--data",
                 str(data / "imagesTr" / "case_001.nii.gz"), "--out", str(one)]) == 0
    a = nib.load(str(one / "case_001.nii.gz"))
    np.testing.assert_array_equal(np.asarray(a.dataobj), np.asarray(nib.load(str(out / "case_001.nii.gz")).dataobj))


def test_predict_on_dicom_writes_seg_on_the_series_grid(trained, tmp_path):
    _, run = trained
    write_series(tmp_path / "dicom" / "s1", n=8, rows=20, cols=24, step=3.0, pixel_spacing=(2.0, 2.0))
    out = tmp_path / "pred"
    assert main(["predict", "volume", "--checkpoint", str(run / "model.ckpt"), "--data",
                 str(tmp_path / "dicom"), "--out", str(out)]) == 0
    (row,) = list(csv.DictReader(open(out / "volumes.csv")))
    vol = load_volume(tmp_path / "dicom" / "s1")
    mask = load_volume(out / row["mask"])
    np.testing.assert_allclose(mask.affine, vol.affine, atol=1e-4)
    seg = tmp_path / "dicom" / "s1" / "pred_seg.dcm"
    seg.write_bytes((out / row["dicom_seg"]).read_bytes())
    np.testing.assert_array_equal(load_label(seg, vol), mask.array.astype(np.int64))


def test_embed_one_row_per_scan(trained, tmp_path):
    data, run = trained
    out = tmp_path / "emb"
    assert main(["embed", "volume", "--checkpoint", str(run / "encoders" / "GD_LD.safetensors"),
                 "--data", str(data), "--out", str(out)]) == 0
    emb = np.load(out / "embeddings.npy")
    assert emb.shape[0] == 6 and np.all(np.isfinite(emb))
    assert [r["case"] for r in csv.DictReader(open(out / "embeddings.csv"))][0] == "case_000"


def test_predict_refuses_an_encoder_and_bad_data(trained, tmp_path, capsys):
    data, run = trained
    out = tmp_path / "p"
    assert main(["predict", "volume", "--checkpoint", str(run / "encoders" / "GD_LD.safetensors"),
                 "--data", str(data), "--out", str(out)]) == 2
    assert "not a fine-tuned segmentation model" in capsys.readouterr().err and not out.exists()
    (tmp_path / "bad.nii.gz").write_bytes(b"garbage")
    assert main(["predict", "volume", "--checkpoint", str(run / "model.ckpt"), "--data",
                 str(tmp_path / "bad.nii.gz"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.nii.gz" in err[0] and not out.exists()
