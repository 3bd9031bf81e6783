"""Shared steps of the 2-process DDP objective tests: the same two optimiser-free steps on every
rank and in one process, and the comparison of each rank's saved results with one process's."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
import torch


def two_steps(module: torch.nn.Module, batch: dict[str, torch.Tensor]) -> list[float]:
    """Losses of two forward/backward passes (the step counter keys the second step's views);
    the gradients of the last pass stay on the parameters."""
    losses = []
    for _ in range(2):
        module.zero_grad(set_to_none=True)
        loss = module(batch)["loss"]
        loss.backward()
        losses.append(float(loss.detach()))
    return losses


def save_rank(tmp: str, rank: int, losses: list[float], params: Iterable[torch.nn.Parameter]) -> None:
    torch.save({"losses": losses, "grads": [p.grad.detach().clone() for p in params]}, f"{tmp}/rank{rank}.pt")


def assert_ranks_match(tmp: Path, world: int, losses: list[float],
                       params: Callable[[], Iterable[torch.nn.Parameter]]) -> None:
    """Every rank's losses equal ``losses`` and its DDP-averaged gradients the one-process ones."""
    for r in range(world):
        res = torch.load(tmp / f"rank{r}.pt", weights_only=True)
        assert res["losses"] == pytest.approx(losses, rel=1e-5), (r, res["losses"], losses)
        for g, ref in zip(res["grads"], params(), strict=True):
            torch.testing.assert_close(g, ref.grad, rtol=1e-4, atol=1e-6)
