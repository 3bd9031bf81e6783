"""Run reports: formatting, Markdown tables, figure links, inlined HTML images, environment."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from polyclr.errors import DataError
from polyclr.evaluation.plots import plot_selection_strip
from polyclr.report import flatten_metrics, format_value, markdown_table, write_report


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.91234, "0.9123"), (3, "3"), (1234.56, "1234.6"), (0.00012, "1.20e-04"), (0.0, "0.0000"),
        (float("nan"), "n/a"), (None, "n/a"), (True, "yes"), (np.float32(0.5), "0.5000"),
        ("pretrained", "pretrained"), ([0.5, 2], "0.5000, 2"),
    ],
)
def test_format_value(value, text):
    assert format_value(value) == text


def test_markdown_table_long_decimals_keep_four_places():
    rows = [{"fraction": 0.01, "f1": 0.5}, {"fraction": 1.0, "f1": 0.71234}]
    assert markdown_table(rows).splitlines()[2:] == ["| 0.01 | 0.5000 |", "| 1 | 0.7123 |"]


def test_inline_markdown_in_html_notes_is_escaped_first():
    from polyclr.report import _inline_markdown

    assert _inline_markdown("a `x<y` **b** *c* 2*3*4 <script>") == (
        "a <code>x&lt;y</code> <strong>b</strong> <em>c</em> 2*3*4 &lt;script&gt;"
    )


def test_markdown_table_exact():
    rows = [{"method": "pre", "f1": 0.5}, {"method": "a|b", "auroc": 0.75}]
    assert markdown_table(rows) == (
        "| method | f1 | auroc |\n"
        "| --- | --- | --- |\n"
        "| pre | 0.5 | n/a |\n"
        "| a\\|b | n/a | 0.75 |"
    )


def test_flatten_metrics_splits_scalars_and_tables():
    scalars, tables = flatten_metrics(
        {"probe": {"auroc": 0.9, "f1": 0.8}, "curve": [{"x": 1, "y": 2}], "n": 3, "tags": ["a"]}
    )
    assert scalars == {"probe.auroc": 0.9, "probe.f1": 0.8, "n": 3, "tags": ["a"]}
    assert tables == {"curve": [{"x": 1, "y": 2}]}


def _png(path: Path) -> Path:
    return plot_selection_strip(np.arange(6), [True, False] * 3, path)


def test_write_report_markdown_and_self_contained_html(tmp_path):
    out = tmp_path / "run"
    inside = _png(out / "plots" / "strip.png")
    outside = _png(tmp_path / "elsewhere" / "other.png")
    (out / "environment.json").write_text(json.dumps(
        {"commit": "abc123", "machine": "test box", "seed": 7, "packages": {"torch": "9.9"}}))
    md_path = write_report(
        out, "Time series run",
        {"probe": {"auroc": 0.91234}, "label_efficiency": [{"fraction": 0.1, "macro_f1": 0.5}]},
        figures=[("kept vs dropped", inside), {"path": outside, "caption": "copied"},
                 (str(inside), "again, path first")],
        tables=[("Dice by budget", [{"volumes": 1, "dice": 0.71}])],
        notes=["Pre-training took **2 min**."],
        config={"engine": {"seed": 7}},
    )
    md = md_path.read_text()
    assert md_path == out / "report.md"
    assert md.startswith("# Time series run\n")
    assert "| probe.auroc | 0.9123 |" in md
    assert "| 0.1 | 0.5 |" in md  # metrics list -> its own table
    assert "## Dice by budget" in md and "| 1 | 0.71 |" in md
    assert "![kept vs dropped](plots/strip.png)" in md
    assert "![copied](figures/other.png)" in md
    assert "![again, path first](plots/strip.png)" in md
    assert (out / "figures" / "other.png").read_bytes() == outside.read_bytes()
    assert "| commit | abc123 |" in md and "torch 9.9" in md and "| seed | 7 |" in md
    assert "Pre-training took **2 min**." in md and "seed: 7" in md
    html = (out / "report.html").read_text()
    assert base64.b64encode(inside.read_bytes()).decode() in html  # inlined, not linked
    assert "src='plots/" not in html
    assert "Pre-training took <strong>2 min</strong>." in html
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_report_without_environment_file_records_this_process(tmp_path):
    from polyclr.engine import EngineConfig

    @dataclasses.dataclass
    class Cfg:
        engine: EngineConfig = dataclasses.field(default_factory=lambda: EngineConfig(seed=5))

    md = write_report(tmp_path, "t", {"x": 1.0}, config=Cfg()).read_text()
    assert "| python |" in md and "| machine |" in md
    assert "| seed | 5 |" in md  # taken from the config until environment.json exists
    assert "## Configuration" in md and "seed: 5" in md


def test_missing_figure_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="figure not found"):
        write_report(tmp_path, "t", {}, figures=["nope.png"])
    assert not (tmp_path / "report.md").exists()


def test_bad_table_rows(tmp_path):
    with pytest.raises(ValueError, match="rows must be dicts"):
        write_report(tmp_path, "t", {}, tables=[[1, 2]])
