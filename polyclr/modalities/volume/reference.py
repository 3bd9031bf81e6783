"""Reference data that needs no download: "subjects" derived from nilearn's MNI152 template.

nilearn ships the MNI152 2009 T1 template and its grey- and white-matter probability maps inside
its wheel. The real target is a 3-class map (0 background / CSF, 1 grey matter, 2 white matter)
from those maps. Varied subjects are *derived* from that one real template with MONAI random
transforms (smooth elastic deformation, small rotation/scaling, bias field, gamma contrast,
noise), a random slice thickness, and half of them stored in LAS instead of RAS orientation to
exercise reorientation. Half get a synthetic hyperintense white-matter "lesion"; that binary
volume-level label (``volume_labels.csv``) is the classification target. Written as NIfTI in the
Medical Segmentation Decathlon layout.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from polyclr._optional import require

VERSION = "v1"


def default_cache() -> Path:
    """``$POLYCLR_CACHE`` or ``~/.cache/polyclr``."""
    return Path(os.environ.get("POLYCLR_CACHE", Path.home() / ".cache" / "polyclr"))


def mni152_three_class(resolution_mm: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The real MNI152 T1 template and a 3-class tissue map from its GM/WM probability maps.

    Returns:
        ``(t1 (X,Y,Z) float32, label (X,Y,Z) int64 in {0,1,2}, affine (4,4))``.
    """
    datasets = require("nilearn.datasets", "volume")
    t1 = datasets.load_mni152_template(resolution=resolution_mm)
    gm = np.asarray(datasets.load_mni152_gm_template(resolution=resolution_mm).dataobj, np.float32)
    wm = np.asarray(datasets.load_mni152_wm_template(resolution=resolution_mm).dataobj, np.float32)
    label = np.zeros(gm.shape, np.int64)
    label[(gm >= 0.5) & (gm >= wm)] = 1
    label[(wm >= 0.5) & (wm > gm)] = 2
    return np.asarray(t1.dataobj, np.float32), label, np.asarray(t1.affine, np.float64)


def _subject(t1: np.ndarray, label: np.ndarray, rng: np.random.Generator, lesion: bool):
    transforms = require("monai.transforms", "volume")
    seed = int(rng.integers(0, 2**31 - 1))
    aug = transforms.Compose([
        transforms.Rand3DElasticd(
            keys=("image", "label"), sigma_range=(6, 9), magnitude_range=(60, 160), prob=1.0,
            rotate_range=(0.12, 0.12, 0.12), scale_range=(0.08, 0.08, 0.08),
            mode=("bilinear", "nearest"), padding_mode="zeros",
        ),
        transforms.RandBiasFieldd(keys="image", coeff_range=(0.1, 0.3), prob=1.0),
        transforms.RandAdjustContrastd(keys="image", gamma=(0.6, 1.6), prob=1.0),
    ])
    aug.set_random_state(seed=seed)
    img = (t1 - t1.min()) / max(float(t1.max() - t1.min()), 1e-6)
    out = aug({"image": img[None], "label": label[None].astype(np.float32)})
    image = np.asarray(out["image"])[0]
    lab = np.rint(np.asarray(out["label"])[0]).astype(np.int64)
    if lesion:
        wm = np.argwhere(lab == 2)
        centre = wm[rng.integers(len(wm))]
        radius = rng.uniform(3.0, 5.0, size=3)
        grid = np.indices(lab.shape).transpose(1, 2, 3, 0)
        inside = (((grid - centre) / radius) ** 2).sum(-1) <= 1.0
        image = np.where(inside, image + rng.uniform(0.4, 0.7) * image.max(), image)
    scale = rng.uniform(0.7, 1.4) * 1000.0
    image = image * scale + rng.normal(0.0, 0.02 * scale, size=image.shape)
    return image.astype(np.float32), lab


def generate_reference(
    out: str | Path | None = None,
    n_subjects: int = 20,
    seed: int = 0,
    spacing_mm: float = 3.0,
    force: bool = False,
) -> Path:
    """Write ``n_subjects`` derived subjects in MSD layout (``imagesTr``, ``labelsTr``).

    Args:
        out: target directory (default: ``<cache>/volume_mni152_subjects_<VERSION>_n<N>_s<seed>``).
        n_subjects: number of subjects (>= 4).
        seed: generator seed; the same seed gives the same files.
        spacing_mm: in-plane spacing; slice thickness varies per subject from 1x to 1.5x it.
        force: regenerate even if a complete copy exists.

    Returns:
        The dataset directory.
    """
    if n_subjects < 4:
        raise ValueError(f"n_subjects must be >= 4, got {n_subjects}")
    if spacing_mm <= 0:
        raise ValueError(f"spacing_mm must be positive, got {spacing_mm}")
    nib = require("nibabel", "volume")
    transforms = require("monai.transforms", "volume")
    root = Path(out) if out is not None else (
        default_cache() / f"volume_mni152_subjects_{VERSION}_n{n_subjects}_s{seed}"
    )
    done = root / "dataset.json"
    if done.is_file() and not force:
        return root
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    t1, label, affine = mni152_three_class(2)
    rng = np.random.default_rng(seed)
    lesions = rng.permutation(np.arange(n_subjects) % 2).astype(bool)
    rows = []
    for i in range(n_subjects):
        image, lab = _subject(t1, label, rng, bool(lesions[i]))
        thickness = spacing_mm * rng.uniform(1.0, 1.5)
        meta = require("monai.data", "volume")
        res = transforms.Spacingd(
            keys=("image", "label"), pixdim=(spacing_mm, spacing_mm, thickness),
            mode=("bilinear", "nearest"),
        )
        d = res({
            "image": meta.MetaTensor(image[None], affine=affine),
            "label": meta.MetaTensor(lab[None].astype(np.float32), affine=affine),
        })
        img_arr = np.asarray(d["image"].array)[0].astype(np.float32)
        lab_arr = np.rint(np.asarray(d["label"].array)[0]).astype(np.uint8)
        aff = np.asarray(d["image"].affine, dtype=np.float64)
        if i % 2 == 1:  # store as LAS: flip the first voxel axis and fix the affine to match
            flip = np.diag([-1.0, 1.0, 1.0, 1.0])
            flip[0, 3] = img_arr.shape[0] - 1
            aff = aff @ flip
            img_arr, lab_arr = img_arr[::-1].copy(), lab_arr[::-1].copy()
        name = f"subj_{i:03d}.nii.gz"
        for arr, folder in ((img_arr, "imagesTr"), (lab_arr, "labelsTr")):
            nimg = nib.Nifti1Image(arr, aff)
            nimg.set_qform(aff, code=1)
            nimg.set_sform(aff, code=1)
            nib.save(nimg, str(root / folder / name))
        rows.append({"image": f"imagesTr/{name}", "label": int(lesions[i])})
    with open(root / "volume_labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["image", "label"])
        w.writeheader()
        w.writerows(rows)
    dataset = {
        "name": "MNI152-derived subjects",
        "description": "Subjects derived from nilearn's MNI152 2009 T1 template (see data card).",
        "labels": {"background": 0, "grey_matter": 1, "white_matter": 2},
        "channel_names": {"0": "T1"},
        "modality": {"0": "T1"},
        "numTraining": n_subjects,
        "file_ending": ".nii.gz",
        "training": [{"image": f"./imagesTr/subj_{i:03d}.nii.gz",
                      "label": f"./labelsTr/subj_{i:03d}.nii.gz"} for i in range(n_subjects)],
        "test": [],
    }
    done.write_text(json.dumps(dataset, indent=2))
    return root
