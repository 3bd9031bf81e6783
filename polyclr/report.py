"""Run reports: ``OUT/report.md`` (figures linked) and a self-contained ``OUT/report.html``.

A run directory can then be inspected without Jupyter: metrics, tables, figures (PNG, see
:mod:`polyclr.evaluation.plots`), notes and the run environment in one page. The HTML file
inlines its images (base64) so it can be mailed or archived on its own.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from polyclr.errors import DataError
from polyclr.rundir import atomic_write_text, is_rank_zero

_ENV_PACKAGES = ("polyclr", "torch", "lightning", "monai", "scikit-learn", "tsai", "aeon", "torchaudio")


def format_value(value: Any) -> str:
    """A number or value as a report cell: floats with 4 decimals (scientific when tiny),
    large floats with 1 decimal, NaN/None as ``n/a``."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.2e}"
        if abs(value) >= 1000:
            return f"{value:.1f}"
        return f"{value:.4f}"
    if isinstance(value, list | tuple):
        text = ", ".join(format_value(v) for v in value)
        return text if len(text) <= 120 else text[:117] + "..."
    return str(value)


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> tuple[dict[str, Any], dict[str, list]]:
    """Split nested metrics into dotted scalar entries and tables (lists of row dicts).

    Returns:
        ``(scalars, tables)``: ``{"probe.auroc": 0.91, ...}`` and ``{"label_efficiency": rows}``.
    """
    scalars: dict[str, Any] = {}
    tables: dict[str, list] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            s, t = flatten_metrics(value, f"{name}.")
            scalars.update(s)
            tables.update(t)
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            tables[name] = value
        else:
            scalars[name] = value
    return scalars, tables


def _cell(value: Any, short: bool = False) -> str:
    return _fmt(value, short).replace("|", "\\|").replace("\n", " ")


def _fmt(value: Any, short: bool) -> str:
    if short and isinstance(value, float) and math.isfinite(value):
        return f"{value:g}"
    return format_value(value)


def _short_columns(rows: Sequence[Mapping[str, Any]], cols: list[str]) -> set[str]:
    """Columns whose floats all have at most 3 decimals (label fractions, 0.5, 0.25): written
    as ``0.01`` rather than ``0.0100``. Columns with any longer float keep 4 decimals."""
    short = set()
    for c in cols:
        vals = [r.get(c) for r in rows]
        floats = [float(v) for v in vals if isinstance(v, float) and math.isfinite(v)]
        if floats and all(abs(v * 1000 - round(v * 1000)) < 1e-6 and abs(v) < 1e6 for v in floats):
            short.add(c)
    return short


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        cols.extend(str(k) for k in r if str(k) not in cols)
    return cols


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table from row dicts (columns in order of first appearance; numbers as in
    :func:`format_value`, except columns of short decimals such as label fractions)."""
    rows = list(rows)
    if not rows:
        return "_(no rows)_"
    cols = _columns(rows)
    short = _short_columns(rows, cols)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(" --- " for _ in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r.get(c), c in short) for c in cols) + " |")
    return "\n".join(lines)


def _html_table(rows: Sequence[Mapping[str, Any]]) -> str:
    rows = list(rows)
    if not rows:
        return "<p><em>(no rows)</em></p>"
    cols = _columns(rows)
    short = _short_columns(rows, cols)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c), c in short))}</td>" for c in cols) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _inline_markdown(text: str) -> str:
    """Escaped HTML with Markdown code spans and bold/italic (a few regexes: notes are short
    sentences, not documents, so no Markdown dependency is pulled in for them)."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"(?<![*\w])\*([^*\s][^*]*)\*(?![*\w])", r"<em>\1</em>", out)


