"""Every bad-input case: DataError naming the file (library) and exit code 2, one line (CLI)."""

from __future__ import annotations

import gzip
import time

import nibabel as nib
import numpy as np
import pytest

from polyclr.cli import main
from polyclr.errors import DataError
from polyclr.modalities.volume.io import load_label, load_volume
from tests.volume.conftest import phantom, write_nifti


def _valid(tmp_path, name="ok.nii"):
    return write_nifti(tmp_path / name, phantom()[0])


def _zero_byte(tmp_path):
    p = tmp_path / "empty.nii.gz"
    p.write_bytes(b"")
    return p


def _not_nifti(tmp_path):
    p = tmp_path / "notes.nii"
    p.write_text("this is not an image\n" * 50)
    return p


def _truncated(tmp_path):
    p = _valid(tmp_path, "trunc.nii")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


def _truncated_gz(tmp_path):
    p = tmp_path / "trunc.nii.gz"
    raw = _valid(tmp_path, "src.nii").read_bytes()
    gz = gzip.compress(raw)
    p.write_bytes(gz[: len(gz) // 2])
    return p


def _nan(tmp_path):
    img = phantom()[0]
    img[3, 4, 5] = np.nan
    img[1, 1, 1] = np.inf
    return write_nifti(tmp_path / "nan.nii", img)


def _two_d(tmp_path):
    return write_nifti(tmp_path / "flat.nii", np.ones((16, 16), np.float32))


def _five_d(tmp_path):
    return write_nifti(tmp_path / "five.nii", np.ones((4, 4, 4, 2, 2), np.float32))


def _zero_affine(tmp_path):
    img = nib.Nifti1Image(phantom()[0], np.eye(4))
    hdr = img.header
    hdr.set_qform(None, code=0)
    for key in ("srow_x", "srow_y", "srow_z"):
        hdr[key] = 0.0
    hdr["sform_code"] = 1
    p = tmp_path / "zero_affine.nii"
    nib.save(nib.Nifti1Image(img.dataobj, None, hdr), str(p))
    return p


def _gigantic(tmp_path):
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(np.float32)
    hdr.set_data_shape((30000, 30000, 30000))
    hdr.set_qform(np.eye(4), code=1)
    hdr.set_sform(np.eye(4), code=1)
    p = tmp_path / "huge.nii"
    p.write_bytes(hdr.binaryblock + b"\x00" * 4 + b"\x00" * 64)  # header + extension flag + a few bytes
    return p


CASES = {
    "zero_byte": (_zero_byte, "empty"),
    "not_nifti": (_not_nifti, "not a readable NIfTI"),
    "truncated": (_truncated, "truncated"),
    "truncated_gz": (_truncated_gz, "truncated"),
    "nan_inf": (_nan, "NaN or Inf"),
    "two_d": (_two_d, "expected a 3-D volume"),
    "five_d": (_five_d, "expected a 3-D volume"),
    "zero_affine": (_zero_affine, "degenerate"),
    "gigantic_header": (_gigantic, "over the limit"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_load_volume_refuses_with_file_name(tmp_path, case):
    make, words = CASES[case]
    path = make(tmp_path)
    t0 = time.perf_counter()
    with pytest.raises(DataError) as info:
        load_volume(path)
    assert info.value.path == str(path)
    assert words in info.value.problem
    if case == "gigantic_header":
        assert time.perf_counter() - t0 < 5  # refused from the header, nothing allocated


def test_unsupported_suffix(tmp_path):
    p = tmp_path / "scan.png"
    p.write_bytes(b"\x89PNG....")
    with pytest.raises(DataError, match="unsupported file type"):
        load_volume(p)


def test_label_shape_mismatch_and_non_integer_labels(tmp_path):
    img, lab = phantom()
    v = load_volume(write_nifti(tmp_path / "img.nii", img))
    bad_shape = write_nifti(tmp_path / "lab_shape.nii", lab[:-1].astype(np.uint8))
    with pytest.raises(DataError, match="label shape") as info:
        load_label(bad_shape, v)
    assert info.value.path == str(bad_shape)
    frac = write_nifti(tmp_path / "lab_frac.nii", lab.astype(np.float32) + 0.5)
    with pytest.raises(DataError, match="non-integer"):
        load_label(frac, v)


def _msd_with(tmp_path, bad_name, writer):
    root = tmp_path / "ds"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for i in range(3):
        img, lab = phantom(seed=i)
        write_nifti(root / "imagesTr" / f"c{i}.nii.gz", img)
        write_nifti(root / "labelsTr" / f"c{i}.nii.gz", lab.astype(np.uint8))
    bad = writer(root)
    return root, bad


@pytest.mark.parametrize("kind", ["nan_image", "label_shape", "label_float", "zero_byte_image"])
def test_cli_check_exits_2_with_one_line_naming_the_file(tmp_path, capsys, kind):
    def writer(root):
        img, lab = phantom(seed=9)
        if kind == "nan_image":
            img[0, 0, 0] = np.nan
            return write_nifti(root / "imagesTr" / "c1.nii.gz", img)
        if kind == "label_shape":
            return write_nifti(root / "labelsTr" / "c1.nii.gz", lab[:, :-2].astype(np.uint8))
        if kind == "label_float":
            return write_nifti(root / "labelsTr" / "c1.nii.gz", lab.astype(np.float32) * 0.7)
        p = root / "imagesTr" / "c1.nii.gz"
        p.write_bytes(b"")
        return p

    root, bad = _msd_with(tmp_path, kind, writer)
    out = tmp_path / "run"
    code = main(["check", "volume", "--data", str(root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and str(bad) in err[0]
    assert "Traceback" not in err[0]
    code = main(["pretrain", "volume", "--data", str(root), "--out", str(out)])
    assert code == 2 and not out.exists()  # refused before creating OUT


def test_cli_check_summarises_a_good_dataset(tiny_msd, capsys):
    assert main(["check", "volume", "--data", str(tiny_msd)]) == 0
    line = capsys.readouterr().out
    assert "volumes=6" in line and "labelled=6" in line and "label_values=[0, 1, 2]" in line
    assert "spacing_min_mm=2x2x3" in line
