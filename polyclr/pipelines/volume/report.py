"""Figures and ``report.md`` of ``polyclr run volume`` (through the shared plot/report modules)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _table(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"method": r["method"], "labeled volumes": r["labeled_volumes"], "runs": r["n"],
             "Dice (mean ± std)": f"{r['dice_mean_mean']:.3f} ± {r['dice_mean_std']:.3f}"}
            for r in metrics["summary"]]


def _classification_table(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Classification rows per (method, task), fine-tuning seeds aggregated."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in metrics["classification"]:
        groups.setdefault((r["method"], r["task"].removeprefix("volume_classification_")), []).append(r)

    def fmt(values: list[float]) -> str:
        v = np.asarray(values, dtype=float)
        return f"{np.nanmean(v):.3f}" if len(v) == 1 else f"{np.nanmean(v):.3f} ± {np.nanstd(v):.3f}"

    return [{"method": m, "task": t, "runs": len(rs), "AUROC": fmt([r["auroc"] for r in rs]),
             "accuracy": fmt([r["accuracy"] for r in rs])} for (m, t), rs in groups.items()]


def _markdown(metrics: dict[str, Any], figures: list[dict[str, Any]], title: str) -> str:
    lines = [f"# {title}", "", f"Train volumes: {metrics['train_volumes']}, test volumes: "
             f"{metrics['test_volumes']}, pre-training volumes: {metrics['pretrain_volumes']}.", "",
             "| method | labeled volumes | runs | Dice (mean ± std) |", "| --- | --- | --- | --- |"]
    for r in _table(metrics):
        lines.append(f"| {r['method']} | {r['labeled volumes']} | {r['runs']} | {r['Dice (mean ± std)']} |")
    if metrics.get("classification"):
        lines += ["", "| method | task | runs | AUROC | accuracy |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r['method']} | {r['task']} | {r['runs']} | {r['AUROC']} | {r['accuracy']} |"
                  for r in _classification_table(metrics)]
    for fig in figures:
        lines += ["", f"![{fig['caption']}]({Path(fig['path']).name})"]
    return "\n".join(lines) + "\n"


def write_volume_report(cfg: Any, out: Path, metrics: dict[str, Any], test: list[Any]) -> None:
    """Label-efficiency plot, one segmentation overlay per method, and ``report.md``.

    Uses :mod:`polyclr.evaluation.plots` and :mod:`polyclr.report` when installed; falls back
    to a plain Markdown table otherwise.
    """
    from polyclr.rundir import atomic_write_text

    title = "polyclr volume run: Dice by pre-training strategy and labelled volumes"
    figures: list[dict[str, Any]] = []
    try:
        from polyclr.evaluation.plots import plot_label_efficiency, plot_segmentation_overlay
    except ImportError:
        plot_label_efficiency = plot_segmentation_overlay = None  # type: ignore[assignment]
    if plot_label_efficiency is not None:
        path = out / "label_efficiency.png"
        plot_label_efficiency(metrics["rows"], path, x_key="labeled_volumes", y_key="dice_mean",
                              method_key="method")
        figures.append({"path": path, "caption": "Test Dice vs labelled volumes (mean ± std over combinations x seeds)"})
        pred_root = out / "predictions"
        if test and pred_root.is_dir():
            case = test[0]
            from polyclr.modalities.volume.io import load_label, load_volume

            for method_dir in sorted(p for p in pred_root.iterdir() if p.is_dir()):
                f = method_dir / f"{case.item.case_id}.nii.gz"
                if not f.is_file():
                    continue
                pred = load_volume(f).array.astype(np.int64)
                img = case.volume.array

                lab = load_label(case.item.label, case.volume)
                z = int(np.argmax((lab > 0).sum(axis=(0, 1))))
                path = out / f"overlay_{method_dir.name}.png"
                plot_segmentation_overlay(img[:, :, z].T, lab[:, :, z].T, pred[:, :, z].T, path,
                                          title=f"{method_dir.name}: {case.item.case_id} z={z}")
                figures.append({"path": path, "caption": f"{method_dir.name}: prediction on test volume {case.item.case_id}"})
    try:
        from polyclr.report import write_report
    except ImportError:
        write_report = None  # type: ignore[assignment]
    if write_report is not None:
        tables = [("Segmentation Dice on held-out volumes", _table(metrics))]
        if metrics.get("classification"):
            tables.append(("Volume classification on held-out volumes (frozen-encoder probe; "
                           "encoder + head fine-tuned, mean ± std over seeds)", _classification_table(metrics)))
        write_report(out, title, metrics, figures=figures, tables=tables)
    else:
        atomic_write_text(out / "report.md", _markdown(metrics, figures, title))
