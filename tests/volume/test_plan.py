"""Fingerprint -> plan: closed-form rules, CT vs MRI, overrides, and both reference datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from polyclr.cli import main
from polyclr.config import merge
from polyclr.modalities.volume.io import to_ras
from polyclr.modalities.volume.plan import Fingerprinter, make_plan, needs_plan
from polyclr.pipelines.volume.config import VolumeConfig
from polyclr.pipelines.volume.data import resolve
from polyclr.pipelines.volume.pipeline import PIPELINE

HIPPO = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "msd_hippocampus"


def _fp(shape, spacing, value=100.0, ct=False, n=3):
    f = Fingerprinter()
    for i in range(n):
        img = np.full(shape, -1000.0 if ct else 0.0, np.float32)
        sl = tuple(slice(s // 4, 3 * s // 4) for s in shape)
        img[sl] = value + i
        lab = np.zeros(shape, np.int64)
        lab[sl] = 1
        f.add(to_ras(img, np.diag([*spacing, 1.0]), Path(f"v{i}.nii.gz")), lab)
    return f.result()


def test_isotropic_mri_plan():
    fp = _fp((35, 50, 35), (1.0, 1.0, 1.0))
    plan = make_plan(fp)
    assert fp["modality"] == "MRI" and plan["normalisation"] == "zscore"
    assert plan["spacing"] == [1.0, 1.0, 1.0] and plan["axis"] == 2
    assert plan["slice_size"] == [48, 64]  # 35 x 50 rounded up to multiples of 16
    assert plan["depth"] == 4 and plan["architecture"] == "BasicUNet"  # 48 / 16 = 3 voxels left
    assert plan["num_partitions"] == 4
    box = np.prod([3 * s // 4 - s // 4 for s in (35, 50, 35)])  # the labelled box of _fp
    assert fp["class_frequencies"]["1"] == pytest.approx(box / (35 * 50 * 35), rel=1e-6)


def test_anisotropic_ct_plan_coarsens_in_plane_and_clips_globally():
    fp = _fp((512, 512, 40), (0.8, 0.8, 5.0), value=300.0, ct=True)
    plan = make_plan(fp, max_slice_voxels=96 * 96)
    assert fp["modality"] == "CT" and plan["normalisation"] == "ct"
    assert plan["axis"] == 2
    # field of view 409.6 mm kept whole: spacing 409.6 / 96 mm, slices of 96 x 96
    assert plan["spacing"][0] == pytest.approx(409.6 / 96, rel=1e-3) and plan["slice_size"] == [96, 96]
    lo, hi, mean, std = plan["intensity_stats"][0]
    assert lo == pytest.approx(300.0, abs=2.5) and hi <= 302.0 and std > 0
    assert plan["num_partitions"] == 4


def test_thin_slices_choose_the_coarse_axis_and_fewer_levels():
    fp = _fp((40, 4, 30), (1.0, 6.0, 1.0))
    plan = make_plan(fp)
    assert plan["axis"] == 1 and plan["num_partitions"] == 2  # 4 slices allow S = 2
    fp = _fp((12, 14, 12), (1.0, 1.0, 1.0))
    plan = make_plan(fp)
    assert plan["slice_size"] == [16, 16] and plan["depth"] == 3 and plan["architecture"] == "UNet"


def test_user_keys_win_over_the_plan(tiny_msd):
    cfg = merge(VolumeConfig(), {"data": {"spacing": [2.0, 2.0, 2.0], "normalisation": "percentile"}})
    resolved, _, record = resolve(cfg, tiny_msd)
    assert resolved.data.spacing == [2.0, 2.0, 2.0] and resolved.data.normalisation == "percentile"
    assert "data.spacing" not in record["from_plan"] and "data.slice_size" in record["from_plan"]
    assert not needs_plan(resolved) and needs_plan(VolumeConfig())
    assert resolved.net.in_channels == 1 and resolved.pretrain.num_partitions >= 1


def test_check_prints_the_plan_and_set_overrides_it(tiny_msd, capsys):
    assert main(["check", "volume", "--data", str(tiny_msd)]) == 0
    out = capsys.readouterr().out
    assert "plan=spacing=" in out and "normalisation=zscore" in out and "modality=MRI" in out
    assert main(["check", "volume", "--data", str(tiny_msd), "--set", "data.slice_size=[64,64]"]) == 0
    assert "slice_size=[64, 64]" in capsys.readouterr().out


@pytest.mark.skipif(not HIPPO.is_dir(), reason="../shared/data/msd_hippocampus is absent (real MRI)")
def test_plan_on_hippocampus():
    report = PIPELINE.check(VolumeConfig(), HIPPO)
    assert report.summary["volumes"] == 200 and report.summary["modality"] == "MRI"
    plan = report.summary["plan"]
    assert "spacing=[1.0, 1.0, 1.0]" in plan and "normalisation=zscore" in plan
    assert "architecture=BasicUNet" in plan and "num_partitions=4" in plan


@pytest.mark.slow
def test_plan_on_mni_reference():
    from polyclr.modalities.volume.reference import generate_reference

    _, _, record = resolve(VolumeConfig(), generate_reference(n_subjects=12, seed=0))
    a = record["applied"]
    assert record["fingerprint"]["modality"] == "MRI" and a["data.normalisation"] == "zscore"
    assert np.prod(a["data.slice_size"]) <= 112 * 112 and a["net.architecture"] == "BasicUNet"
