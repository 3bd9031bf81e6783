"""Build notebooks/02_timeseries_patients.ipynb: python notebooks/build_02.py (then execute it, see notebooks/execute.py)"""

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
4. embed every window and plot the embeddings by label and patient;
5. fine-tune the pre-trained encoder and a randomly initialised one the same way at 10 % and
   100 % of the training labels, scored on **held-out patients**.

Settings are tiny so that it runs in minutes on a CPU; see
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
    ("md", """## Embeddings of every window
`PIPELINE.embed` (what `polyclr embed timeseries` runs) writes one embedding per window plus its
label and patient id; the plot colours by label and marks patients."""),
    ("code", """from IPython.display import Image

from polyclr.evaluation.plots import plot_embedding

emb_dir = work / "embed"
emb_dir.mkdir()
PIPELINE.embed(cfg, data, out, emb_dir)
emb = np.load(emb_dir / "embeddings.npy")
index = np.load(emb_dir / "embedding_index.npz")
png = plot_embedding(emb, np.array(d.classes)[index["y"]], work / "emb.png", groups=index["patient_id"],
                     title="all windows, coloured by label")
Image(str(png))"""),
    ("md", """## Few labels, held-out patients
`PIPELINE.finetune` (what `polyclr finetune timeseries` runs) trains the same classifier head and
encoder with the same steps and the same stratified label subset, once from the pre-trained
checkpoint and once from random init; metrics are on the test patients. Two seeds per cell."""),
    ("code", """import dataclasses

from polyclr.evaluation import mean_std

cfg.downstream.finetune_steps = 40
rows = []
for frac in (0.1, 1.0):
    for seed in (0, 1):
        run_cfg = dataclasses.replace(cfg, engine=dataclasses.replace(cfg.engine, seed=seed))
        for method, ckpt in (("pretrained", out), ("random_init", None)):
            ft = work / f"ft_{method}_{frac}_{seed}"
            ft.mkdir()
            res = PIPELINE.finetune(run_cfg, data, ckpt, ft, label_fraction=frac)
            rows.append({"method": method, "label_fraction": frac, "seed": seed, **res["test"]})
for r in mean_std(rows, ["method", "label_fraction"], ["accuracy", "macro_f1"]):
    print(f"{r['method']:>12} {r['label_fraction']:>4}: macro-F1 {r['macro_f1_mean']:.3f} ± {r['macro_f1_std']:.3f} (n={r['n']})")"""),
    ("code", """from polyclr.evaluation.plots import plot_label_efficiency

Image(str(plot_label_efficiency(rows, work / "label_efficiency.png")))"""),
    ("md", """With 16 simulated patients, 60 pre-training steps and 2 seeds this shows the workflow, not
the size of the effect; `benchmarks/timeseries_ecg.py` runs the full comparison."""),
]

nb = nbf.v4.new_notebook()
nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src) for kind, src in cells]
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbf.write(nb, Path(__file__).with_name("02_timeseries_patients.ipynb"))
