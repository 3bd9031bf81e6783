"""The volume objective (G^D + L^D, joint) under a real 2-process DDP run on CPU (gloo), the global
batch split unevenly (2 + 1 volumes): each rank's loss equals the one-process loss on the whole
batch (views keyed by ``(seed, step, item)``, embeddings gathered across ranks) and the
DDP-averaged gradients equal the one-process gradients."""

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
SPLIT = (slice(0, 2), slice(2, 3))


def _batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"x": torch.rand((3, 2, 1, 32, 32), generator=g), "partition": torch.arange(2).repeat(3, 1),
            "index": torch.tensor([4, 9, 2])[:, None].expand(-1, 2)}


def _objective() -> torch.nn.Module:
    from polyclr.modalities.volume.networks import SegUNet
    from polyclr.modalities.volume.objectives import VolumeContrastive

    torch.manual_seed(3)
    return VolumeContrastive(SegUNet(2, 1, 3, (4, 4, 8, 8, 16, 4)), "GD", "LD", phase="joint", region_size=2,
                             num_regions=4, decoder_stage=4, region_sampling="random", seed=11)


def _worker(rank: int, tmp: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=rank, world_size=WORLD)
    try:
        obj = _objective()
        ddp = torch.nn.parallel.DistributedDataParallel(obj, find_unused_parameters=True)
        batch = {k: v[SPLIT[rank]] for k, v in _batch().items()}
        save_rank(tmp, rank, two_steps(ddp, batch), obj.encoder.encoder_parameters())
        dist.barrier()
    except BaseException:
        dist.destroy_process_group()
        raise
    os._exit(0)  # results are on disk; skip gloo's teardown (see tests/losses/test_distributed.py)


def test_two_uneven_ranks_give_the_one_process_loss_and_gradient(tmp_path: Path):
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    mp.spawn(_worker, args=(str(tmp_path),), nprocs=WORLD, join=True)
    obj = _objective()
    assert_ranks_match(tmp_path, WORLD, two_steps(obj, _batch()), lambda: obj.encoder.encoder_parameters())
