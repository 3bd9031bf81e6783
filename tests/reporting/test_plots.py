"""Plots: hand-worked values behind the pictures, and the pictures themselves (pixels)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from polyclr.errors import DataError
from polyclr.evaluation import plots as P


def _rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def _bluish(arr: np.ndarray) -> int:
    return int(((arr[..., 2] - arr[..., 0]) > 40).sum())


def _greenish(arr: np.ndarray) -> int:
    return int(((arr[..., 1] - arr[..., 0]) > 40).sum())


def test_pca_of_points_on_a_line_keeps_distances_and_flattens_the_rest():
    t = np.linspace(-2.0, 2.0, 7)
    direction = np.array([1.0, 2.0, -2.0, 0.0, 0.0]) / 3.0  # unit vector
    emb = t[:, None] * direction + np.array([5.0, 0, 0, 1, 0])
    xy, used = P.project_2d(emb, method="tsne")  # 7 points: t-SNE falls back to PCA
    assert used == "PCA"
    np.testing.assert_allclose(np.abs(xy[:, 0]), np.abs(t), atol=1e-9)
    np.testing.assert_allclose(xy[:, 1], 0.0, atol=1e-9)


def test_projection_variants_and_validation():
    xy, used = P.project_2d(np.arange(5.0)[:, None], method="pca")
    assert used == "identity" and xy.shape == (5, 2) and (xy[:, 1] == 0).all()
    rng = np.random.default_rng(0)
    xy, used = P.project_2d(rng.normal(size=(12, 6)), method="umap")
    assert xy.shape == (12, 2) and used in ("umap", "t-SNE")
    with pytest.raises(ValueError, match="NaN"):
        P.project_2d(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="method"):
        P.project_2d(np.zeros((3, 2)), method="mds")


def test_silhouette_separates_disease_from_patient_hand_worked():
    # Two classes on orthogonal directions, each class split across both patients.
    emb = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    scores = P.embedding_separation(emb, labels=[0, 0, 1, 1], groups=["p1", "p2", "p1", "p2"])
    # By label: a = 0 (same direction), b = 1 (cosine distance 1) -> s = 1 for every point.
    assert scores["silhouette_label"] == pytest.approx(1.0)
    # By patient, point 0: a = d(p0, p2) = 1, b = mean(d(p0, p1), d(p0, p3)) = 0.5 -> -0.5.
    assert scores["silhouette_group"] == pytest.approx(-0.5)
    assert math.isnan(P.embedding_separation(emb, labels=[0, 0, 0, 0])["silhouette_label"])


def test_plot_embedding_two_panels_deterministic(tmp_path):
    rng = np.random.default_rng(1)
    emb = np.vstack([rng.normal(0, 0.1, (15, 8)) + 1, rng.normal(0, 0.1, (15, 8)) - 1])
    labels = np.repeat(["healthy", "disease"], 15)
    groups = np.tile(np.arange(5), 6)
    one = P.plot_embedding(emb, labels, tmp_path / "one.png", method="pca")
    two = P.plot_embedding(emb, labels, tmp_path / "two.png", groups=groups, title="x", method="pca")
    again = P.plot_embedding(emb, labels, tmp_path / "again.png", groups=groups, title="x", method="pca")
    w1, w2 = Image.open(one).size[0], Image.open(two).size[0]
    assert w2 == pytest.approx(2 * w1, rel=0.05)
    assert two.read_bytes() == again.read_bytes()  # seeded t-SNE, no timestamps
    with pytest.raises(ValueError, match="labels has 3 entries"):
        P.plot_embedding(emb, labels[:3], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="PNG"):
        P.plot_embedding(emb, labels, tmp_path / "bad.jpg")
    sub = P.plot_embedding(emb, labels, tmp_path / "sub.png", groups=groups, title="x", method="pca",
                           max_points=12)
    assert sub.read_bytes() != two.read_bytes()


def test_label_efficiency_aggregation_hand_worked(tmp_path):
    rows = [
        {"method": "pretrained", "label_fraction": 0.1, "seed": 0, "macro_f1": 0.5},
        {"method": "pretrained", "label_fraction": 0.1, "seed": 1, "macro_f1": 0.7},
        {"method": "pretrained", "label_fraction": 0.01, "seed": 0, "macro_f1": 0.4},
        {"method": "pretrained", "label_fraction": 1.0, "seed": 0, "macro_f1": float("nan")},
        {"method": "random_init", "label_fraction": 0.1, "seed": 0, "macro_f1": 0.3},
    ]
    curves = P.aggregate_curve(rows)
    pre = curves["pretrained"]
    np.testing.assert_allclose(pre["x"], [0.01, 0.1])  # sorted, NaN row skipped
    np.testing.assert_allclose(pre["mean"], [0.4, 0.6])
    np.testing.assert_allclose(pre["std"], [0.0, 0.1])
    assert pre["n"].tolist() == [1, 2]
    assert curves["random_init"]["mean"].tolist() == [0.3]
    out = P.plot_label_efficiency(rows, tmp_path / "le.png", title="F1")
    assert Image.open(out).size[0] > 300
    vol_rows = [{"method": m, "labeled_volumes": k, "dice": d}
                for m, d0 in (("pre", 0.5), ("rand", 0.3)) for k, d in ((1, d0), (2, d0 + .1), (8, d0 + .2))]
    assert P.plot_label_efficiency(vol_rows, tmp_path / "v.png", x_key="labeled_volumes", y_key="dice").is_file()
    with pytest.raises(ValueError, match="finite"):
        P.plot_label_efficiency([{"method": "a", "label_fraction": 1, "macro_f1": None}], tmp_path / "n.png")


def test_confusion_int_and_name_encodings_draw_the_same_matrix(tmp_path):
    names = ["normal", "af", "st"]
    yt, yp = [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0]
    a = P.plot_confusion(yt, yp, names, tmp_path / "a.png")
    b = P.plot_confusion([names[i] for i in yt], [names[i] for i in yp], names, tmp_path / "b.png")
    c = P.plot_confusion(yt, yt, names, tmp_path / "c.png")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert P.plot_confusion(yt, yp, names, tmp_path / "n.png", normalize="true").is_file()
    with pytest.raises(ValueError, match="y_pred has 2 entries"):
        P.plot_confusion(yt, yp[:2], names, tmp_path / "x.png")


def test_segmentation_overlay_draws_masks_only_on_mask_panels(tmp_path):
    img = np.tile(np.linspace(0, 1, 48), (40, 1))
    lab = np.zeros((40, 48), int)
    lab[10:30, 10:30] = 1
    pred = np.zeros_like(lab)
    path = P.plot_segmentation_overlay(img, lab, pred, tmp_path / "seg.png")
    arr = _rgb(path)
    thirds = np.array_split(arr, 3, axis=1)
    assert _bluish(thirds[0]) == 0  # grey image only
    assert _bluish(thirds[1]) > 200  # class 1 (tab:blue) over the ground-truth panel
    assert _bluish(thirds[2]) == 0  # empty prediction
    with pytest.raises(ValueError, match="one shape"):
        P.plot_segmentation_overlay(img, lab[:5], pred, tmp_path / "bad.png")


def test_slice_dice_hand_worked():
    pred = np.zeros((4, 4), int)
    lab = np.zeros((4, 4), int)
    pred[0, :4] = 1  # 4 pixels of class 1
    lab[0, 2:4] = 1  # 2 of them right ...
    lab[1, 0:2] = 1  # ... 2 missed elsewhere
    pred[3, 3] = 2  # class 2 predicted, absent from the ground truth
    assert P.slice_dice(pred, lab) == pytest.approx({1: 2 * 2 / (4 + 4), 2: 0.0})
    assert P.slice_dice(np.zeros(3), np.zeros(3)) == {}


def test_selection_strip_more_kept_more_green(tmp_path):
    pos = np.arange(40)
    few = P.plot_selection_strip(pos, pos % 20 == 0, tmp_path / "few.png")
    many = P.plot_selection_strip(pos, pos % 2 == 0, tmp_path / "many.png", scores=np.sin(pos / 5))
    assert _greenish(_rgb(many)) > 3 * _greenish(_rgb(few))
    with pytest.raises(ValueError, match="kept has 3 entries"):
        P.plot_selection_strip(pos, [True, False, True], tmp_path / "bad.png")


def test_training_curve_from_a_real_lightning_csv_log(tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    logger = CSVLogger(str(tmp_path), name="logs", version="")
    for step, loss in enumerate([2.0, 1.5, 1.2, 1.0]):
        logger.log_metrics({"train/loss": loss, "epoch": step // 2}, step=step)
    logger.save()
    csv = tmp_path / "logs" / "metrics.csv"
    assert csv.is_file()
    assert P.plot_training_curve(csv, tmp_path / "tc.png").is_file()
    with pytest.raises(DataError, match="no column val/loss"):
        P.plot_training_curve(csv, tmp_path / "x.png", key="val/loss")
    with pytest.raises(DataError, match="not found"):
        P.plot_training_curve(tmp_path / "nope.csv", tmp_path / "x.png")
    (tmp_path / "bad.csv").write_bytes(b"")
    with pytest.raises(DataError, match="bad.csv"):
        P.plot_training_curve(tmp_path / "bad.csv", tmp_path / "x.png")


def test_step_and_epoch_suffixed_columns_are_found(tmp_path):
    csv = tmp_path / "metrics.csv"
    csv.write_text("epoch,step,train/loss_step,train/loss_epoch\n0,0,2.0,\n0,1,1.5,\n0,1,,1.7\n")
    assert P.plot_training_curve(csv, tmp_path / "c.png").is_file()


def test_plots_leave_no_pyplot_figures_and_keep_the_backend(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    before = plt.get_fignums()
    P.plot_selection_strip(np.arange(4), [True, False, True, False], tmp_path / "s.png")
    P.plot_confusion([0, 1], [1, 1], ["a", "b"], tmp_path / "c.png")
    assert plt.get_fignums() == before
    assert matplotlib.get_backend() == backend
