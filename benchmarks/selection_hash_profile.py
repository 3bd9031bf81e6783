"""Where a batched dHash spends its time: each stage of the bit-exact Pillow resize timed alone.

One thread, the benchmark's 4,096 distinct 256x256 MNI152 slices streamed in batches of
``hash_images``' default size, for both routes of ``pillow_resize``: the fused VNNI pass (where
the CPU has AVX-512 VNNI) and the portable int8 route (``torch._int_mm``). The stages are
called in the order ``_resample_hv`` calls them; this staged copy is checked against
``_resample_hv`` on the first batch of every round (not timed), so it cannot drift from the
library. The whole ``hash_images`` call is timed in the same rounds, so the sum of the stages and
the real call can be compared (the gap is Python between the stages). A last row, not part of
the call, times one pass that only reads every byte of the slices (the memory floor). Median
of ``--rounds`` rounds after one warm-up round. Writes
``benchmarks/results/selection_hash_profile.csv``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/selection_hash_profile.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import os
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from selection_hash_bench import mni_slices

from polyclr.rundir import git_commit, machine_description, write_csv
from polyclr.selection import hashing
from polyclr.selection import pillow_resize as pr
from polyclr.selection._pillow_kernels import digit_kernels, gather_kernel
from polyclr.selection._vnni_kernel import horizontal_pass, vnni_available

OUT = Path(__file__).parent / "results" / "selection_hash_profile.csv"
FLOOR = "read every byte once (floor; not part of the call)"
VERTICAL = ("vertical product", "vertical rounding", "compare + pack bits")
STAGES = {"vnni": ("horizontal pass (fused VNNI kernel)", *VERTICAL),
          "int8": ("gather live rows", "horizontal product", "round + scatter", *VERTICAL)}


@lru_cache(maxsize=1)
def _read_floor():
    """A compiled pass that ORs every 8-byte word (built once, outside the timed region)."""
    import numba

    @numba.njit(nogil=True, cache=True)
    def or_all(words):  # pragma: no cover - compiled
        acc = np.uint64(0)
        for i in range(words.shape[0]):
            acc |= words[i]
        return acc

    return or_all


def one_round(x: np.ndarray, batch: int, route: str) -> dict[str, float]:
    """Seconds per stage of ``route`` over all of ``x``, plus the real ``hash_images`` call."""
    n_out, height, digit_bits = 9, 8, 7
    w = x.shape[2]
    impl = "vnni" if route == "vnni" else "portable"
    times = dict.fromkeys(STAGES[route], 0.0)

    def lap(stage: str, t0: float) -> float:
        now = time.perf_counter()
        times[stage] += now - t0
        return now

    for i in range(0, len(x), batch):
        b = x[i : i + batch]
        t = time.perf_counter()
        flat = b.reshape(-1, w)
        stacked = pr._scratch("stacked", (len(b) * n_out, b.shape[1]), np.int8)
        if route == "vnni":
            kernel, rows, packed = pr._vnni_plan(w, n_out)
            horizontal_pass(flat, b.shape[1], n_out, kernel, rows, packed, out=stacked)
            t = lap(STAGES[route][0], t)
        else:
            nd = pr._int8_plan(w, n_out)[2]
            signed = pr._scratch("signed", flat.shape, np.int8)
            live_rows = pr._scratch("rows", (len(flat),), np.int64)
            n_live, c0, c1 = gather_kernel()(flat, flat.view(np.uint64), signed, live_rows)
            t = lap("gather live rows", t)
            sub, offset = pr._column_range_plan(w, n_out, c0, c1)
            prod = pr._int8_product(torch.from_numpy(signed[:n_live, c0:c1]), sub, "prod")
            t = lap("horizontal product", t)
            digit_kernels(n_out, nd, digit_bits)[1](prod, offset, live_rows[:n_live], b.shape[1],
                                                    stacked)
            t = lap("round + scatter", t)
        vmat, voffset, vnd = pr._vertical_plan(b.shape[1], height)
        vprod = pr._int8_product(torch.from_numpy(stacked), vmat, "vprod")
        t = lap("vertical product", t)
        columns = pr._scratch("columns", (len(b) * n_out, height), np.int32)
        digit_kernels(height, vnd, digit_bits)[0](vprod, voffset, columns)
        t = lap("vertical rounding", t)
        small = columns.reshape(len(b), n_out, height).transpose(0, 2, 1).astype(np.uint8)
        hashing.pack_bits((small[:, :, 1:] > small[:, :, :-1]).reshape(len(b), -1))
        lap("compare + pack bits", t)
        if i == 0 and not np.array_equal(small, pr._resample_hv(b, n_out, height, impl)):  # not timed
            raise SystemExit("the staged copy no longer matches pillow_resize._resample_hv: update it")
    t = time.perf_counter()
    hashing.hash_images(x, "dhash", batch_size=batch, threads=1, route=impl)
    times["hash_images (whole call)"] = time.perf_counter() - t
    floor = _read_floor()
    t = time.perf_counter()
    floor(x.reshape(-1).view(np.uint64))
    times[FLOOR] = time.perf_counter() - t
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--batch", type=int,
                    default=inspect.signature(hashing.hash_images).parameters["batch_size"].default)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)
    x = mni_slices(args.n)
    routes = ["vnni", "int8"] if vnni_available() else ["int8"]
    for route in routes:  # warm-up: compiled kernels, plans, scratch buffers, thread pool
        one_round(x, args.batch, route)
    rounds: dict[str, list[dict[str, float]]] = {r: [] for r in routes}
    for _ in range(args.rounds):  # the routes alternate, so the VM's drift hits both alike
        for route in routes:
            rounds[route].append(one_round(x, args.batch, route))
    common = {"machine": machine_description(), "commit": git_commit(),
              "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"), "threads": 1,
              "n_slices": args.n, "batch_size": args.batch, "rounds": args.rounds,
              "load_avg": round(os.getloadavg()[0], 2)}
    rows = []
    for route in routes:
        for stage in rounds[route][0]:
            us = [r[stage] / args.n * 1e6 for r in rounds[route]]
            rows.append({**common, "route": route, "stage": stage,
                         "us_per_slice_median": round(float(np.median(us)), 3),
                         "us_per_slice_min": round(min(us), 3)})
            print(f"{route:5s} {stage:52s} median {np.median(us):6.2f}  min {min(us):6.2f} us/slice")
    write_csv(OUT, rows)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
