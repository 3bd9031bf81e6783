"""Multi-channel MRI: MSD 4-D images and nnU-Net ``_0000`` / ``_0001`` files become named input
channels; unnamed or incomplete channels are named errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from polyclr.cli import main
from polyclr.errors import DataError
from polyclr.modalities.volume.datasets import discover
from polyclr.modalities.volume.io import load_label, load_volume

from .conftest import phantom, write_nifti


def _nnunet(root, n_cases=4, names=("T2", "ADC"), skip=None, shift=None):
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for i in range(n_cases):
        img, lab = phantom(seed=i)
        for c in range(len(names)):
            if skip == (i, c):
                continue
            aff = np.eye(4)
            if shift == (i, c):
                aff[0, 3] = 5.0
            write_nifti(root / "imagesTr" / f"case_{i:03d}_{c:04d}.nii.gz", img * (c + 1), aff)
        write_nifti(root / "labelsTr" / f"case_{i:03d}.nii.gz", lab.astype(np.uint8))
    (root / "dataset.json").write_text(json.dumps(
        {"channel_names": {str(c): n for c, n in enumerate(names)}, "labels": {"background": 0, "a": 1, "b": 2}}))
    return root


def test_nnunet_channels_are_stacked_and_named(tmp_path):
    items = discover(_nnunet(tmp_path / "ds"))
    assert len(items) == 4 and items[0].channel_names == ("T2", "ADC") and len(items[0].channels) == 1
    vol = load_volume(items[0].image, channels=items[0].channels)
    assert vol.channels == 2 and vol.array.shape == (20, 24, 16, 2)
    np.testing.assert_allclose(vol.array[..., 1], 2 * vol.array[..., 0])
    assert vol.channels_first().shape == (2, 20, 24, 16)
    assert load_label(items[0].label, vol).shape == (20, 24, 16)


def test_msd_4d_image_channels_named_from_modality(tmp_path):
    root = tmp_path / "msd"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    img, lab = phantom()
    write_nifti(root / "imagesTr" / "c1.nii.gz", np.stack([img, -img, img * 3], -1))
    write_nifti(root / "labelsTr" / "c1.nii.gz", lab.astype(np.uint8))
    (root / "dataset.json").write_text(json.dumps({"modality": {"0": "FLAIR", "1": "T1w", "2": "T2w"}}))
    (item,) = discover(root)
    assert item.channel_names == ("FLAIR", "T1w", "T2w") and item.channels == ()
    vol = load_volume(item.image)
    assert vol.channels == 3
    np.testing.assert_allclose(vol.array[..., 1], -vol.array[..., 0])


def test_4d_image_without_channel_names_is_refused(tmp_path, capsys):
    root = tmp_path / "msd"
    (root / "imagesTr").mkdir(parents=True)
    img, _ = phantom()
    write_nifti(root / "imagesTr" / "c1.nii.gz", np.stack([img, img], -1))
    with pytest.raises(DataError, match="4-D image with 2 channels"):
        discover(root)
    out = tmp_path / "run"
    assert main(["pretrain", "volume", "--data", str(root), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "c1.nii.gz" in err[0] and not out.exists()


def test_missing_channel_file_is_a_named_error(tmp_path):
    with pytest.raises(DataError, match="case_002 lacks channel 0001 \\(ADC\\)"):
        discover(_nnunet(tmp_path / "ds", skip=(2, 1)))


def test_channel_files_with_different_grids_are_refused(tmp_path, capsys):
    root = _nnunet(tmp_path / "ds", shift=(1, 1))
    assert main(["check", "volume", "--data", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "case_001_0001.nii.gz" in err[0] and "grid" in err[0]
