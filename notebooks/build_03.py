"""Build notebooks/03_audio_text_retrieval.ipynb: python notebooks/build_03.py (then execute it,
see notebooks/execute.py)"""

from pathlib import Path

import nbformat as nbf

cells = [
    ("md", """# 03 · Audio–text contrastive pre-training and retrieval

CLAP-style audio–text pre-training with **CWCL** weights from the frozen, packaged sentence
encoder (all-MiniLM-L6-v2) and **CompA-style order negatives**, evaluated on held-out clips:
zero-shot classification (prompt templates from `evaluation.templates`), text→audio and
audio→text retrieval, and the order test. A tiny generated set (pure numpy; synthetic sounds,
not recordings) and few epochs, so it runs in minutes on a CPU; `scripts/make_audio_reference.py`
makes the larger espeak-ng/sox set used by the benchmarks."""),
    ("code", """import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from IPython.display import Image, display

os.environ["HF_HUB_OFFLINE"] = "1"
torch.set_num_threads(1)
from polyclr.modalities.audio import read_captions, synth
from polyclr.pipelines.audio import PIPELINE
from polyclr.pipelines.audio.config import AudioConfig

work = Path(tempfile.mkdtemp())
data = synth.generate(work / "data", n_per_event=10, n_ordered=24, seed=0)
table = read_captions(data)
pd.DataFrame({"file": table.file_names, "caption": table.captions, "label": table.labels}).sample(8, random_state=0)"""),
    ("md", """## Configure a small run
Typed config (same keys as `--set` on the CLI): one objective, few epochs. `check` validates
every file and the group split first."""),
    ("code", """cfg = AudioConfig()
cfg.engine.max_epochs = 4
cfg.engine.batch_size = 32
cfg.engine.logger = "none"
cfg.data.clip_seconds = 1.5
cfg.objective.runs = ["cwcl+order"]
cfg.evaluation.long_form_clips = 3
print(cfg.evaluation.templates)
PIPELINE.check(cfg, data).summary"""),
    ("code", """metrics = PIPELINE.run(cfg, data, work / "run")
pd.DataFrame(metrics["summary"])"""),
    ("md", """The `random_init` row is the same towers untrained: the floor that zero-shot and retrieval
start from (chance for zero-shot is in `zero_shot.chance`). Per-class zero-shot accuracy of the
trained model:"""),
    ("code", """m = metrics["cwcl+order"]
print("chance", round(m["zero_shot"]["chance"], 3))
pd.Series(m["zero_shot"]["per_class"]).sort_values()"""),
    ("md", "Held-out embeddings (t-SNE), coloured by label:"),
    ("code", """for png in sorted((work / "run" / "figures").glob("*.png")):
    display(Image(filename=str(png)))"""),
    ("md", """## Embeddings of new audio and nearest neighbours
`PIPELINE.embed` (what `polyclr embed audio` runs) needs no captions: one embedding per file in
the joint space. Here each file's three nearest other files by cosine similarity, with their
captions for reference."""),
    ("code", """emb_dir = work / "embed"
emb_dir.mkdir()
PIPELINE.embed(cfg, data, work / "run" / "runs" / "cwcl_order", emb_dir)
emb = np.load(emb_dir / "embeddings.npy")
files = (emb_dir / "files.txt").read_text().splitlines()
caption = {str(data / f): c for f, c in zip(table.file_names, table.captions)}
sim = emb @ emb.T
np.fill_diagonal(sim, -np.inf)
for i in range(0, len(files), max(1, len(files) // 4))[:4]:
    near = np.argsort(-sim[i])[:3]
    print(caption.get(files[i], Path(files[i]).name), "->", [caption.get(files[j], Path(files[j]).name) for j in near])"""),
    ("md", """## Order test
CompA-style scores on held-out ordered clips (chance: text 25 %, audio 25 %, group 16.7 %)."""),
    ("code", """pd.Series(m["order"])"""),
]

nb = nbf.v4.new_notebook()
nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src) for kind, src in cells]
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbf.write(nb, Path(__file__).with_name("03_audio_text_retrieval.ipynb"))
