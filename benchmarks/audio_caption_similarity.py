"""How much label information the frozen text tower's similarities carry (the CWCL weights).

For every caption pair of the reference set: the frozen MiniLM cosine, raw and after removing
the mean caption embedding (``objective.cwcl_center``) and further top principal components,
split into same-label and different-label pairs, with the mean CWCL weight ``((1+cos)/2)**γ``.
Labels are used only for this analysis, never in training. Writes
``benchmarks/results/audio_caption_similarity.csv``.

    HF_HUB_OFFLINE=1 python benchmarks/audio_caption_similarity.py --data ~/.cache/polyclr/audio_reference
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from polyclr.rundir import git_commit, machine_description, thread_count, write_csv

OUT = Path(__file__).parent / "results" / "audio_caption_similarity.csv"


def main() -> None:
    from polyclr.modalities.audio.io import read_captions
    from polyclr.modalities.audio.text import load_sentence_encoder

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    args = ap.parse_args()
    table = read_captions(args.data, check_files=False)
    labelled = [(c, lab) for c, lab in zip(table.captions, table.labels, strict=True) if lab]
    labels = np.array([lab for _, lab in labelled])
    q = np.asarray(load_sentence_encoder().encode([c for c, _ in labelled], normalize_embeddings=True,
                                                  batch_size=64), dtype=np.float64)
    same = np.equal.outer(labels, labels) & ~np.eye(len(q), dtype=bool)
    diff = ~np.equal.outer(labels, labels)
    centred = q - q.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    stamp = {"machine": machine_description(), "threads": thread_count(), "commit": git_commit(),
             "date": datetime.now(UTC).strftime("%Y-%m-%d"), "captions": len(q)}
    out = []
    for variant, k in [("raw", None), ("centred", 0), ("centred_minus_top2", 2), ("centred_minus_top8", 8)]:
        e = q if k is None else centred - (centred @ vt[:k].T) @ vt[:k]
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
        cos = e @ e.T
        for name, mask in (("same_label", same), ("different_label", diff)):
            v = cos[mask]
            row = {"variant": variant, "pairs": name, "cos_mean": round(float(v.mean()), 4),
                   "cos_p5": round(float(np.percentile(v, 5)), 4), "cos_p95": round(float(np.percentile(v, 95)), 4)}
            row.update({f"weight_mean_gamma{g}": round(float((((1 + v) / 2) ** g).mean()), 4) for g in (1, 4, 8)})
            out.append({**row, **stamp})
            print(row)
    write_csv(OUT, out)


if __name__ == "__main__":
    main()
