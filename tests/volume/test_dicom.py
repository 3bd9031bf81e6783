"""DICOM exports: series splitting, geometry checks, patient grouping, enhanced multi-frame,
non-image objects, SEG and RTSTRUCT labels (files built with pydicom / highdicom / rt-utils)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from polyclr.cli import main
from polyclr.errors import DataError
from polyclr.modalities.volume.datasets import discover
from polyclr.modalities.volume.io import load_label, load_volume

from .dicom_builders import box_mask, write_rtstruct, write_seg, write_series


def test_two_series_in_one_folder_become_two_volumes(tmp_path):
    write_series(tmp_path / "exp", n=6, rows=12, cols=10, prefix="a", seed=0)
    write_series(tmp_path / "exp", n=4, rows=8, cols=8, prefix="b", seed=1)
    items = discover(tmp_path / "exp")
    assert len(items) == 2 and len({it.case_id for it in items}) == 2
    shapes = sorted(load_volume(it.image, series=it.series).array.shape for it in items)
    assert shapes == [(8, 8, 4), (10, 12, 6)]  # never one merged volume
    with pytest.raises(DataError, match="holds 2 DICOM series"):
        load_volume(tmp_path / "exp")


def test_series_geometry_is_dicom_geometry(tmp_path):
    files = write_series(tmp_path / "s", n=5, rows=12, cols=10, step=2.5, pixel_spacing=(1.0, 1.5))
    vol = load_volume(tmp_path / "s")
    assert vol.array.shape == (10, 12, 5)  # RAS: columns run along +x (L->R flipped), rows along y
    np.testing.assert_allclose(vol.spacing, [1.5, 1.0, 2.5])
    # world position of voxel (0, 0, 0) of the first file in RAS = LPS with x, y negated
    ds = pydicom.dcmread(str(files[0]))
    lps = np.asarray(ds.ImagePositionPatient, float)
    corners = [vol.affine @ np.array([i, j, k, 1.0]) for i in (0, 9) for j in (0, 11) for k in (0, 4)]
    assert any(np.allclose(c[:3], [-lps[0], -lps[1], lps[2]]) for c in corners)
    assert (vol.array > 200).sum() == box_mask(files).sum()


@pytest.mark.parametrize("positions,match", [
    ([0, 2, 4, 8, 10], "missing slice position"),
    ([0, 2, 4, 7, 9.5], "unequal slice spacing"),
    ([0, 2, 2, 4, 6], "duplicate slice positions"),
])
def test_bad_slice_geometry_is_a_named_error(tmp_path, positions, match):
    write_series(tmp_path / "s", positions=positions)
    with pytest.raises(DataError, match=match):
        load_volume(tmp_path / "s")


def test_two_orientations_in_one_series_is_refused(tmp_path, capsys):
    orients = [(1, 0, 0, 0, 1, 0)] * 4 + [(1, 0, 0, 0, 0, -1)] * 2
    write_series(tmp_path / "s", n=6, orientations=orients)
    with pytest.raises(DataError, match="2 orientations"):
        load_volume(tmp_path / "s")
    out = tmp_path / "run"
    assert main(["pretrain", "volume", "--data", str(tmp_path / "s"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "orientations" in err[0] and str(tmp_path / "s") in err[0]
    assert not out.exists()


def test_patients_grouped_by_pseudonymised_patient_id(tmp_path):
    write_series(tmp_path / "d" / "a1", patient="MRN-111", seed=0)
    write_series(tmp_path / "d" / "a2", patient="MRN-111", seed=1)
    write_series(tmp_path / "d" / "b1", patient="MRN-222", seed=2)
    write_series(tmp_path / "d" / "c1", patient="", study_uid="1.2.3.4.5", seed=3)
    items = {it.case_id.split("_")[0]: it for it in discover(tmp_path / "d")}
    assert items["a1"].patient_id == items["a2"].patient_id != items["b1"].patient_id
    assert items["c1"].patient_id not in (items["a1"].patient_id, items["b1"].patient_id)
    for it in items.values():
        assert "MRN" not in it.patient_id and "1.2.3.4.5" not in it.patient_id


def test_non_image_objects_are_skipped_with_a_warning(tmp_path):
    write_series(tmp_path / "d", n=4)
    sr = pydicom.dcmread(str(sorted((tmp_path / "d").iterdir())[0]))
    sr.Modality, sr.SOPClassUID = "SR", "1.2.840.10008.5.1.4.1.1.88.11"
    for key in ("Rows", "Columns", "PixelData"):
        delattr(sr, key)
    sr.save_as(str(tmp_path / "d" / "report.dcm"), enforce_file_format=True)
    with pytest.warns(UserWarning, match="skipped non-image DICOM object"):
        items = discover(tmp_path / "d")
    assert len(items) == 1


def test_enhanced_multiframe_reads_like_its_single_frames(tmp_path):
    import highdicom as hd

    files = write_series(tmp_path / "single", n=5, rows=12, cols=10)
    datasets = [pydicom.dcmread(str(f)) for f in files]
    mf = hd.legacy.LegacyConvertedEnhancedMRImage(
        legacy_datasets=datasets, series_instance_uid=hd.UID(), series_number=3,
        sop_instance_uid=hd.UID(), instance_number=1)
    (tmp_path / "multi").mkdir()
    mf.save_as(str(tmp_path / "multi" / "enhanced.dcm"))
    a, b = load_volume(tmp_path / "single"), load_volume(tmp_path / "multi" / "enhanced.dcm")
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-4)
    np.testing.assert_array_equal(a.array, b.array)


def test_seg_label_lands_on_the_image_grid(tmp_path):
    files = write_series(tmp_path / "d" / "img", n=6, rows=12, cols=10)
    write_seg(files, tmp_path / "d" / "seg.dcm")
    (item,) = discover(tmp_path / "d")
    assert item.label == tmp_path / "d" / "seg.dcm"
    vol = load_volume(item.image, series=item.series)
    lab = load_label(item.label, vol)
    assert lab.shape == vol.array.shape and set(np.unique(lab)) == {0, 1}
    np.testing.assert_array_equal(lab > 0, vol.array > 200)


def test_rtstruct_label_is_rasterised_on_a_non_square_grid(tmp_path):
    files = write_series(tmp_path / "d" / "img", n=6, rows=12, cols=10, pixel_spacing=(1.0, 1.5))
    mask = box_mask(files).transpose(1, 2, 0)  # rt-utils: (rows, cols, slices ascending)
    write_rtstruct(tmp_path / "d" / "img", tmp_path / "rt.dcm", mask)
    shutil.move(tmp_path / "rt.dcm", tmp_path / "d" / "rt.dcm")
    (item,) = discover(tmp_path / "d")
    vol = load_volume(item.image, series=item.series)
    lab = load_label(item.label, vol)
    np.testing.assert_array_equal(lab > 0, vol.array > 200)


def test_label_objects_without_their_series_are_refused(tmp_path, capsys):
    files = write_series(tmp_path / "a", n=6)
    (tmp_path / "b").mkdir()
    write_seg(files, tmp_path / "b" / "seg.dcm")
    write_series(tmp_path / "b", n=6, seed=3)  # another series: the SEG's own is absent
    with pytest.raises(DataError, match="absent"):
        discover(tmp_path / "b")
    assert main(["check", "volume", "--data", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "seg.dcm" in err[0] and "absent" in err[0]


def test_seg_frames_off_the_image_grid_are_refused(tmp_path):
    files = write_series(tmp_path / "d" / "img", n=6, rows=12, cols=10)
    other = write_series(tmp_path / "other", n=6, rows=16, cols=16, seed=2)
    write_seg(other, tmp_path / "d" / "seg.dcm", mask=np.ones((6, 16, 16), bool))
    seg = pydicom.dcmread(str(tmp_path / "d" / "seg.dcm"))
    seg.ReferencedSeriesSequence[0].SeriesInstanceUID = pydicom.dcmread(str(files[0])).SeriesInstanceUID
    seg.save_as(str(tmp_path / "d" / "seg.dcm"))
    (item,) = discover(tmp_path / "d")
    with pytest.raises(DataError, match="do not match the image grid"):
        load_label(item.label, load_volume(item.image, series=item.series))


def test_predicted_seg_round_trips(tmp_path):
    from polyclr.modalities.volume.dicom_labels import write_seg as write_pred_seg

    write_series(tmp_path / "d", n=6, rows=12, cols=10)
    vol = load_volume(tmp_path / "d")
    pred = (vol.array > 200).astype(np.int64)
    out = write_pred_seg(pred, vol, tmp_path / "pred" / "seg.dcm", ["box"])
    shutil.copy(out, tmp_path / "d" / "pred_seg.dcm")
    np.testing.assert_array_equal(load_label(tmp_path / "d" / "pred_seg.dcm", vol), pred)


def test_dataset_folder_with_series_and_nifti_alongside(tmp_path):
    from .conftest import phantom, write_nifti

    write_series(tmp_path / "d" / "dicom", n=6)
    write_nifti(tmp_path / "d" / "extra.nii.gz", phantom()[0])
    items = discover(tmp_path / "d")
    assert len(items) == 2
    assert all(isinstance(it.image, Path) for it in items)
