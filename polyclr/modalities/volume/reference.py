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
from typing import Any

import numpy as np

from polyclr._optional import require

VERSION = "v2"


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


# Variation presets of the derived subjects. "mild": small deformations and contrast changes; "strong" adds
# larger deformations, rotations and zoom, wider contrast / bias / noise ranges, blur and a random
# field of view (each subject is cropped differently along every axis).
VARIATIONS: dict[str, dict[str, Any]] = {
    "mild": {"magnitude": (60, 160), "sigma": (6, 9), "rotate": 0.12, "scale": 0.08,
             "bias": (0.1, 0.3), "gamma": (0.6, 1.6), "noise": (0.02, 0.02), "blur": None,
             "crop": 0.0, "thickness": (1.0, 1.5)},
    "strong": {"magnitude": (120, 260), "sigma": (5, 8), "rotate": 0.25, "scale": 0.15,
               "bias": (0.2, 0.6), "gamma": (0.4, 2.5), "noise": (0.01, 0.06), "blur": (0.0, 1.2),
               "crop": 0.15, "thickness": (1.0, 2.0)},
}
# "multicontrast": "strong" with half of the subjects (a random half, independent of lesion and
# orientation) given a T2-like contrast, as in a hospital archive that mixes sequences: inside
# the template's brain mask the intensity is inverted (CSF bright, grey matter brighter than
# white matter); the background stays dark. The labels are unchanged.
VARIATIONS["multicontrast"] = {**VARIATIONS["strong"], "t2_fraction": 0.5}
T2_LIKE_SLOPE = 0.7  # t2 = mask * (1 - 0.7 * t1n): CSF ~0.9, grey matter ~0.53, white matter ~0.4


def t2_like(t1: np.ndarray, brain_mask: np.ndarray) -> np.ndarray:
    """A T2-like contrast of the template: ``mask * (1 - 0.7 * t1n)`` with ``t1n`` the template
    scaled to [0, 1] (a monotone inversion inside the brain: CSF bright, white matter darkest).

    Shape:
        t1, brain_mask: ``(X, Y, Z)`` -> ``(X, Y, Z)`` float32 in [0, 1].
    """
    t1n = (t1 - t1.min()) / max(float(t1.max() - t1.min()), 1e-6)
    return (brain_mask > 0) * (1.0 - T2_LIKE_SLOPE * t1n).astype(np.float32)


def _subject(t1: np.ndarray, label: np.ndarray, rng: np.random.Generator, lesion: bool,
             variation: str = "strong") -> tuple[np.ndarray, np.ndarray]:
    """One derived subject on the template grid (see :data:`VARIATIONS`); ``t1`` is the
    template in the subject's contrast (the T1 template or :func:`t2_like` of it).

    Shape:
        t1, label: ``(X, Y, Z)``; returns ``(image float32, label int64)`` of that shape, or
        smaller along each axis when the preset crops the field of view.
    """
    transforms = require("monai.transforms", "volume")
    v = VARIATIONS[variation]
    seed = int(rng.integers(0, 2**31 - 1))
    steps = [
        transforms.Rand3DElasticd(
            keys=("image", "label"), sigma_range=v["sigma"], magnitude_range=v["magnitude"], prob=1.0,
            rotate_range=(v["rotate"],) * 3, scale_range=(v["scale"],) * 3,
            mode=("bilinear", "nearest"), padding_mode="zeros",
        ),
        transforms.RandBiasFieldd(keys="image", coeff_range=v["bias"], prob=1.0),
        transforms.RandAdjustContrastd(keys="image", gamma=v["gamma"], prob=1.0),
    ]
    if v["blur"] is not None:
        steps.append(transforms.RandGaussianSmoothd(keys="image", sigma_x=v["blur"], sigma_y=v["blur"],
                                                    sigma_z=v["blur"], prob=1.0))
    aug = transforms.Compose(steps)
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
    if v["crop"] > 0:  # random field of view: cut up to crop x extent from each end of each axis
        sl = []
        for n in image.shape:
            lo, hi = (int(rng.uniform(0, v["crop"]) * n) for _ in range(2))
            sl.append(slice(lo, n - hi))
        image, lab = image[tuple(sl)], lab[tuple(sl)]
    scale = rng.uniform(0.7, 1.4) * 1000.0
    noise = rng.uniform(*v["noise"])
    image = image * scale + rng.normal(0.0, noise * scale, size=image.shape)
    return image.astype(np.float32), lab


def _real_unlabelled(folder: Path) -> list[str]:
    """Copy nibabel's bundled real MRI volumes (an EPI frame and a small anatomical) as
    unlabelled pre-training images. Returns the written file names."""
    nib = require("nibabel", "volume")
    data = Path(nib.__file__).parent / "tests" / "data"
    names = []
    for src, name in (("example4d.nii.gz", "real_nibabel_epi.nii.gz"),
                      ("anatomical.nii", "real_nibabel_anatomical.nii.gz")):
        path = data / src
        if not path.is_file():
            continue
        img = nib.load(str(path))
        arr = np.asarray(img.dataobj, np.float32)
        if arr.ndim == 4:
            arr = arr[..., 0]
        out = nib.Nifti1Image(arr, img.affine)
        out.set_qform(img.affine, code=1)
        out.set_sform(img.affine, code=1)
        nib.save(out, str(folder / name))
        names.append(name)
    return names


