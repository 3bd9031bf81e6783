"""Figures and ``report.md`` of ``polyclr run timeseries`` (through the shared plot/report modules)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from polyclr.pipelines.timeseries.config import TimeSeriesConfig
from polyclr.pipelines.timeseries.data import Prepared


def write_timeseries_report(cfg: TimeSeriesConfig, prep: Prepared, emb: np.ndarray, metrics: dict[str, Any],
                            out: Path) -> list[str]:
    """Test-set embedding plot (``emb``: the pre-trained encoder's embeddings of the test
    split, ``(n_test, D)``), label-efficiency plot and ``report.md``; returns the figure names
    (none when the plotting extra is missing)."""
    try:
        from polyclr.evaluation import plots
        from polyclr.report import write_report
    except ImportError:
        return []
    d = prep.data
    figs = []
    plots.plot_embedding(emb, np.array(d.classes)[d.y[prep.test]], out / "embedding_test.png",
                         groups=d.patient_id[prep.test], title="test embeddings (pre-trained)")
    figs.append(("Test-set embeddings of the pre-trained encoder, coloured by class", out / "embedding_test.png"))
    plots.plot_label_efficiency(metrics["rows"], out / "label_efficiency.png")
    figs.append(("Macro-F1 vs label fraction (mean ± std over seeds)", out / "label_efficiency.png"))
    tables = [("Mean ± std over seeds", metrics["summary"])]
    write_report(out, f"polyclr timeseries: {cfg.objective.name} on {Path(metrics['dataset']).name}",
                 {k: v for k, v in metrics.items() if k not in ("rows", "summary")}, figures=figs, tables=tables)
    return [str(p.name) for _, p in figs]
