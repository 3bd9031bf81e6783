"""The Pipeline contract: one ``open`` per command, declared steps instead of probing, and a
clear one-line refusal for a step a modality does not offer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from polyclr.cli import main
from polyclr.errors import NotSupportedError
from polyclr.pipelines import MODALITIES, Pipeline, get_pipeline
from polyclr.pipelines.base import Prepared


@pytest.mark.parametrize("modality", MODALITIES)
def test_every_pipeline_declares_the_whole_contract(modality):
    pytest.importorskip(f"polyclr.pipelines.{modality}")
    pipe = get_pipeline(modality)
    assert isinstance(pipe, Pipeline) and pipe.name == modality
    for step in ("open", "check", "pretrain", "finetune", "evaluate", "run", "embed", "predict",
                 "selection_items", "selection_features", "demo", "demo_data"):
        assert callable(getattr(pipe, step))


def test_predict_audio_is_refused_in_one_line(tmp_path, capsys):
    pytest.importorskip("polyclr.pipelines.audio")
    from polyclr.modalities.audio import synth

    data = tmp_path / "audio"
    synth.generate(data, n_per_event=2, n_ordered=0, seed=0)
    ckpt = tmp_path / "encoder.safetensors"
    ckpt.write_bytes(b"x")
    out = tmp_path / "out"
    code = main(["predict", "audio", "--data", str(data), "--checkpoint", str(ckpt), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "'predict' is not supported for audio" in err
    assert not out.exists()
    with pytest.raises(NotSupportedError):
        get_pipeline("audio").predict(get_pipeline("audio").config_class(), data, ckpt, out)


def test_a_command_opens_the_dataset_once(tmp_path, monkeypatch, capsys):
    """``check`` and ``pretrain`` read and validate the data through one ``open`` call, and the
    step receives that opened dataset."""
    aeon = pytest.importorskip("aeon")
    pytest.importorskip("polyclr.pipelines.timeseries")
    from polyclr.pipelines.timeseries import data as D

    pipe = get_pipeline("timeseries")
    data = Path(os.path.dirname(aeon.__file__)) / "datasets" / "data" / "GunPoint" / "GunPoint_TRAIN.ts"
    calls: list[Path] = []
    real_open = D.open_dataset

    def counting(path, *args):
        calls.append(Path(path))
        return real_open(path, *args)

    monkeypatch.setattr(D, "open_dataset", counting)
    assert main(["check", "timeseries", "--data", str(data)]) == 0
    assert calls == [data]
    seen: list[object] = []
    real_pretrain = type(pipe).pretrain

    def spy(self, cfg, prepared, out, resume=False):
        seen.append(prepared)
        return real_pretrain(self, cfg, prepared, out, resume)

    monkeypatch.setattr(type(pipe), "pretrain", spy)
    calls.clear()
    code = main(["pretrain", "timeseries", "--data", str(data), "--out", str(tmp_path / "run"),
                 "--set", "engine.max_steps=2", "--set", "encoder.depth=2", "--set", "encoder.hidden_dims=8",
                 "--set", "encoder.output_dims=16", "--set", "engine.accelerator=cpu"])
    assert code == 0, capsys.readouterr().err
    assert calls == [data]
    assert isinstance(seen[0], Prepared) and seen[0].path == data


def test_prepared_report_is_what_check_prints():
    prep = Prepared(path=Path("x"), summary={"n": 3}, warnings=["w"])
    rep = prep.report()
    assert rep.summary == {"n": 3} and rep.warnings == ["w"]
    rep.summary["n"] = 4  # a copy: the opened dataset is not changed by its report
    assert prep.summary["n"] == 3


def test_demo_stats_are_mean_and_sample_std_of_equal_runs():
    from polyclr.pipelines.base import demo_stats

    s = demo_stats([0.5, 0.7, 0.9], [0.4, 0.4, 0.7])
    assert s["n"] == 3
    assert s["pretrained"] == pytest.approx(0.7) and s["pretrained_std"] == pytest.approx(0.2)
    assert s["random_init"] == pytest.approx(0.5) and s["random_init_std"] == pytest.approx(3 ** 0.5 / 10)
    with pytest.raises(ValueError, match="same, non-zero number of runs"):
        demo_stats([0.5, 0.6], [0.5])
