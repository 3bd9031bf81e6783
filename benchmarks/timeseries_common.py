"""Shared helpers of the time-series benchmarks (CSV writing with machine / commit / date)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from polyclr.rundir import git_commit, machine_description

RESULTS = Path(__file__).resolve().parent / "results"


def stamp() -> dict[str, Any]:
    return {"machine": machine_description(), "commit": git_commit() or "unknown",
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")}


def write_csv(name: str, rows: list[dict[str, Any]]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    return path
