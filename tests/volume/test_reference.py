"""The MNI152-derived reference subjects: the T2-like contrast and the multicontrast preset."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from polyclr.modalities.volume.reference import (
    T2_LIKE_SLOPE,
    VARIATIONS,
    generate_reference,
    t2_like,
)


def test_t2_like_inverts_inside_the_mask_only() -> None:
    t1 = np.array([[[0.0, 1.0, 2.0, 4.0]]], dtype=np.float32)
    mask = np.array([[[0, 1, 1, 1]]])
    out = t2_like(t1, mask)
    t1n = t1 / 4.0
    np.testing.assert_allclose(out, mask * (1.0 - T2_LIKE_SLOPE * t1n), rtol=0, atol=1e-7)
    assert out[0, 0, 0] == 0.0  # background stays dark
    assert out[0, 0, 1] > out[0, 0, 2] > out[0, 0, 3]  # monotone decreasing inside the brain


def test_multicontrast_preset_is_strong_plus_t2() -> None:
    mc = VARIATIONS["multicontrast"]
    assert {k: v for k, v in mc.items() if k != "t2_fraction"} == VARIATIONS["strong"]
    assert mc["t2_fraction"] == 0.5
    with pytest.raises(ValueError, match="variation"):
        generate_reference(variation="nope")


@pytest.mark.slow
def test_multicontrast_subjects_are_listed(tmp_path) -> None:
    root = generate_reference(tmp_path / "mc", n_subjects=4, n_unlabelled=2, variation="multicontrast")
    with open(root / "subject_contrasts.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["image"] for r in rows] == [f"imagesTr/subj_{i:03d}.nii.gz" for i in range(4)] + [
        f"imagesTr/unlab_{i:03d}.nii.gz" for i in range(2)]
    assert sorted(r["contrast"] for r in rows) == ["T1"] * 3 + ["T2-like"] * 3
    meta = json.loads((root / "dataset.json").read_text())
    assert meta["variation"] == "multicontrast"
    with open(root / "volume_labels.csv", newline="") as fh:
        assert next(csv.reader(fh)) == ["image", "label"]
