"""Recording I/O: read + window vs reading the raw bytes, and streamed pre-training memory.

1. A 1-hour 21-channel 500 Hz EDF (edfio) and a 1-hour 12-lead 500 Hz WFDB record (wfdb), both
   generated here; on one core, interleaved rounds of (a) reading the file's raw bytes and
   (b) polyclr's read + window (10 s windows, native rate, float32 ``(n, C, L)`` array). Both
   from the page cache (one warm-up read first). Target: (b) within 3x of (a).
2. A 24-hour 2-channel 250 Hz WFDB record generated in chunks; TS2Vec pre-training reads its
   windows through ``StreamedWindows`` (never the whole record as float32; the pipeline's
   default 10 s windows resampled to 100 Hz) in a child process whose peak RSS is measured.
   Target: under 2 GB.

    python benchmarks/timeseries_io.py [--rounds 5] [--steps 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from timeseries_common import stamp, write_csv  # noqa: E402


def make_edf(path: Path, hours: float = 1.0, fs: int = 500, channels: int = 21) -> Path:
    import edfio

    n = int(hours * 3600 * fs)
    rng = np.random.default_rng(0)
    sigs = [edfio.EdfSignal((rng.normal(size=n) * 20).astype(np.float64), sampling_frequency=fs,
                            label=f"EEG{c:02d}", physical_dimension="uV", physical_range=(-200, 200))
            for c in range(channels)]
    edfio.Edf(sigs).write(path)
    return path


def make_wfdb(folder: Path, name: str, hours: float, fs: int, channels: int, chunk_s: int = 600) -> Path:
    """Header + format-16 ``.dat`` written chunk by chunk (the whole record is never in memory)."""
    import wfdb

    n = int(hours * 3600 * fs)
    rng = np.random.default_rng(1)
    names = [f"ch{c}" for c in range(channels)]
    with (folder / f"{name}.dat").open("wb") as fh:
        for a in range(0, n, chunk_s * fs):
            b = min(n, a + chunk_s * fs)
            t = np.arange(a, b) / fs
            x = np.stack([np.sin(2 * np.pi * 1.2 * t + c) * 800 + rng.normal(size=b - a) * 50
                          for c in range(channels)], 1)
            fh.write(x.astype("<i2").tobytes())
    rec = wfdb.Record(record_name=name, n_sig=channels, fs=fs, sig_len=n, file_name=[f"{name}.dat"] * channels,
                      fmt=["16"] * channels, adc_gain=[1000.0] * channels, baseline=[0] * channels,
                      units=["mV"] * channels, sig_name=names, adc_res=[16] * channels, adc_zero=[0] * channels,
                      init_value=[0] * channels, checksum=[0] * channels, block_size=[0] * channels)
    rec.wrheader(write_dir=str(folder))
    return folder / f"{name}.hea"


def time_read(path: Path, rounds: int) -> list[dict]:
    import torch

    from polyclr.modalities.timeseries.recordings import read_edf
    from polyclr.modalities.timeseries.wfdb_records import read_wfdb
    from polyclr.modalities.timeseries.windows import WindowSpec, recording_windows

    torch.set_num_threads(1)
    reader = read_edf if path.suffix == ".edf" else read_wfdb
    files = [path] if path.suffix == ".edf" else [path, path.with_suffix(".dat")]
    spec = WindowSpec(seconds=10)

    def raw() -> int:
        return sum(len(f.read_bytes()) for f in files)

    def windows() -> tuple:
        rec = reader(path)
        return recording_windows(rec, spec, rec.fs, rec.channels).shape

    raw(), windows()  # warm-up: page cache, imports
    rows = []
    for r in range(rounds):
        for kind, fn in (("raw_bytes", raw), ("read_window", windows)):
            t0 = time.perf_counter()
            out = fn()
            rows.append({"file": path.name, "kind": kind, "round": r, "seconds": time.perf_counter() - t0,
                         "bytes": sum(f.stat().st_size for f in files), "output": str(out)})
    return rows


STREAM_CHILD = r"""
import json, resource, sys, time, torch
torch.set_num_threads(1)
from pathlib import Path
import numpy as np
from polyclr.modalities.timeseries.data import TimeSeriesData
from polyclr.modalities.timeseries.wfdb_records import read_wfdb
from polyclr.modalities.timeseries.windows import StreamedWindows, WindowSpec
from polyclr.pipelines.timeseries import train as T
from polyclr.pipelines.timeseries.config import TimeSeriesConfig
from polyclr.pipelines.timeseries.data import Prepared
hea, steps, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
rec = read_wfdb(hea)
cfg = TimeSeriesConfig()
spec = WindowSpec(seconds=cfg.data.window_seconds, rate=cfg.data.sampling_rate)  # the pipeline's defaults
t0 = time.perf_counter()
ds = StreamedWindows([rec], np.zeros(1), spec, spec.rate, rec.channels)
plan_s = time.perf_counter() - t0
rng = np.random.default_rng(0)
sample = np.stack([ds.window(int(i)) for i in rng.choice(len(ds), 256, replace=False)])
ds.mean, ds.std = np.nanmean(sample, axis=(0, 2)), np.nanstd(sample, axis=(0, 2))
small = np.stack([ds.window(i) for i in range(8)])
data = TimeSeriesData(X=small, y=np.full(8, -1), patient_id=np.zeros(8, dtype=np.int64),
                      trial_id=np.zeros(8, dtype=np.int64), split=np.full(8, "train", dtype=object), classes=[],
                      lengths=np.full(8, small.shape[2]), sampling_rate=spec.rate, channel_names=rec.channels)
