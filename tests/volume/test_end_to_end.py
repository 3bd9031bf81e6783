"""End to end through the CLI on tiny phantom datasets (2D run; 3D pretrain -> finetune -> evaluate)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from polyclr.cli import main

TINY = [
    "--set", "data.spacing=[2,2,3]", "--set", "data.slice_size=[32,32]",
    "--set", "data.patch_size=[16,16,16]",
    "--set", "net.features=[4,4,8,8,16,4]", "--set", "pretrain.num_partitions=2",
    "--set", "pretrain.volumes_per_batch=2", "--set", "pretrain.global_steps=2",
    "--set", "pretrain.local_steps=2", "--set", "finetune.steps=3", "--set", "finetune.batch_size=4",
    "--set", "engine.accelerator=cpu", "--set", "split.test_size=0.34",
]


@pytest.mark.slow
def test_run_volume_2d_writes_rows_and_aligned_masks(tiny_msd, tmp_path):
    out = tmp_path / "run"
    # volume-level classes for the classification task; the split (seed 0) tests cases 1, 2, 5
    # and trains on 0, 3, 4, so each side holds both classes
    classes = {0: 0, 1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
    (tiny_msd / "volume_labels.csv").write_text(
        "image,label\n" + "".join(f"imagesTr/case_{i:03d}.nii.gz,{c}\n" for i, c in classes.items()))
    code = main(["run", "volume", "--data", str(tiny_msd), "--out", str(out), *TINY,
                 "--set", "pretrain.strategies=[GD+LD,GR]", "--set", "finetune.labeled_volumes=[1,2]",
                 "--set", "finetune.combinations=2", "--set", "classify.steps=2"])
    assert code == 0
    m = json.loads((out / "metrics.json").read_text())
    methods = {r["method"] for r in m["rows"]}
    assert methods == {"GD+LD", "GR", "random_init", "fully_supervised"}
    n_train = m["train_volumes"]
    assert {r["labeled_volumes"] for r in m["rows"]} == {1, 2, n_train}
    assert len(m["rows"]) == 3 * 2 * 2 + 1  # methods x K x combinations + fully supervised (1 seed)
    full = [r for r in m["rows"] if r["method"] == "fully_supervised"]
    assert full[0]["labeled_volumes"] == n_train == len(splits_train := full[0]["train_volumes"])
    assert len(set(splits_train)) == n_train
    for r in m["rows"]:
        assert 0.0 <= r["dice_mean"] <= 1.0 and set(r["dice"]) == {"outer", "core"}
        assert len(r["train_volumes"]) == r["labeled_volumes"]
    # train and test never share a volume
    splits = json.loads((out / "splits.json").read_text())["splits"]
    assert not set(splits["train"]) & set(splits["test"])
    # predicted masks: same grid and affine as the input images (RAS and LAS-stored cases)
    preds = sorted((out / "predictions" / "GD+LD_K2").glob("*.nii.gz"))
    assert preds and {p.name.split(".")[0] for p in preds} == set(splits["test"])
    for p in preds:
        src = nib.load(str(tiny_msd / "imagesTr" / p.name))
        pred = nib.load(str(p))
        assert pred.shape == src.shape
        np.testing.assert_allclose(pred.affine, src.affine, atol=1e-5)
        assert set(np.unique(np.asarray(pred.dataobj))) <= {0, 1, 2}
    assert (out / "report.md").is_file() and (out / "encoders" / "GD_LD.safetensors").is_file()
    # classification: a frozen-encoder probe and a fine-tuned classifier per initialisation
    cls = m["classification"]
    assert sorted((r["method"], r["task"]) for r in cls) == sorted(
        (meth, task) for meth in ("GD+LD", "GR", "random_init")
        for task in ("volume_classification_linear_probe", "volume_classification_finetune"))
    for r in cls:
        assert r["train_volumes"] == 3 and r["test_volumes"] == 3 and 0.0 <= r["auroc"] <= 1.0
    assert "finetune" in (out / "report.md").read_text()
    # embed: one pooled frozen-encoder descriptor per volume, file order, with the file list
    emb_dir = tmp_path / "emb"
    assert main(["embed", "volume", "--data", str(tiny_msd), "--out", str(emb_dir), *TINY,
                 "--checkpoint", str(out / "encoders" / "GD_LD.safetensors")]) == 0
    emb = np.load(emb_dir / "embeddings.npy")
    files = (emb_dir / "files.txt").read_text().split()
    assert emb.shape == (len(files), 2 * 16) and len(files) == len(list((tiny_msd / "imagesTr").glob("*.nii.gz")))
    assert np.isfinite(emb).all() and not np.allclose(emb[0], emb[1])


@pytest.mark.slow
def test_3d_pretrain_finetune_evaluate(tiny_msd, tmp_path):
    sets = [*TINY, "--set", "net.spatial_dims=3", "--set", "data.patch_size=[32,32,32]", "--set", "pretrain.strategy=GD+LD",
            "--set", "finetune.combinations=1"]
    pre, fin, ev = tmp_path / "pre", tmp_path / "fin", tmp_path / "ev"
    assert main(["pretrain", "volume", "--data", str(tiny_msd), "--out", str(pre), *sets]) == 0
    from polyclr.engine import load_encoder

    _, meta = load_encoder(pre / "encoder.safetensors")
    assert meta["encoder"]["spatial_dims"] == 3 and meta["objective"]["strategy"] == "GD+LD"
    assert main(["finetune", "volume", "--data", str(tiny_msd), "--out", str(fin), "--checkpoint", str(pre),
                 "--labeled-volumes", "1", *sets]) == 0
    rows = json.loads((fin / "metrics.json").read_text())["rows"]
    assert rows[0]["method"] == "GD+LD" and rows[0]["labeled_volumes"] == 1
    assert main(["evaluate", "volume", "--data", str(tiny_msd), "--out", str(ev), "--checkpoint", str(fin),
                 *sets]) == 0
    res = json.loads((ev / "metrics.json").read_text())
    assert 0.0 <= res["dice_mean"] <= 1.0 and len(res["dice_per_test_volume"]) == len(res["test_volumes"])
    # random-init fine-tune without a checkpoint
    assert main(["finetune", "volume", "--data", str(tiny_msd), "--out", str(tmp_path / "rnd"),
                 "--labeled-volumes", "1", *sets]) == 0
