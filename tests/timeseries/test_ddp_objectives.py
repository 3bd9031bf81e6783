"""TS2Vec and COMET objectives under a real 2-process DDP run on CPU (gloo), the global batch split
unevenly (5 + 3 samples): each rank's loss equals the one-process loss on the whole batch (views
keyed by ``(seed, step, index)``, encoded views gathered across ranks), and the DDP-averaged
parameter gradients equal the one-process gradients."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tests.ddp_steps import assert_ranks_match, save_rank, two_steps

pytestmark = pytest.mark.slow  # two spawned processes, each importing torch
WORLD = 2
SPLIT = (slice(0, 5), slice(5, 8))


def _batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 2, 48, generator=g)
    # trials / patients with members on both ranks
    return {"x": x, "index": torch.arange(8) + 100, "trial": torch.tensor([0, 1, 2, 3, 0, 1, 2, 3]),
            "patient": torch.tensor([0, 1, 0, 1, 0, 1, 0, 1])}


def _objective(kind: str) -> torch.nn.Module:
    from polyclr.modalities.timeseries.encoders import TS2VecEncoder
    from polyclr.modalities.timeseries.objectives import COMETObjective, TS2VecObjective

    torch.manual_seed(3)
    enc = TS2VecEncoder(2, output_dims=16, hidden_dims=8, depth=2)
    if kind == "ts2vec":
        return TS2VecObjective(enc, seed=7)
    return COMETObjective(enc, {"observation": 0.25, "sample": 0.25, "trial": 0.25, "patient": 0.25},
                          augmentations=("jitter", "scaling", "masking", "crop"), seed=7)


def _worker(rank: int, tmp: str, kind: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=rank, world_size=WORLD)
    try:
        obj = _objective(kind)
        ddp = torch.nn.parallel.DistributedDataParallel(obj)
        batch = {k: v[SPLIT[rank]] for k, v in _batch().items()}
        save_rank(tmp, rank, two_steps(ddp, batch), obj.encoder.parameters())
        dist.barrier()
    except BaseException:
        dist.destroy_process_group()
        raise
    os._exit(0)  # results are on disk; skip gloo's teardown (see tests/losses/test_distributed.py)


@pytest.mark.parametrize("kind", ["comet", "ts2vec"])
def test_two_uneven_ranks_give_the_one_process_loss_and_gradient(tmp_path: Path, kind: str):
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    mp.spawn(_worker, args=(str(tmp_path), kind), nprocs=WORLD, join=True)
    obj = _objective(kind)
    assert_ranks_match(tmp_path, WORLD, two_steps(obj, _batch()), lambda: obj.encoder.parameters())
