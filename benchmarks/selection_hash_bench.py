"""dHash/aHash/pHash throughput: polyclr's batched hashes vs the imagehash per-image loop.

Both run in the same process on the same 256x256 uint8 slices (axial slices of nilearn's MNI152
1 mm template, zero-padded to 256x256, with small integer shifts/flips to reach N slices) and the
hashes are compared bit for bit. Writes benchmarks/results/selection_hash.csv.

    .venv/bin/python benchmarks/selection_hash_bench.py [--n 4096] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import os
import time
from pathlib import Path

import numpy as np

from polyclr.rundir import git_commit, machine_description, write_csv
from polyclr.selection import hashing, u8_resize

OUT = Path(__file__).parent / "results" / "selection_hash.csv"


def mni_slices(n: int, size: int = 256) -> np.ndarray:
    """(n, size, size) uint8 axial slices of the MNI152 template (1 mm), padded and jittered."""
    from nilearn.datasets import load_mni152_template

    vol = np.asarray(load_mni152_template(resolution=1).get_fdata(), dtype=np.float32)
    vol = hashing.to_uint8(vol)  # one volume-wide min-max, as a PNG export
    x, y, z = vol.shape
    base = np.zeros((z, size, size), dtype=np.uint8)
    ox, oy = (size - x) // 2, (size - y) // 2
    base[:, ox : ox + x, oy : oy + y] = np.moveaxis(vol, 2, 0)
    rng = np.random.default_rng(0)
    out = [base]
    while sum(len(b) for b in out) < n:
        b = np.roll(base, shift=tuple(rng.integers(-8, 9, size=2)), axis=(1, 2))
        out.append(b[:, :, ::-1] if rng.random() < 0.5 else b)
    return np.ascontiguousarray(np.concatenate(out)[:n])


def best_of(fn, repeats: int) -> tuple[float, float]:
    """Best wall-clock and best process-CPU seconds over ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--n-loop", type=int, default=1024, help="slices for the imagehash loop")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import imagehash
    from PIL import Image

    default_batch = inspect.signature(hashing.hash_images).parameters["batch_size"].default

    slices = mni_slices(args.n)
    loop_slices = slices[: args.n_loop]
    rows = []
    common = {"machine": machine_description(), "commit": git_commit(),
              "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"), "size": "256x256"}
    for method, ref_fn in (("dhash", imagehash.dhash), ("ahash", imagehash.average_hash),
                           ("phash", imagehash.phash)):
        ref_hashes: list = []

        def loop(ref_fn=ref_fn, ref_hashes=ref_hashes):
            ref_hashes[:] = [ref_fn(Image.fromarray(s)) for s in loop_slices]

        loop()  # untimed warm-up pass (Pillow, imagehash and the CPU caches), as for polyclr
        t_loop, c_loop = best_of(loop, args.repeats)
        ref_hex = [str(h) for h in ref_hashes]  # hex strings for the comparison, not timed
        loop_rate = len(loop_slices) / t_loop
        rows.append({**common, "method": method, "implementation": "imagehash per-image loop",
                     "threads": 1, "n_slices": len(loop_slices), "seconds": round(t_loop, 4),
                     "cpu_seconds": round(c_loop, 4), "slices_per_s": round(loop_rate, 1),
                     "speedup": 1.0, "identical": True, "load_avg": os.getloadavg()[0]})
        side = {"dhash": (9, 8), "ahash": (8, 8), "phash": (32, 32)}[method]
        auto = "u8" if u8_resize.eligible(256, 256, side[1], side[0]) else "int8"
        # the default ("auto") and, where it differs, the other exact backend, side by side
        for backend, threads in [(b, t) for b in dict.fromkeys([auto, "int8"]) for t in (1, 2)]:
            hashing.hash_images(slices[:64], method, backend=backend)  # warm caches
            t, c = best_of(lambda m=method, th=threads, b=backend: hashing.hash_images(slices, m, threads=th, backend=b),
                           args.repeats)
            ours = hashing.to_hex(hashing.hash_images(loop_slices, method, backend=backend))
            identical = ours == ref_hex
            rate = len(slices) / t
            rows.append({**common, "method": method, "implementation": "polyclr batched",
                         "backend": backend + (" (default)" if backend == auto else ""),
                         "threads": threads, "batch_size": default_batch, "n_slices": len(slices), "seconds": round(t, 4),
                         "cpu_seconds": round(c, 4), "slices_per_s": round(rate, 1),
                         "speedup": round(rate / loop_rate, 1), "identical": identical,
                         "load_avg": os.getloadavg()[0]})
            print(f"{method} {backend} threads={threads}: {rate:,.0f} slices/s vs imagehash "
                  f"{loop_rate:,.0f}/s = {rate / loop_rate:.1f}x, identical={identical}")
    # rows of other machines stay: the table shows each machine's own side-by-side run
    if OUT.is_file():
        import csv

        with OUT.open(newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["machine"] != common["machine"]] + rows
    write_csv(OUT, rows)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
