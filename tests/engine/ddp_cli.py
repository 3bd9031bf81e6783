"""Run the ``polyclr`` CLI with the batch samplers traced: every batch a rank draws is appended to
``$POLYCLR_TRACE/rank<R>.jsonl`` as ``{"epoch": e, "batch": [...]}``, and the first training loss
of each rank to ``$POLYCLR_TRACE/loss<R>.json``. Lightning's DDP launcher re-runs this script for
every rank, so each process is traced.

Usage: python ddp_cli.py <polyclr CLI arguments>
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from polyclr.engine import data as engine_data
from polyclr.engine import modules
from polyclr.engine.dist import rank_world
from polyclr.modalities.timeseries import sampler as ts_sampler

TRACE = Path(os.environ["POLYCLR_TRACE"])


def _traced(cls):
    plain = cls.__iter__

    def __iter__(self):
        rank, _ = rank_world()
        with open(TRACE / f"rank{rank}.jsonl", "a") as fh:
            for batch in plain(self):
                fh.write(json.dumps({"epoch": self.epoch, "batch": [int(i) for i in batch]}) + "\n")
                fh.flush()
                yield batch

    cls.__iter__ = __iter__


def _first_loss(cls):
    plain = cls.training_step

    def training_step(self, batch, batch_idx):
        loss = plain(self, batch, batch_idx)
        rank, _ = rank_world()
        path = TRACE / f"loss{rank}.json"
        if not path.exists():
            value = loss["loss"] if isinstance(loss, dict) else loss
            path.write_text(json.dumps({"loss": float(value), "rows": int(_rows(batch))}))
        return loss

    cls.training_step = training_step


def _rows(batch) -> int:
    import torch

    if isinstance(batch, dict):
        return next(int(v.shape[0]) for v in batch.values() if torch.is_tensor(v))
    return int(batch[0].shape[0])


if __name__ == "__main__":
    _traced(engine_data.EpochSeededBatchSampler)
    _traced(ts_sampler.HierarchicalBatchSampler)
    _first_loss(modules.PretrainModule)
    try:
        from polyclr.pipelines.timeseries.train import LeanPretrainModule

        _first_loss(LeanPretrainModule)
    except ImportError:
        pass
    from polyclr.cli import main

    sys.exit(main(sys.argv[1:]))
