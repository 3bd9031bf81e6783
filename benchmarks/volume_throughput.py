"""Pre-training throughput of the volume pipeline: loader alone vs training steps, peak memory.

Measures, on the MNI152-derived reference subjects:
* loader: batches/s and slices/s of the partition-structured DataLoader alone;
* training step (global, local, joint phases): slices/s (anchor images, each in two views)
  including on-device augmentation, forward, backward and optimiser step;
* peak memory: process peak RSS on CPU, ``torch.cuda.max_memory_allocated`` on GPU;
* local-loss size: similarity-matrix elements with R sampled regions vs a dense per-pixel loss.

AMP: ``--precision auto`` (default) is ``16-mixed`` when a GPU is present, ``32-true`` on CPU.
Every row records ``os.getloadavg()[0]`` (timings on a shared machine are pessimistic).

Usage (one command, 2D slices and 3D patches, about 2-3 minutes on a quiet 2-core CPU):
    .venv/bin/python benchmarks/volume_throughput.py
    options: [--steps 10] [--steps-3d 4] [--dims 2 3] [--precision auto|32-true|16-mixed|bf16-mixed] [--workers 0]
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from polyclr.config import merge
from polyclr.engine import make_loader
from polyclr.modalities.volume.data import PartitionDataset
from polyclr.modalities.volume.networks import SegUNet
from polyclr.modalities.volume.objectives import VolumeContrastive
from polyclr.modalities.volume.reference import generate_reference
from polyclr.pipelines.volume.config import VolumeConfig
from polyclr.pipelines.volume.data import CaseField, prepare, resolve
from polyclr.rundir import git_commit, machine_description


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(args: argparse.Namespace, dims: int, device: torch.device, precision: str) -> list[dict]:
    """Loader-only and training-step rows for one spatial_dims."""
    settings = {"data": {"spacing": [4.0, 4.0, 4.0], "slice_size": [48, 48], "patch_size": [32, 32, 32],
                         "normalisation": "percentile"},
                "net": {"features": [8, 8, 16, 32, 64, 8], "spatial_dims": dims}}
    cfg = merge(VolumeConfig(), settings)
    data = generate_reference(n_subjects=8, seed=0)
    cfg, prep, _ = resolve(cfg, data)
    cases = prepare(cfg, prep)
    ds = PartitionDataset(dims, CaseField(cases, "image"), [c.affine for c in cases],
                          args.partitions, 2, cfg.data.patch_size, length=10_000)
    loader = make_loader(ds, args.volumes_per_batch, seed=0, num_workers=args.workers, drop_last=True)
    per_batch = args.volumes_per_batch * args.partitions
    unit = "slices" if dims == 2 else "patches"
    it = iter(loader)
    next(it)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        next(it)
    loader_s = (time.perf_counter() - t0) / args.steps
    rows = [{"what": "loader_only", "phase": "-", "seconds_per_batch": loader_s,
             "items_per_second": per_batch / loader_s, "unit": unit, "load_avg": os.getloadavg()[0]}]
    amp_dtype = {"16-mixed": torch.float16, "bf16-mixed": torch.bfloat16}.get(precision)
    scaler = torch.amp.GradScaler(enabled=amp_dtype == torch.float16 and device.type == "cuda")
    for phase, glob, loc in (("global", "GD", None), ("local", "GD", "LD"), ("joint", "GD", "LD")):
        torch.manual_seed(0)
        obj = VolumeContrastive(SegUNet(dims, 1, 3, tuple(cfg.net.features)), glob, loc, phase=phase,
                                decoder_stage=3, region_size=3, num_regions=13).to(device)
        opt = torch.optim.AdamW([p for p in obj.parameters() if p.requires_grad], lr=1e-3)
        steps = args.steps if dims == 2 else args.steps_3d
        batches = [next(it) for _ in range(steps + 1)]
        times = []
        for i, b in enumerate(batches):
            b = {k: v.to(device) for k, v in b.items()}
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                loss = obj(b)["loss"]
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i > 0:  # first step warms up
                times.append(time.perf_counter() - t)
        sec = sum(times) / len(times)
        rows.append({"what": "train_step", "phase": phase, "seconds_per_batch": sec,
                     "items_per_second": per_batch / sec, "unit": unit, "load_avg": os.getloadavg()[0]})
    # local loss matrix size: R sampled regions vs every pixel of the decoder map
    n_img = 2 * per_batch
    stage = 3  # decoder stage used above: u2, at 1/2 of the input resolution
    side = cfg.data.slice_size[0] if dims == 2 else cfg.data.patch_size[0]
    fmap = (side // 2 ** (4 - stage)) ** dims
    for phase, elements in (("regions=13", (n_img * 13) ** 2), (f"dense_{fmap}_pixels", (n_img * fmap) ** 2)):
        rows.append({"what": "local_loss_matrix_elements", "phase": phase, "seconds_per_batch": float("nan"),
                     "items_per_second": float("nan"), "unit": "-", "elements": elements,
                     "load_avg": os.getloadavg()[0]})
    for r in rows:
        r.update({"spatial_dims": dims, "images_per_batch": per_batch, "peak_memory_mb": round(_peak_mb(device), 1)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per phase (2D)")
    ap.add_argument("--steps-3d", type=int, default=4, help="timed steps per phase (3D)")
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 3], choices=[2, 3])
    ap.add_argument("--precision", default="auto", choices=["auto", "32-true", "16-mixed", "bf16-mixed"])
    ap.add_argument("--volumes-per-batch", type=int, default=4)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    precision = args.precision if args.precision != "auto" else ("16-mixed" if device.type == "cuda" else "32-true")
    t0 = time.perf_counter()
    rows = []
    for dims in args.dims:
        rows += measure(args, dims, device, precision)
    stamp = {"machine": machine_description(), "commit": git_commit(),
             "date": datetime.now(UTC).strftime("%Y-%m-%d"), "device": device.type,
             "precision": precision, "torch_threads": torch.get_num_threads(), "workers": args.workers}
    out = Path(__file__).parent / "results" / f"volume_throughput_{device.type}.csv"
    out.parent.mkdir(exist_ok=True)
    fields = ["what", "phase", "spatial_dims", "seconds_per_batch", "items_per_second", "unit", "elements",
              "images_per_batch", "peak_memory_mb", "load_avg", *stamp]
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({**{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}, **stamp})
    for r in rows:
        print(r)
    print(f"{time.perf_counter() - t0:.0f} s -> {out}")


if __name__ == "__main__":
    main()
