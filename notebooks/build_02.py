"""Build notebooks/02_timeseries_patients.ipynb (no outputs): python notebooks/build_02.py"""

from pathlib import Path

import nbformat as nbf

cells = [
    ("md", """# Time series with patients: hierarchical contrastive pre-training and few labels

This notebook uses polyclr's public API on the **simulated multi-patient ECG dataset**
(see `data_cards/ecg_simulator.md`; simulated, not clinical data):

1. simulate patients → recordings (trials) → windows, and look at the signals;
2. validate the file as `polyclr check timeseries` does;
3. pre-train with the **COMET** objective (observation, sample, trial and patient levels) — the
   hierarchical batch sampler puts ≥ 2 windows of each trial in every batch;
4. compare a linear probe and fine-tuning of the pre-trained encoder with a randomly initialised
   encoder at 10 % and 100 % of the training labels, on **held-out patients**.

Settings are tiny so that it runs in about two minutes on a CPU; see
`benchmarks/timeseries_ecg.py` for the full-size numbers."""),
    ("code", """import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

torch.set_num_threads(1)
from polyclr.modalities.timeseries.simulator import CLASSES, write_ecg_npz
from polyclr.pipelines.timeseries import PIPELINE
from polyclr.pipelines.timeseries.config import TimeSeriesConfig

work = Path(tempfile.mkdtemp(prefix="polyclr_nb02_"))
data = write_ecg_npz(work / "ecg.npz", n_patients=16, trials_per_patient=3, windows_per_trial=6, seed=0)
data"""),
    ("code", """from polyclr.modalities.timeseries import load_dataset

d = load_dataset(data)
fig, axes = plt.subplots(len(CLASSES), 1, figsize=(10, 7), sharex=True)
for c, ax in enumerate(axes):
    i = np.flatnonzero(d.y == d.classes.index(CLASSES[c]))[0]
    ax.plot(np.arange(d.length) / d.sampling_rate, d.X[i].T)
    ax.set_title(f"{CLASSES[c]} (patient {d.patient_id[i]}, trial {d.trial_id[i]})", fontsize=9)
axes[-1].set_xlabel("seconds")
plt.tight_layout()"""),
    ("code", """cfg = TimeSeriesConfig()
report = PIPELINE.check(cfg, data)
report.summary, report.warnings"""),
    ("md", """## Pre-training with the COMET objective
Per-level weights λ can be any subset; here all four levels. `objective.dbpm=True` would add
dynamic bad-pair mining."""),
    ("code", """cfg.objective.name = "comet"
cfg.objective.comet_weights = {"observation": 0.25, "sample": 0.25, "trial": 0.25, "patient": 0.25}
cfg.engine.max_steps, cfg.engine.batch_size, cfg.engine.logger = 60, 16, "none"
cfg.encoder.depth, cfg.encoder.hidden_dims, cfg.encoder.output_dims = 6, 32, 64
out = work / "pretrain"
out.mkdir()
pre = PIPELINE.pretrain(cfg, data, out)
{k: pre[k] for k in ("pretrain_seconds", "pretrain_steps", "linear_probe")}"""),
    ("code", """import json

from polyclr.evaluation.plots import plot_embedding
from polyclr.pipelines.timeseries import data as D
from polyclr.pipelines.timeseries import train as T

prep = D.prepare(cfg, data)
encoder, meta, _ = T.load_checkpoint(out)
emb = T.embed(encoder, prep.data.X[prep.test])
png = plot_embedding(emb, np.array(prep.data.classes)[prep.data.y[prep.test]], work / "emb.png",
                     groups=prep.data.patient_id[prep.test], title="test patients")
from IPython.display import Image

Image(str(png))"""),
    ("md", """## Few labels, held-out patients
One row per (method, label fraction, seed); label subsets are stratified within the training
patients; metrics are on the test patients."""),
    ("code", """cfg.downstream.label_fractions = [0.1, 1.0]
cfg.downstream.seeds = [0, 1]
cfg.downstream.methods = ["linear_probe", "pretrained", "random_init"]
cfg.downstream.finetune_steps = 40
spec = T.encoder_spec(cfg, prep.data)
rows = PIPELINE.label_efficiency(cfg, prep, encoder, spec)
from polyclr.evaluation import mean_std

summary = mean_std(rows, ["method", "label_fraction"], ["accuracy", "macro_f1"])
for r in summary:
    print(f"{r['method']:>13} {r['label_fraction']:>5}: macro-F1 {r['macro_f1_mean']:.3f} ± {r['macro_f1_std']:.3f}")"""),
    ("code", """from polyclr.evaluation.plots import plot_label_efficiency

Image(str(plot_label_efficiency(rows, work / "label_efficiency.png")))"""),
]

nb = nbf.v4.new_notebook()
nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src) for kind, src in cells]
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbf.write(nb, Path(__file__).with_name("02_timeseries_patients.ipynb"))
