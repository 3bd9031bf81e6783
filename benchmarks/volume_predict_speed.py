"""``polyclr predict volume`` speed and peak memory on CPU: hippocampus-size MRI and a generated
512x512x200 CT-size volume.

Each case builds a segmentation checkpoint the way ``run`` does (the config resolved by the plan
of its own data; weights at random init, which costs the same to run) and times the whole CLI
command (validation, preprocessing, inference, inverse resampling, NIfTI / CSV writing) in a
fresh process that reports its own peak RSS and CPU seconds (user + sys; the load average
beside them says how busy the shared CPU was). The hippocampus case also runs its first scan
alone: the difference is the marginal rate once the command has started (imports, model load).
Writes ``results/volume_predict_speed.csv``.

Usage: python benchmarks/volume_predict_speed.py [--hippocampus-scans 100]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "benchmarks" / "results"
HIPPO = ROOT / ".." / "shared" / "data" / "msd_hippocampus"
THREADS = 2  # OMP_NUM_THREADS of the predict process

CHILD = """
import resource, sys, time
from polyclr.cli import main
t0 = time.perf_counter()
code = main(sys.argv[1:])
u = resource.getrusage(resource.RUSAGE_SELF)
print("RESULT", code, time.perf_counter() - t0, u.ru_maxrss / 1024, u.ru_utime + u.ru_stime)
"""


def make_checkpoint(data: Path, out: Path, n_classes: int) -> Path:
    """A segmentation checkpoint whose config is ``data``'s resolved plan (random weights)."""
    import torch

    from polyclr.engine import save_encoder
    from polyclr.pipelines.volume.config import VolumeConfig, build_net
    from polyclr.pipelines.volume.data import resolve
    from polyclr.pipelines.volume.train import encoder_meta

    cfg, _, record = resolve(VolumeConfig(), data)
    torch.manual_seed(0)
    net = build_net(cfg, n_classes)
    meta = encoder_meta(cfg, net, "random_init", ["finetuned"])
    meta.update(task="segmentation", classes=[f"class_{i}" for i in range(1, n_classes)])
    save_encoder(out, net.state_dict(), meta)
    print(f"plan for {data.name}: {json.dumps(record['applied'])}", flush=True)
    return out


def ct_volume(path: Path) -> Path:
    """A 512x512x200 int16 CT-like volume (0.8 x 0.8 x 1.5 mm): air, a body ellipse, bone ring."""
    import nibabel as nib

    rng = np.random.default_rng(0)
    x, y = np.meshgrid(np.arange(512), np.arange(512), indexing="ij")
    r = ((x - 256) / 200.0) ** 2 + ((y - 256) / 150.0) ** 2
    plane = np.where(r < 1, 40, -1000).astype(np.int16)
    plane[(r > 0.85) & (r < 1)] = 700
    vol = np.repeat(plane[:, :, None], 200, axis=2)
    vol = (vol + rng.integers(-20, 20, vol.shape, dtype=np.int16)).astype(np.int16)
    img = nib.Nifti1Image(vol, np.diag([0.8, 0.8, 1.5, 1.0]))
    nib.save(img, str(path))
    return path


def run_predict(ckpt: Path, data: Path, out: Path, threads: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-c", CHILD, "predict", "volume", "--checkpoint", str(ckpt), "--data", str(data),
           "--out", str(out), "--set", "engine.accelerator=cpu"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT")]
    if res.returncode != 0 or not line or line[-1].split()[1] != "0":
        raise SystemExit(f"predict failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    _, _, seconds, rss_mb, cpu = line[-1].split()
    return {"seconds": float(seconds), "process_seconds": wall, "peak_rss_mb": float(rss_mb),
            "cpu_seconds": float(cpu), "load_avg": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hippocampus-scans", type=int, default=100)
    ap.add_argument("--ct-scans", type=int, default=1)
    ap.add_argument("--hippocampus", type=Path, default=HIPPO, help="the MSD Hippocampus folder")
    args = ap.parse_args()
    hippo = args.hippocampus
    from polyclr.rundir import git_commit, machine_description

    stamp = {"machine": machine_description(), "commit": git_commit(),
             "date": datetime.now(UTC).strftime("%Y-%m-%d"), "threads": THREADS}
    rows = []
    with tempfile.TemporaryDirectory(prefix="polyclr_predict_") as tmp:
        t = Path(tmp)
        if hippo.is_dir():
            ckpt = make_checkpoint(hippo, t / "hippo.ckpt", 3)
            sub = t / "hippo" / "imagesTr"
            sub.mkdir(parents=True)
            for f in sorted((hippo / "imagesTr").glob("*.nii.gz"))[: args.hippocampus_scans]:
                (sub / f.name).symlink_to(f.resolve())
            one = t / "hippo1" / "imagesTr"  # the first scan alone: the command's fixed cost
            one.mkdir(parents=True)
            first = sorted(sub.iterdir())[0]
            (one / first.name).symlink_to(first.resolve())
            r1 = run_predict(ckpt, t / "hippo1", t / "out_hippo1", THREADS)
            r = run_predict(ckpt, t / "hippo", t / "out_hippo", THREADS)
            r["marginal_scans_per_minute"] = 60 * (args.hippocampus_scans - 1) / max(r["seconds"] - r1["seconds"], 1e-9)
            rows.append({"case": "hippocampus MRI (MSD, ~35x50x35 at 1 mm)", "scans": 1, **r1})
            rows.append({"case": "hippocampus MRI (MSD, ~35x50x35 at 1 mm)", "scans": args.hippocampus_scans, **r})
        (t / "ct").mkdir()
        for i in range(args.ct_scans):
            ct_volume(t / "ct" / f"ct_{i:02d}.nii.gz")
        ckpt = make_checkpoint(t / "ct", t / "ct.ckpt", 2)
        r = run_predict(ckpt, t / "ct", t / "out_ct", THREADS)
        rows.append({"case": "generated CT 512x512x200 int16 (0.8x0.8x1.5 mm)", "scans": args.ct_scans, **r})
    RES.mkdir(exist_ok=True)
    with open(RES / "volume_predict_speed.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case", "scans", "seconds", "scans_per_minute", "marginal_scans_per_minute", "peak_rss_mb",
                    "cpu_seconds", "load_avg", *stamp])
        for r in rows:
            marginal = r.get("marginal_scans_per_minute")
            w.writerow([r["case"], r["scans"], f"{r['seconds']:.1f}", f"{60 * r['scans'] / r['seconds']:.2f}",
                        "" if marginal is None else f"{marginal:.1f}", f"{r['peak_rss_mb']:.0f}", f"{r['cpu_seconds']:.1f}", r["load_avg"], *stamp.values()])
            print(f"{r['case']}: {60 * r['scans'] / r['seconds']:.2f} scans/min, peak RSS {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