def _normalize_tables(tables: Iterable[Any]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    out = []
    for i, t in enumerate(tables):
        if isinstance(t, Mapping):
            caption, rows = str(t.get("title") or t.get("caption") or ""), t.get("rows", [])
        elif isinstance(t, tuple) and len(t) == 2 and isinstance(t[0], str):
            caption, rows = t
        elif hasattr(t, "to_dict"):  # a pandas DataFrame
            caption, rows = "", t.to_dict("records")
        else:
            caption, rows = "", t
        rows = list(rows)
        if not all(isinstance(r, Mapping) for r in rows):
            raise ValueError(f"table {i}: rows must be dicts (column -> value)")
        out.append((caption, rows))
    return out


def _names_file(out_dir: Path, value: Any) -> bool:
    if not isinstance(value, str | Path) or not str(value) or "\n" in str(value):
        return False
    p = Path(value)
    return p.is_file() or (not p.is_absolute() and (out_dir / p).is_file())


def _normalize_figures(out_dir: Path, figures: Iterable[Any]) -> list[tuple[Path, str]]:
    items = []
    for f in figures:
        if isinstance(f, Mapping):
            path, caption = Path(f["path"]), str(f.get("caption", ""))
        elif isinstance(f, tuple):
            first, second = (f[0], f[1]) if len(f) > 1 else (f[0], "")
            # (path, caption) or (caption, path): the path is a Path, or the one naming a file.
            if isinstance(second, Path) or (not isinstance(first, Path) and _names_file(out_dir, second)
                                            and not _names_file(out_dir, first)):
                first, second = second, first
            path, caption = Path(first), str(second)
        else:
            path, caption = Path(f), ""
        if not path.is_absolute() and not path.exists():
            path = out_dir / path
        if not path.is_file():
            raise DataError(path, "figure not found")
        try:
            path.resolve().relative_to(out_dir.resolve())
        except ValueError:  # keep the report self-contained: copy outside figures into OUT/figures
            dest = out_dir / "figures" / path.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            path = dest
        items.append((path, caption or path.stem.replace("_", " ")))
    return items


def _environment(out_dir: Path, environment: Mapping[str, Any] | None) -> dict[str, Any]:
    if environment is not None:
        return dict(environment)
    env_file = out_dir / "environment.json"
    if env_file.is_file():
        try:
            data = json.loads(env_file.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                return data
        except (OSError, ValueError):
            pass
    from polyclr.rundir import environment_record

    return environment_record()


def _env_rows(env: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = [{"item": k, "value": env[k]} for k in ("commit", "date", "machine", "python",
                                                   "cuda_available", "seed") if k in env]
    packages = env.get("packages") or {}
    versions = ", ".join(f"{p} {packages[p]}" for p in _ENV_PACKAGES if packages.get(p))
    if versions:
        rows.append({"item": "packages", "value": versions})
    return rows


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;"
    "text-align:left;font-size:.92em}th{background:#f3f3f3}figure{margin:1em 0 2em}"
    "img{max-width:100%}figcaption{color:#555;font-style:italic}"
)


def write_report(
    out_dir: str | Path,
    title: str,
    metrics: Mapping[str, Any],
    figures: Iterable[Any] = (),
    tables: Iterable[Any] = (),
    notes: Iterable[str] = (),
    *,
    config: Any = None,
    environment: Mapping[str, Any] | None = None,
    training_curves: bool = True,
) -> Path:
    """Write ``OUT/report.md`` and a self-contained ``OUT/report.html``.

    Args:
        out_dir: the run directory (created if needed).
        title: report title.
        metrics: the run's metrics (nested dicts are flattened to dotted keys; lists of row
            dicts become their own tables).
        figures: PNG paths, ``(path, caption)`` (or ``(caption, path)``) tuples or
            ``{"path", "caption"}`` dicts;
            relative paths are taken relative to ``out_dir``; files outside it are copied to
            ``OUT/figures/`` so the report stays portable.
        tables: lists of row dicts, ``(caption, rows)`` tuples, ``{"title", "rows"}`` dicts or
            DataFrames.
        notes: Markdown paragraphs shown under "Notes".
        config: optional resolved config to append.
        environment: run environment; default ``OUT/environment.json`` if present, else the
            current process's :func:`polyclr.rundir.environment_record`.
        training_curves: add the loss curves of the CSV training logs under ``out_dir``.

    Returns:
        The path of ``report.md``.
    """
    out = Path(out_dir)
    if not is_rank_zero():  # one report per run: rank zero writes it (and its figures)
        return out / "report.md"
    out.mkdir(parents=True, exist_ok=True)
    if training_curves:
        from polyclr.evaluation.curves import training_curve_figures

        figures = [*figures, *training_curve_figures(out)]
    figs = _normalize_figures(out, figures)
    scalars, metric_tables = flatten_metrics(metrics)
    all_tables = [(name.replace("_", " "), rows) for name, rows in metric_tables.items()]
    all_tables += _normalize_tables(tables)
    env = _environment(out, environment)
    if config is not None and dataclasses.is_dataclass(config):
        from polyclr.config import to_dict

        config = to_dict(config)
    seed = (config or {}).get("engine", {}).get("seed") if isinstance(config, Mapping) else None
    if env.get("seed") is None and seed is not None:
        env["seed"] = seed
    env_rows = _env_rows(env)
    notes = [str(n) for n in notes]

    md = [f"# {title}", ""]
    h = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
         f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    if scalars:
        rows = [{"metric": k, "value": v} for k, v in scalars.items()]
        md += ["## Metrics", "", markdown_table(rows), ""]
        h.append("<h2>Metrics</h2>" + _html_table(rows))
    for caption, rows in all_tables:
        md += [f"## {caption}" if caption else "## Table", "", markdown_table(rows), ""]
        h.append(f"<h2>{html.escape(caption or 'Table')}</h2>" + _html_table(rows))
    if figs:
        md += ["## Figures", ""]
        h.append("<h2>Figures</h2>")
    for path, caption in figs:
        rel = Path(os.path.relpath(path, out)).as_posix()
        md += [f"![{caption}]({rel})", "", f"*{caption}*", ""]
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        h.append(f"<figure><img alt='{html.escape(caption, quote=True)}' src='data:image/png;base64,{data}'>"
                 f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    if notes:
        md += ["## Notes", ""] + [n + "\n" for n in notes]
        h.append("<h2>Notes</h2>" + "".join(f"<p>{_inline_markdown(n)}</p>" for n in notes))
    if env_rows:
        md += ["## Run environment", "", markdown_table(env_rows), ""]
        h.append("<h2>Run environment</h2>" + _html_table(env_rows))
    if config:
        import yaml

        from polyclr.rundir import _json_safe

        text = yaml.safe_dump(_json_safe(dict(config)), sort_keys=False).rstrip()
        md += ["## Configuration", "", "```yaml", text, "```", ""]
        h.append(f"<h2>Configuration</h2><pre>{html.escape(text)}</pre>")
    h.append("</body></html>")
    md_path = atomic_write_text(out / "report.md", "\n".join(md).rstrip() + "\n")
    atomic_write_text(out / "report.html", "\n".join(h) + "\n")
    return md_path


__all__ = ["flatten_metrics", "format_value", "markdown_table", "write_report"]