prep = Prepared(path=hea, raw=data, data=data, train=np.arange(8),
                normalizer={"mean": ds.mean.tolist(), "std": ds.std.tolist()})
cfg.engine.max_steps, cfg.engine.logger = steps, "none"
res = T.pretrain_encoder(cfg, prep, out, items=ds)
res.pop("objective_object")
print(json.dumps({"windows": len(ds), "plan_seconds": plan_s, "pretrain_seconds": res["pretrain_seconds"],
                  "pretrain_steps": res["pretrain_steps"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
"""


def stream_pretrain(folder: Path, steps: int) -> dict:
    hea = make_wfdb(folder, "day", hours=24, fs=250, channels=2)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    res = subprocess.run([sys.executable, "-c", STREAM_CHILD, str(hea), str(steps), str(folder / "out")],
                         capture_output=True, text=True, env=env, check=False)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-2000:])
    info = json.loads(res.stdout.strip().splitlines()[-1])
    info.update({"record_hours": 24, "channels": 2, "fs": 250,
                 "float32_whole_record_mb": round(24 * 3600 * 250 * 2 * 4 / 2**20, 1),
                 "dat_mb": round((folder / "day.dat").stat().st_size / 2**20, 1)})
    return info


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--skip-stream", action="store_true")
    ap.add_argument("--skip-read", action="store_true")
    a = ap.parse_args()
    base = stamp() | {"threads": 1}
    with tempfile.TemporaryDirectory(prefix="polyclr_tsio_") as tmp:
        tmp = Path(tmp)
        if not a.skip_read:
            edf = make_edf(tmp / "hour21.edf")
            hea = make_wfdb(tmp, "hour12", hours=1, fs=500, channels=12)
            rows = time_read(edf, a.rounds) + time_read(hea, a.rounds)
            summary = []
            for f in (edf.name, hea.name):
                raw = np.median([r["seconds"] for r in rows if r["file"] == f and r["kind"] == "raw_bytes"])
                win = np.median([r["seconds"] for r in rows if r["file"] == f and r["kind"] == "read_window"])
                mb = next(r["bytes"] for r in rows if r["file"] == f) / 2**20
                summary.append(base | {"test": "read_window_vs_raw", "file": f, "mb": round(mb, 1),
                                       "raw_seconds_median": round(float(raw), 4),
                                       "read_window_seconds_median": round(float(win), 4),
                                       "ratio": round(float(win / raw), 2), "target_ratio": 3.0, "rounds": a.rounds,
                                       "realtime_factor": round(3600 / float(win)),
                                       "load_avg": round(os.getloadavg()[0], 1)})
                print(summary[-1])
            write_csv("timeseries_io_rounds.csv", [base | r for r in rows])
            write_csv("timeseries_io.csv", summary)
        if not a.skip_stream:
            info = stream_pretrain(tmp, a.steps)
            row = base | {"test": "stream_pretrain_24h", "target_peak_rss_mb": 2048, **info,
                          "load_avg": round(os.getloadavg()[0], 1),
                          "note": f"TS2Vec {info['pretrain_steps']} steps (fewer than the 200 default, "
                                  "shared CPU); windows read from disk per batch"}
            print(row)
            write_csv("timeseries_io_stream.csv", [row])


if __name__ == "__main__":
    main()
