"""Where polyclr and the public TS2Vec code treat unequal-length series differently, one effect
at a time: SVM / linear-probe accuracy of polyclr's TS2Vec on an unequal-length aeon set under

- ``polyclr``: polyclr as it is (series end-padded with NaN in training; the instance embedding
  max-pools over the real timestamps only);
- ``pool_padded``: the same trained encoder, embedding max-pooled over the whole padded width,
  as the public code's ``encode(..., encoding_window='full_series')`` does (the padding enters
  the encoder as zeros after its input layer, as in both codes);
- ``centred_pool_padded``: trained on series centred in the padded width (the public code's
  ``centerize_vary_length_series`` before training), embedded end-padded over the whole width:
  the public code's treatment of such a set.

Same seeds, defaults and probes as ``timeseries_ts2vec_parity.py``; TRAIN to pre-train and fit the
probes, TEST to score (a diagnostic for the parity table, not a setting chosen on TEST).

    .venv/bin/python benchmarks/timeseries_ts2vec_variable_length.py [--datasets PickupGestureWiimoteZ] \
        [--seeds 0 1 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

try:
    from benchmarks.timeseries_common import stamp, write_csv
    from benchmarks.timeseries_ts2vec_parity import aeon_classification_sets
except ImportError:
    from timeseries_common import stamp, write_csv
    from timeseries_ts2vec_parity import aeon_classification_sets


def centre_series(x: np.ndarray) -> np.ndarray:
    """Each series moved to the middle of the padded width (TS2Vec's centerize_vary_length_series).

    Shape: x ``(n, C, T)`` NaN-padded; returns the same shape.
    """
    has = ~np.isnan(x).all(axis=1)  # (n, T)
    prefix = np.argmax(has, axis=1)
    suffix = np.argmax(has[:, ::-1], axis=1)
    shift = (prefix + suffix) // 2 - prefix
    return np.stack([np.roll(row, s, axis=-1) for row, s in zip(x, shift, strict=True)])


@torch.no_grad()
def embed_padded(encoder: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    """Max-pool over every position of the padded width (the public code's full_series pooling).

    Shape: X ``(n, C, T)`` → ``(n, D)``.
    """
    encoder.eval()
    x = torch.from_numpy(X)
    z = encoder(x, mask=torch.ones(x.shape[0], x.shape[-1], dtype=torch.bool))
    return z.amax(dim=1).numpy()


def _train(cfg, prep, out: Path, seed: int):
    from polyclr.engine import load_encoder, seed_everything
    from polyclr.pipelines.timeseries import train as T

    seed_everything(seed)
    pre = T.pretrain_encoder(cfg, prep, out)
    enc = T.make_encoder(T.encoder_spec(cfg, prep.data))
    enc.load_state_dict(load_encoder(out / "encoder.safetensors")[0])
    return enc, pre


def run(path: Path, seed: int, steps: int = 0) -> list[dict]:
    from polyclr.evaluation import linear_probe, svm_probe
    from polyclr.pipelines.timeseries import data as D
    from polyclr.pipelines.timeseries import train as T
    from polyclr.pipelines.timeseries.config import TimeSeriesConfig

    cfg = TimeSeriesConfig()
    cfg.engine.seed, cfg.engine.logger, cfg.engine.max_steps = seed, "none", steps
    prep = D.prepare(cfg, path, Path(tempfile.mkdtemp(prefix="polyclr_varlen_")))
    d = prep.data
    ytr, yte = d.y[prep.train], d.y[prep.test]
    Xtr, Xte = d.X[prep.train], d.X[prep.test]
    enc, pre = _train(cfg, prep, Path(tempfile.mkdtemp(prefix="polyclr_varlen_")), seed)
    centred = dataclasses.replace(prep, data=dataclasses.replace(d, X=d.X.copy()))
    centred.data.X[prep.train] = centre_series(Xtr)
    enc_c, pre_c = _train(cfg, centred, Path(tempfile.mkdtemp(prefix="polyclr_varlen_")), seed)
    embeddings = {"polyclr": (T.embed(enc, Xtr), T.embed(enc, Xte), pre),
                  "pool_padded": (embed_padded(enc, Xtr), embed_padded(enc, Xte), pre),
                  "centred_pool_padded": (embed_padded(enc_c, Xtr), embed_padded(enc_c, Xte), pre_c)}
    return [{"variant": k, "iterations": p["pretrain_steps"], "pretrain_seconds": p["pretrain_seconds"],
             "svm_accuracy": svm_probe(tr, ytr, te, yte)["accuracy"],
             "linear_probe_accuracy": linear_probe(tr, ytr, te, yte, seed=seed)["accuracy"]}
            for k, (tr, te, p) in embeddings.items()]


def main() -> None:
    sets = aeon_classification_sets()
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["PickupGestureWiimoteZ"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0, help="0 = the default budget rule (smoke tests: a few)")
    ap.add_argument("--out", default="timeseries_ts2vec_variable_length.csv")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for seed in args.seeds:
        for name in args.datasets:
            for r in run(sets[name], seed, args.steps):
                rows.append({"dataset": name, "seed": seed, **r, "load_avg": round(os.getloadavg()[0], 2),
                             **stamp()})
                print(json.dumps(rows[-1]), flush=True)
            write_csv(args.out, rows)


if __name__ == "__main__":
    main()
