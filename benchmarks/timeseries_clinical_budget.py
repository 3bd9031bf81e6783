"""CPU seconds the default ``polyclr run timeseries --data ../shared/data/cinc2017_af_ecg`` needs,
projected from its parts measured in CPU time (one thread), for a machine too loaded to time the
whole run: CPU time per step is far less inflated by other jobs than wall time.

Measured (``time.process_time``, one torch thread, after a warm-up): reading + splitting, one
TS2Vec pre-training step (batch 8), one fine-tuning step of the TS2Vec classifier and of the
supervised InceptionTimePlus at the batch size of each label fraction, a fine-tuning run's fixed
cost (a 1-step ``finetune_model``: Lightning setup + probe head), embedding per window, and the
linear / SVM probes on the full training set. Counted from the default config: pre-training
steps (TS2Vec's rule), :func:`~polyclr.pipelines.timeseries.train.finetune_steps` per label
fraction, methods x fractions x seeds. Not counted: figures and report (seconds). Usage:

    OMP_NUM_THREADS=1 python benchmarks/timeseries_clinical_budget.py
"""

from __future__ import annotations

import copy
import dataclasses
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from timeseries_common import stamp, write_csv  # noqa: E402

from polyclr.modalities.timeseries.encoders import Classifier, TsaiBackbone  # noqa: E402
from polyclr.pipelines.timeseries import data as D  # noqa: E402
from polyclr.pipelines.timeseries import train as T  # noqa: E402
from polyclr.pipelines.timeseries.config import TimeSeriesConfig  # noqa: E402
from polyclr.pipelines.timeseries.evaluate import probe_embeddings, svm  # noqa: E402
from polyclr.splits import label_fraction_subset  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cinc2017_af_ecg"


def once(fn) -> float:
    """CPU seconds of one call of ``fn``."""
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def cpu(fn, reps: int) -> float:
    """CPU seconds of one call of ``fn`` (mean of ``reps`` after one warm-up call)."""
    fn()
    t0 = time.process_time()
    for _ in range(reps):
        fn()
    return (time.process_time() - t0) / reps


def step_fn(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def main() -> None:
    torch.set_num_threads(1)
    cfg = TimeSeriesConfig()
    cfg.engine.logger = "none"
    t0 = time.process_time()
    prep = D.prepare(cfg, DATA)
    parts = {"read_split": time.process_time() - t0}
    d, ds = prep.data, cfg.downstream
    spec = T.encoder_spec(cfg, d)
    n_pre = T.pretraining_budget(cfg, d, prep.train).max_steps
    obj = T.build_objective(cfg, T.make_encoder(spec), len(prep.train), d.n_channels)
    opt = torch.optim.AdamW(obj.parameters(), lr=1e-3)
    i8 = prep.train[:8]
    batch = {"x": torch.from_numpy(d.X[i8]), "index": torch.arange(8), "trial": torch.from_numpy(d.trial_id[i8]),
             "patient": torch.from_numpy(d.patient_id[i8])}

    def pre_step() -> None:
        loss = obj(batch)
        loss = loss["loss"] if isinstance(loss, dict) else loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    parts["pretrain"] = n_pre * cpu(pre_step, 5)
    enc = T.make_encoder(spec)
    per_window = cpu(lambda: T.embed(enc, d.X[:256]), 1) / 256
    emb = T.embed(enc, d.X)
    parts["embed_all"] = per_window * len(d.X)
    parts["probes"] = once(lambda: (probe_embeddings(d, emb[prep.train_labelled], prep.train_labelled,
                                                     emb[prep.test], prep.test, 0), svm(enc, prep, emb)))
    ft = {"pretrained": 0.0, "random_init": 0.0, "supervised": 0.0}
    fixed = dataclasses.replace(cfg, downstream=dataclasses.replace(ds, finetune_steps=1, finetune_epochs=0))
    steps_total = 0
    for frac in ds.label_fractions:
        sub = label_fraction_subset(prep.train_labelled, d.y, frac, 0)
        n_steps, bs = T.finetune_steps(cfg, len(sub)), min(ds.finetune_batch_size, len(sub))
        x, y = torch.from_numpy(d.X[sub[:bs]]), torch.from_numpy(d.y[sub[:bs]]).long()
        for method in ft:
            make = {"supervised": lambda: TsaiBackbone(ds.supervised_arch, d.n_channels, d.length),
                    "random_init": lambda: T.make_encoder(spec),
                    "pretrained": lambda: copy.deepcopy(enc)}[method]  # emb holds enc's embeddings
            step = cpu(step_fn(Classifier(make(), d.n_classes), x, y), 3)
            emb_sub = emb[sub] if method == "pretrained" else None  # run() reuses the pre-trained embeddings
            run_fixed = once(lambda m=make, e=emb_sub, s=sub, p=method != "supervised": T.finetune_model(
                fixed, Classifier(m(), d.n_classes), d.X[s], d.y[s], 0, emb=e, probe_head=p)) - step
            ft[method] += len(ds.seeds) * (n_steps * step + run_fixed + per_window * len(prep.test))
            steps_total += len(ds.seeds) * n_steps
    parts.update({f"finetune_{k}": v for k, v in ft.items()})
    total = sum(parts.values())
    row = stamp() | {"threads": torch.get_num_threads(), "dataset": DATA.name, "load_avg": round(os.getloadavg()[0], 1),
                     "pretrain_steps": n_pre, "finetune_runs": len(ft) * len(ds.label_fractions) * len(ds.seeds),
                     "finetune_steps_total": steps_total,
                     **{f"cpu_s_{k}": round(v, 1) for k, v in parts.items()},
                     "cpu_s_total_projected": round(total, 1), "target_wall_s_on_2_cores": 1800}
    out = write_csv("timeseries_clinical_budget.csv", [row])
    print(row, f"\nwrote {out}")


if __name__ == "__main__":
    main()
