"""Build notebooks/05_your_own_data.ipynb: python notebooks/build_05.py (then execute it, see
notebooks/execute.py)"""

from pathlib import Path

import nbformat as nbf

cells = [
    ("md", """# 05 · Your own data: from a folder of scans to a report and embeddings

What you would do with your own scans, step by step: put them in a folder, `check` it, `run` the
pipeline with a small config, read the report, and embed every scan with the pre-trained
encoder. The commands are the CLI's (`polyclr.cli.main` takes the same arguments as the
`polyclr` command, so each cell is one terminal line); the outputs are plain files you can open
without polyclr.

Here "your scans" are six subjects generated from nilearn's MNI152 template (no download), so the
notebook runs anywhere in a few minutes; replace `scans` with your folder. Time series and audio
work the same way with `timeseries` / `audio` and a folder of recordings."""),
    ("md", """## 1. A folder of scans
polyclr reads a folder of NIfTI files (or DICOM series), optionally with label maps: here the
Medical Segmentation Decathlon layout, `imagesTr/` + `labelsTr/` + `dataset.json` (class names).
Unlabelled scans can sit in the same folder; they are used for pre-training only."""),
    ("code", """import shutil
import tempfile
from pathlib import Path

import torch

torch.set_num_threads(2)
from polyclr.cli import main
from polyclr.modalities.volume.reference import generate_reference

work = Path(tempfile.mkdtemp(prefix="polyclr_nb05_"))
scans = work / "my_scans"
shutil.copytree(generate_reference(n_subjects=6, seed=0), scans,
                ignore=shutil.ignore_patterns("volume_labels.csv"))
sorted(str(p.relative_to(scans)) for p in scans.rglob("*") if p.is_file())"""),
    ("md", """## 2. Check it before spending hours on it
Every file is read and validated once (orientation, spacing, label values, patients); a bad
file gives one line naming it, exit code 2, and nothing is written."""),
    ("code", """main(["check", "volume", "--data", str(scans)])"""),
    ("md", """## 3. Run with a small config
Settings live in a YAML file (or `--set key=value`); unknown keys are errors that name the key.
These are tiny so the notebook is quick; the defaults are the full-size settings."""),
    ("code", """config = work / "small.yaml"
config.write_text('''
data: {spacing: [4.0, 4.0, 4.0], slice_size: [48, 48]}
net: {features: [8, 8, 16, 32, 64, 8]}
pretrain: {strategies: [GD+LD], global_steps: 20, local_steps: 10, volumes_per_batch: 2}
finetune: {labeled_volumes: [1], combinations: 2, steps: 20, classification: false, fully_supervised: false}
engine: {accelerator: cpu}
''')
run = work / "run"
main(["run", "volume", "--data", str(scans), "--out", str(run), "--config", str(config)])"""),
    ("md", """## 4. The report
`run` writes `report.md` (and `report.html`) with the Dice table, the label-efficiency plot and
one overlay per method, plus `metrics.json`, `config.yaml`, `splits.json` (which patients were
held out) and `environment.json`."""),
    ("code", """from IPython.display import Image, Markdown, display

print(sorted(p.name for p in run.iterdir()))
display(Markdown((run / "report.md").read_text().split("![")[0]))
for png in sorted(run.glob("*.png")):
    display(Image(filename=str(png), width=420))"""),
    ("md", """## 5. Embeddings of every scan
`embed` runs the pre-trained encoder over each whole scan and pools its bottleneck into one
vector per scan (`classify.pooling`), in file order (`files.txt`): features for your own
probes, clustering or retrieval."""),
    ("code", """import matplotlib.pyplot as plt
import numpy as np

emb_dir = work / "embeddings"
main(["embed", "volume", "--data", str(scans), "--out", str(emb_dir), "--config", str(config),
      "--checkpoint", str(run / "encoders" / "GD_LD.safetensors")])
emb = np.load(emb_dir / "embeddings.npy")
files = [Path(f).name for f in (emb_dir / "files.txt").read_text().splitlines()]
centred = emb - emb.mean(0)
xy = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T  # first two principal axes
fig, ax = plt.subplots(figsize=(5, 4))
ax.scatter(xy[:, 0], xy[:, 1])
for (x, y), name in zip(xy, files):
    ax.annotate(name.split(".")[0], (x, y), fontsize=8)
ax.set_title(f"{emb.shape[0]} scans, {emb.shape[1]}-d embeddings (PCA)")
plt.show()"""),
    ("md", """Next: `polyclr export --checkpoint run/encoders/GD_LD.safetensors --out my_encoder` writes the
weights with a model card (`README.md`) and a MONAI bundle; `polyclr finetune volume
--checkpoint ...` fine-tunes on your labels with the full settings."""),
]

nb = nbf.v4.new_notebook()
nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src) for kind, src in cells]
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbf.write(nb, Path(__file__).with_name("05_your_own_data.ipynb"))