def generate_reference(
    out: str | Path | None = None,
    n_subjects: int = 20,
    seed: int = 0,
    spacing_mm: float = 3.0,
    force: bool = False,
    variation: str = "strong",
    n_unlabelled: int = 0,
    real_unlabelled: bool = False,
) -> Path:
    """Write derived subjects in MSD layout (``imagesTr``, ``labelsTr``, ``dataset.json``).

    Args:
        out: target directory (default: a folder under :func:`default_cache` named by version,
            variation, counts and seed).
        n_subjects: number of labelled subjects (>= 4).
        seed: generator seed; the same arguments give the same files.
        spacing_mm: in-plane spacing; slice thickness varies per subject (see :data:`VARIATIONS`).
        force: regenerate even if a complete copy exists.
        variation: ``"strong"`` (default), ``"mild"`` (the v1 subjects) or ``"multicontrast"``
            (``strong`` + T2-like contrast for half of the subjects, listed in
            ``subject_contrasts.csv``), see :data:`VARIATIONS`.
        n_unlabelled: further derived subjects written to ``imagesTr`` without labels (the
            pipeline uses them for pre-training only).
        real_unlabelled: also copy nibabel's bundled real MRI volumes as unlabelled images.

    Returns:
        The dataset directory.
    """
    if n_subjects < 4:
        raise ValueError(f"n_subjects must be >= 4, got {n_subjects}")
    if spacing_mm <= 0:
        raise ValueError(f"spacing_mm must be positive, got {spacing_mm}")
    if variation not in VARIATIONS:
        raise ValueError(f"variation must be one of {sorted(VARIATIONS)}, got {variation!r}")
    if n_unlabelled < 0:
        raise ValueError(f"n_unlabelled must be >= 0, got {n_unlabelled}")
    nib = require("nibabel", "volume")
    transforms = require("monai.transforms", "volume")
    meta = require("monai.data", "volume")
    tag = f"{VERSION}_{variation}_n{n_subjects}_u{n_unlabelled}{'r' if real_unlabelled else ''}_s{seed}"
    root = Path(out) if out is not None else default_cache() / f"volume_mni152_subjects_{tag}"
    done = root / "dataset.json"
    if done.is_file() and not force:
        return root
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    t1, label, affine = mni152_three_class(2)
    rng = np.random.default_rng(seed)
    total = n_subjects + n_unlabelled
    lesions = rng.permutation(np.arange(total) % 2).astype(bool)
    thick = VARIATIONS[variation]["thickness"]
    t2_fraction = VARIATIONS[variation].get("t2_fraction", 0.0)
    contrasts = np.array(["T1"] * total, dtype=object)
    if t2_fraction > 0:  # drawn only here, so the other presets' subjects stay as they were
        datasets = require("nilearn.datasets", "volume")
        mask = np.asarray(datasets.load_mni152_brain_mask(resolution=2).dataobj)
        templates = {"T1": t1, "T2-like": t2_like(t1, mask)}
        n_t2 = int(round(t2_fraction * total))
        contrasts[rng.permutation(total)[:n_t2]] = "T2-like"
    else:
        templates = {"T1": t1}
    rows = []
    for i in range(total):
        image, lab = _subject(templates[contrasts[i]], label, rng, bool(lesions[i]), variation)
        thickness = spacing_mm * rng.uniform(*thick)
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
        labelled = i < n_subjects
        name = f"subj_{i:03d}.nii.gz" if labelled else f"unlab_{i - n_subjects:03d}.nii.gz"
        for arr, folder in ((img_arr, "imagesTr"), (lab_arr, "labelsTr")):
            if folder == "labelsTr" and not labelled:
                continue
            nimg = nib.Nifti1Image(arr, aff)
            nimg.set_qform(aff, code=1)
            nimg.set_sform(aff, code=1)
            nib.save(nimg, str(root / folder / name))
        rows.append({"image": f"imagesTr/{name}", "label": int(lesions[i]), "contrast": contrasts[i]})
    real = _real_unlabelled(root / "imagesTr") if real_unlabelled else []
    with open(root / "volume_labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["image", "label"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    if t2_fraction > 0:
        with open(root / "subject_contrasts.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["image", "contrast"], extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
    dataset = {
        "name": "MNI152-derived subjects",
        "description": "Subjects derived from nilearn's MNI152 2009 T1 template (see data card).",
        "variation": variation,
        "labels": {"background": 0, "grey_matter": 1, "white_matter": 2},
        "channel_names": {"0": "MRI" if t2_fraction > 0 else "T1"},
        "modality": {"0": "MRI" if t2_fraction > 0 else "T1"},
        "numTraining": n_subjects,
        "file_ending": ".nii.gz",
        "training": [{"image": f"./imagesTr/subj_{i:03d}.nii.gz",
                      "label": f"./labelsTr/subj_{i:03d}.nii.gz"} for i in range(n_subjects)],
        "unlabelled": [f"./imagesTr/unlab_{i:03d}.nii.gz" for i in range(n_unlabelled)]
        + [f"./imagesTr/{n}" for n in real],
        "test": [],
    }
    done.write_text(json.dumps(dataset, indent=2))
    return root
