"""End to end through the CLI: ``polyclr pretrain`` -> ``polyclr export`` -> the model card's
plain torch + safetensors recipe gives the same embeddings as polyclr's own loader."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from polyclr.cli import main


@pytest.mark.slow
def test_timeseries_pretrain_export_reload_identical_embeddings(tmp_path, capsys):
    aeon = pytest.importorskip("aeon")
    train = pytest.importorskip("polyclr.pipelines.timeseries.train")
    from polyclr.modalities.timeseries.encoders import instance_embedding

    data = Path(os.path.dirname(aeon.__file__)) / "datasets" / "data" / "GunPoint"
    run, export = tmp_path / "run", tmp_path / "export"
    code = main(["pretrain", "timeseries", "--data", str(data), "--out", str(run),
                 "--set", "engine.max_steps=2", "--set", "engine.accelerator=cpu",
                 "--set", "encoder.depth=2", "--set", "encoder.hidden_dims=16"])
    assert code == 0, capsys.readouterr().err
    assert main(["export", "--checkpoint", str(run), "--out", str(export)]) == 0

    card = (export / "README.md").read_text()
    snippet = card.split("## How to load")[1].split("```python\n")[1].split("```")[0]
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(export)
    try:
        exec(snippet, namespace)  # noqa: S102 - the card's own recipe
    finally:
        os.chdir(cwd)
    rebuilt = namespace["encoder"]
    original, meta, _ = train.load_checkpoint(run)
    original.eval()
    x = torch.randn(4, meta["input"]["channels"], meta["input"]["length"])
    with torch.no_grad():
        assert torch.equal(instance_embedding(rebuilt, x), instance_embedding(original, x))
    assert "linear_probe" in card  # the run's metrics made it into the card
