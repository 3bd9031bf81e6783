"""Random numbers keyed by ``(seed, step, sample)`` instead of the process's RNG stream.

Under DDP each process draws augmentations for its own share of the global batch; with the
process RNG the same global batch would be augmented differently depending on how it is split
(and a sample's views would depend on its neighbours). Here every sample owns a generator seeded
from ``(seed, step, sample key)``, so a sample's random draws depend only on itself, the step
and the run's seed: a 1-process and a W-process run see identical views of the same global batch.
Batch-wide draws (one crop length for the whole batch, region boxes) use a generator seeded from
``(seed, step)``, identical on every rank.

torch has no counter-based per-element RNG API, so the per-sample streams are ordinary
``torch.Generator`` objects (one per sample) seeded by a SplitMix64 mix of the key (imports only
torch).
"""

from __future__ import annotations

import torch

_MASK = (1 << 64) - 1


def mix_seed(*keys: int) -> int:
    """A 63-bit seed from integer keys (SplitMix64 finaliser applied per key; order matters)."""
    h = 0x9E3779B97F4A7C15
    for k in keys:
        h = (h ^ (int(k) & _MASK)) & _MASK
        h = (h + 0x9E3779B97F4A7C15) & _MASK
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK
        h ^= h >> 31
    return h >> 1


class SampleRandom:
    """Per-sample random draws for a batch (see the module docstring).

    Args:
        keys: one integer key per sample (a dataset index, unique within the global batch).
        seed: the run's seed.
        step: the optimiser step (or any counter that every process advances in lock step).
        device: where the draws are made.

    Shape:
        keys: ``(B,)``; every ``rand`` / ``randn`` / ``randint`` returns ``(B, *shape)``.
    """

    def __init__(self, keys: torch.Tensor | list[int], seed: int, step: int,
                 device: torch.device | str | None = None) -> None:
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.keys = [int(k) for k in (keys.tolist() if torch.is_tensor(keys) else keys)]
        self.seed, self.step = int(seed), int(step)
        self.gens = [self._gen(mix_seed(self.seed, self.step, 1, k)) for k in self.keys]
        self.batch = self._gen(mix_seed(self.seed, self.step, 0))

    def _gen(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(seed)

    def __len__(self) -> int:
        return len(self.keys)

    def rand(self, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Uniform [0, 1). Shape: returns ``(B, *shape)``."""
        return self._stack([torch.rand(shape, generator=g, device=self.device, dtype=dtype) for g in self.gens],
                           shape, dtype)

    def randn(self, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Standard normal. Shape: returns ``(B, *shape)``."""
        return self._stack([torch.randn(shape, generator=g, device=self.device, dtype=dtype) for g in self.gens],
                           shape, dtype)

    def randint(self, low: torch.Tensor | int, high: torch.Tensor | int) -> torch.Tensor:
        """One integer per sample in ``[low_i, high_i)`` (per-sample or shared bounds).

        Shape: low, high: ``(B,)`` or ints; returns ``(B,)`` long.
        """
        u = self.rand(dtype=torch.float64)
        lo = torch.as_tensor(low, device=self.device, dtype=torch.float64)
        hi = torch.as_tensor(high, device=self.device, dtype=torch.float64)
        return (lo + (u * (hi - lo)).floor()).clamp(max=hi - 1).long()

    def batch_randint(self, low: int, high: int) -> int:
        """One integer in ``[low, high)`` for the whole batch (the same on every process)."""
        return int(torch.randint(low, high, (1,), generator=self.batch, device=self.device).item())

    def _stack(self, parts: list[torch.Tensor], shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        if not parts:
            return torch.empty((0, *shape), device=self.device, dtype=dtype)
        return torch.stack(parts)
