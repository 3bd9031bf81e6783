"""Time and peak memory of polyclr's masked InfoNCE core vs a plain lower bound and MONAI.

For N in {512, 2048, 8192}, D=128, forward + backward of:
  * ``lower_bound``: ``logsumexp(z @ z.T / t)`` mean (no masks at all),
  * ``polyclr_core``: ``MultiPositiveInfoNCE`` with a SimCLR two-view positive mask,
  * ``monai``: MONAI ``ContrastiveLoss`` on the same two views (same NT-Xent value).
Each (implementation, N) runs in a fresh subprocess; memory is its peak RSS above the RSS right
after importing torch (CPU has no allocator counter like CUDA's max_memory_allocated). Writes ``benchmarks/results/loss_core.csv`` with machine, commit and date.

Usage: python benchmarks/loss_core.py [--sizes 512 2048 8192] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

D = 128
T = 0.1


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(impl: str, n: int, repeats: int) -> dict:
    import torch

    from polyclr.losses import MultiPositiveInfoNCE, same_sample_mask, two_view_ids

    import_rss = _peak_rss_mb()

    torch.manual_seed(0)
    z = torch.randn(n, D)
    half = n // 2
    if impl == "polyclr_core":
        loss_fn = MultiPositiveInfoNCE(temperature=T)
        mask = same_sample_mask(two_view_ids(half))

        def step(x):
            return loss_fn(x, mask)
    elif impl == "monai":
        from monai.losses import ContrastiveLoss

        loss_fn = ContrastiveLoss(temperature=T, batch_size=half)

        def step(x):
            return loss_fn(x[:half], x[half:])
    else:

        def step(x):
            return torch.logsumexp(x @ x.T / T, dim=1).mean()

    x = z.clone().requires_grad_(True)  # warm-up
    step(x).backward()
    times = []
    for _ in range(repeats):
        x = z.clone().requires_grad_(True)
        t0 = time.perf_counter()
        step(x).backward()
        times.append(time.perf_counter() - t0)
    return {"seconds_median": statistics.median(times), "seconds_min": min(times),
            "peak_mb": _peak_rss_mb() - import_rss}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 8192])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--monai-max-n", type=int, default=1024)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "loss_core.csv")
    args = ap.parse_args()
    from polyclr.rundir import git_commit, machine_description, thread_count, write_csv

    rows = []
    for n in args.sizes:
        res = {}
        for impl in ("lower_bound", "polyclr_core", "monai"):
            if impl == "monai" and n > args.monai_max_n:
                # MONAI materialises an (N, N, D) tensor for cosine similarity: O(N^2 D) memory
                # (13 GB at N=2048 measured here), so it is run only up to --monai-max-n.
                continue
            proc = subprocess.run([sys.executable, __file__, "--child", impl, str(n), str(args.repeats)],
                                  capture_output=True, text=True, check=True)
            res[impl] = json.loads(proc.stdout.strip().splitlines()[-1])
        lb = res["lower_bound"]
        for impl, r in res.items():
            rows.append({
                "n": n, "d": D, "implementation": impl,
                "seconds_median": round(r["seconds_median"], 5),
                "ratio_to_lower_bound": round(r["seconds_median"] / lb["seconds_median"], 3),
                "seconds_min": round(r["seconds_min"], 5),
                "peak_mb_above_import": round(r["peak_mb"], 1),
                "peak_ratio_to_lower_bound": round(r["peak_mb"] / max(lb["peak_mb"], 1e-9), 3),
                "machine": machine_description(), "threads": thread_count(), "commit": git_commit(),
                "date": datetime.now(UTC).date().isoformat(),
            })
            print(rows[-1])
    write_csv(args.out, rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
