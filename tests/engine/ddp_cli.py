"""Run the ``polyclr`` CLI with the batch samplers traced: every batch a rank draws is appended to
``$POLYCLR_TRACE/rank<R>.jsonl`` as ``{"epoch": e, "batch": [...]}``, and every training loss
of each rank (with the rows of its batch) to ``$POLYCLR_TRACE/loss<R>.jsonl``. Lightning's DDP launcher re-runs this script for
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
                keys = [int(i[0]) if isinstance(i, tuple) else int(i) for i in batch]
                fh.write(json.dumps({"epoch": self.epoch, "batch": keys}) + "\n")
                fh.flush()
                yield batch

    cls.__iter__ = __iter__


def _losses(cls):
    plain = cls.training_step

    def training_step(self, batch, batch_idx):
        loss = plain(self, batch, batch_idx)
        rank, _ = rank_world()
        value = loss["loss"] if isinstance(loss, dict) else loss
        with open(TRACE / f"loss{rank}.jsonl", "a") as fh:
            fh.write(json.dumps({"loss": float(value), "rows": int(_rows(batch))}) + "\n")
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
    _losses(modules.PretrainModule)
    try:
        from polyclr.pipelines.timeseries.train import LeanPretrainModule

        _losses(LeanPretrainModule)
    except ImportError:
        pass
    from polyclr.cli import main

    sys.exit(main(sys.argv[1:]))
