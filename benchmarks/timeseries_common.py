"""Shared helpers of the time-series benchmarks (CSV writing with machine / commit / date)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from polyclr.rundir import git_commit, machine_description, thread_count
from polyclr.rundir import write_csv as rundir_write_csv

RESULTS = Path(__file__).resolve().parent / "results"


def stamp() -> dict[str, Any]:
    return {"machine": machine_description(), "threads": thread_count(), "commit": git_commit() or "unknown",
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")}


def write_csv(name: str, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` to ``benchmarks/results/<name>`` (atomic; columns: union of keys)."""
    return rundir_write_csv(RESULTS / name, rows)


def pretrain_and_embed(path: Path, seed: int, steps: int | None = None, lr: float | None = None,
                       prefix: str = "polyclr_ts_", normalize: bool = True) -> tuple[Any, dict[str, Any], Any, Any]:
    """Pre-train polyclr's default time-series objective on ``path`` and embed its train and
    test series with the exported encoder file (what a user gets).

    Returns:
        ``(prep, pretrain_info, train_embeddings, test_embeddings)``.
    """
    import tempfile
    import time

    from polyclr.engine import load_encoder, seed_everything
    from polyclr.pipelines.timeseries import data as D
    from polyclr.pipelines.timeseries import train as T
    from polyclr.pipelines.timeseries.config import TimeSeriesConfig

    cfg = TimeSeriesConfig()
    cfg.engine.seed, cfg.engine.logger = seed, "none"
    cfg.data.normalize = normalize
    if steps is not None:
        cfg.engine.max_steps = steps
    if lr is not None:
        cfg.engine.lr = lr
    seed_everything(seed)
    out = Path(tempfile.mkdtemp(prefix=prefix))
    prep = D.prepare(cfg, path, out)
    cpu = time.process_time()
    pre = T.pretrain_encoder(cfg, prep, out)
    pre["pretrain_cpu_seconds"] = round(time.process_time() - cpu, 3)  # user + sys, every thread
    pre.pop("objective_object", None)
    enc = T.make_encoder(T.encoder_spec(cfg, prep.data))
    enc.load_state_dict(load_encoder(out / "encoder.safetensors")[0])
    d = prep.data
    pre["lr"] = cfg.engine.lr
    return prep, pre, T.embed(enc, d.X[prep.train]), T.embed(enc, d.X[prep.test])
