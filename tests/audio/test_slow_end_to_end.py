"""Slow: the packaged sentence encoder (offline) and the CLI end to end on a tiny set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from polyclr.cli import main
from tests.audio.conftest import write_set

pytestmark = pytest.mark.slow


def test_frozen_sentence_encoder_offline_and_cached() -> None:
    from polyclr.modalities.audio.text import TextEmbeddingCache

    cache = TextEmbeddingCache()
    e = cache.get(["a dog barks", "a dog is barking", "a piano plays a melody", "a dog barks"])
    assert e.shape == (4, 384) and cache.n_encoded == 3  # the repeated string is encoded once
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2  # paraphrase closer than an unrelated sentence
    cache.get(["a dog barks"])
    assert cache.n_encoded == 3


def test_cli_run_pretrain_evaluate_embed(tmp_path: Path) -> None:
    data = write_set(tmp_path / "set", n_per_class=6)
    sets = ["--set", "engine.max_epochs=2", "--set", "engine.batch_size=8", "--set", "data.clip_seconds=0.5",
            "--set", "evaluation.long_form_clips=2"]
    run = tmp_path / "run"
    assert main(["run", "audio", "--data", str(data), "--out", str(run), *sets]) == 0
    m = json.loads((run / "metrics.json").read_text())
    for name in ("clip", "cwcl", "cwcl+order", "random_init"):
        assert 0.0 <= m[name]["zero_shot"]["accuracy"] <= 1.0
        for d in ("t2a", "a2t"):
            assert set(m[name]["retrieval"][d]) >= {"R@1", "R@5", "R@10", "mAP@10"}
        assert m[name]["order"]["n_pairs"] >= 1 and "group_score" in m[name]["order"]
        assert "accuracy" in m[name]["linear_probe"]
    assert (run / "splits.json").is_file() and (run / "runs" / "cwcl_order" / "encoder.safetensors").is_file()
    assert (run / "report.md").is_file()

    pre = tmp_path / "pre"
    assert main(["pretrain", "audio", "--data", str(data), "--out", str(pre), *sets,
                 "--set", "objective.name=clip+order"]) == 0
    ev = tmp_path / "ev"
    assert main(["evaluate", "audio", "--data", str(data), "--checkpoint", str(pre), "--out", str(ev), *sets]) == 0
    assert json.loads((ev / "metrics.json").read_text())["objective"] == "clip+order"
    ft = tmp_path / "ft"
    assert main(["finetune", "audio", "--data", str(data), "--checkpoint", str(pre), "--out", str(ft),
                 "--label-fraction", "0.5", *sets]) == 0
    fm = json.loads((ft / "metrics.json").read_text())
    assert fm["label_fraction"] == 0.5 and 2 <= fm["n_labeled"] < 9 and 0 <= fm["linear_probe"]["accuracy"] <= 1
    emb = tmp_path / "emb"
    assert main(["embed", "audio", "--data", str(data), "--checkpoint", str(pre), "--out", str(emb), *sets]) == 0
    x = np.load(emb / "embeddings.npy")
    assert x.shape == (18, 384) and np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-4)
