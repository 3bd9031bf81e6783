"""Volume I/O: RAS reorientation, affine round trip, DICOM, odd spacing, dataset layouts."""

from __future__ import annotations

import numpy as np
import pytest

from polyclr.modalities.volume.datasets import discover
from polyclr.modalities.volume.io import load_label, load_volume, save_label_like
from polyclr.modalities.volume.transforms import PreprocessConfig, invert_label, preprocess
from tests.volume.conftest import phantom, write_nifti


def test_las_file_is_reoriented_to_ras_and_world_coordinates_are_kept(tmp_path):
    data = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    aff = np.array([[-2.0, 0, 0, 10], [0, 1.5, 0, -5], [0, 0, 3, 7], [0, 0, 0, 1]])  # LAS
    v = load_volume(write_nifti(tmp_path / "las.nii.gz", data, aff))
    assert v.array.shape == (4, 5, 6) and v.array.dtype == np.float32
    np.testing.assert_allclose(v.spacing, [2.0, 1.5, 3.0])
    assert v.affine[0, 0] > 0  # R+ after reorientation
    # the voxel at world point of original voxel (1, 2, 3) holds the same value
    world = aff @ np.array([1, 2, 3, 1])
    ijk = np.round(np.linalg.inv(v.affine) @ world).astype(int)[:3]
    assert v.array[tuple(ijk)] == data[1, 2, 3]


def test_prediction_written_back_aligns_with_input(tmp_path):
    img, lab = phantom()
    aff = np.array([[0, 0, -2.5, 40], [1.2, 0, 0, -20], [0, -1.1, 0, 30], [0, 0, 0, 1.0]])  # oblique axes
    f_img = write_nifti(tmp_path / "img.nii.gz", img, aff)
    f_lab = write_nifti(tmp_path / "lab.nii.gz", lab.astype(np.uint8), aff)
    v = load_volume(f_img)
    ras_label = load_label(f_lab, v)
    # preprocess (resample + crop + pad), invert the label, write it back: equals the input label
    d, t = preprocess(v, ras_label, 2, PreprocessConfig(spacing=[2.0, 2.0, 2.0], slice_size=[32, 32]))
    back = invert_label(np.asarray(d["label"][0]), d, t)
    assert back.shape == ras_label.shape
    assert (back == ras_label).mean() > 0.9  # resampling 1.1-2.5 mm -> 2 mm -> back, nearest
    out = save_label_like(ras_label, v, tmp_path / "pred.nii.gz")
    import nibabel as nib

    written = nib.load(str(out))
    assert written.shape == img.shape
    np.testing.assert_allclose(written.affine, aff, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(written.dataobj), lab)


def test_odd_but_valid_spacing_works(tmp_path):
    img, lab = phantom((40, 40, 6))
    aff = np.diag([0.3, 0.3, 5.0, 1.0])
    v = load_volume(write_nifti(tmp_path / "thin.nii.gz", img, aff))
    np.testing.assert_allclose(v.spacing, [0.3, 0.3, 5.0], rtol=1e-6)
    d, _ = preprocess(v, load_label(write_nifti(tmp_path / "l.nii.gz", lab.astype(np.uint8), aff), v), 2,
                      PreprocessConfig(spacing=[0.6, 0.6, 5.0], slice_size=[32, 32]))
    assert d["image"].shape[1:3] == (32, 32) and d["image"].shape[3] == 6
    assert float(d["image"].max()) <= 1.0 and float(d["image"].min()) >= 0.0


def test_dicom_file_from_pydicom_loads_with_its_spacing():
    from pydicom.data import get_testdata_file

    v = load_volume(get_testdata_file("MR_small.dcm"))
    assert v.array.shape == (64, 64, 1)
    np.testing.assert_allclose(v.spacing[:2], [0.3125, 0.3125], rtol=1e-5)


def test_layouts_msd_manifest_and_plain_folder(tiny_msd, tmp_path):
    items = discover(tiny_msd)
    assert len(items) == 6 and all(it.label is not None for it in items)
    assert items[0].case_id == "case_000"
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "image,label,patient_id\n"
        f"{tiny_msd}/imagesTr/case_000.nii.gz,{tiny_msd}/labelsTr/case_000.nii.gz,P1\n"
        f"{tiny_msd}/imagesTr/case_001.nii.gz,,P1\n")
    m = discover(manifest)
    assert [it.patient_id for it in m] == ["P1", "P1"] and m[1].label is None
    plain = discover(tiny_msd / "imagesTr")
    assert len(plain) == 6 and all(it.label is None for it in plain)


def test_nnunet_channel_suffix_matches_label(tmp_path):
    img, lab = phantom()
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    write_nifti(tmp_path / "imagesTr" / "abc_001_0000.nii.gz", img)
    write_nifti(tmp_path / "labelsTr" / "abc_001.nii.gz", lab.astype(np.uint8))
    (it,) = discover(tmp_path)
    assert it.case_id == "abc_001" and it.label is not None


@pytest.mark.parametrize("n", [1, 2])
def test_label_must_match_image(tmp_path, n):
    img, lab = phantom()
    v = load_volume(write_nifti(tmp_path / "i.nii", img))
    got = load_label(write_nifti(tmp_path / f"l{n}.nii", lab.astype(np.int16)), v)
    assert got.dtype == np.int64 and set(np.unique(got)) == {0, 1, 2}


def test_nearest_resampling_by_axis_equals_monai_inverse(tmp_path):
    from polyclr.modalities.volume.transforms import resample_label_nearest

    img, lab = phantom((30, 26, 18))
    aff = np.diag([1.2, 0.9, 2.5, 1.0])
    aff[:3, 3] = [-10, 4, 7]
    v = load_volume(write_nifti(tmp_path / "img.nii.gz", img, aff))
    ras_label = load_label(write_nifti(tmp_path / "lab.nii.gz", lab.astype(np.uint8), aff), v)
    d, t = preprocess(v, ras_label, 2, PreprocessConfig(spacing=[2.0, 2.0, 2.0], slice_size=[32, 32]))
    pred = np.asarray(d["label"][0]).round().astype(np.int64)
    monai = invert_label(pred, d, t)
    fast = resample_label_nearest(pred, np.asarray(d["image"].affine), v.affine, v.array.shape)
    assert fast is not None and fast.shape == monai.shape
    assert (fast == monai).mean() > 0.995  # nearest ties may round the other way at half voxels
    oblique = np.array([[0, 0, -2.5, 40], [1.2, 0, 0, -20], [0, -1.1, 0, 30], [0, 0, 0, 1.0]])
    assert resample_label_nearest(pred, oblique @ np.diag([1, 1, 1, 1.0]), v.affine @ np.diag([1, 1, 1, 1.0]), v.array.shape) is None
