"""Small NIfTI builders for the volume tests."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    """Write ``data`` with ``affine`` (identity by default) as NIfTI-1 (sform + qform set)."""
    aff = np.eye(4) if affine is None else affine
    img = nib.Nifti1Image(data, aff)
    img.set_sform(aff, code=1)
    img.set_qform(aff, code=1)
    nib.save(img, str(path))
    return path


def phantom(shape=(20, 24, 16), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A bright ellipsoid (class 1) with a brighter core (class 2) on a noisy background."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).astype(np.float64)
    centre = np.array(shape)[:, None, None, None] / 2
    r = np.sqrt((((grid - centre) / (np.array(shape)[:, None, None, None] / 3)) ** 2).sum(0))
    label = np.zeros(shape, np.int64)
    label[r < 1] = 1
    label[r < 0.5] = 2
    image = (label * 100.0 + rng.normal(0, 5, shape)).astype(np.float32)
    return image, label


def write_phantom_msd(root: Path, n: int = 6, mixed_orientation: bool = True) -> Path:
    """Write an MSD-layout folder of ``n`` phantom cases (odd cases stored LAS when mixed)."""
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(exist_ok=True)
    for i in range(n):
        img, lab = phantom(seed=i)
        aff = np.diag([2.0, 2.0, 3.0, 1.0])
        if mixed_orientation and i % 2:
            flip = np.diag([-1.0, 1.0, 1.0, 1.0])
            flip[0, 3] = img.shape[0] - 1
            aff = aff @ flip
            img, lab = img[::-1].copy(), lab[::-1].copy()
        write_nifti(root / "imagesTr" / f"case_{i:03d}.nii.gz", img, aff)
        write_nifti(root / "labelsTr" / f"case_{i:03d}.nii.gz", lab.astype(np.uint8), aff)
    (root / "dataset.json").write_text('{"labels": {"background": 0, "outer": 1, "core": 2}}')
    return root


@pytest.fixture
def tiny_msd(tmp_path: Path) -> Path:
    """An MSD-layout folder with 6 phantom cases (mixed RAS / LAS storage)."""
    return write_phantom_msd(tmp_path / "msd")
