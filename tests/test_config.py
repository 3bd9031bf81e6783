"""Typed configs: defaults < YAML < --set; unknown keys and bad types name the key."""

import dataclasses
import importlib
from dataclasses import dataclass, field

import pytest

from polyclr.config import parse_set, resolve_config, to_yaml
from polyclr.engine import EngineConfig
from polyclr.errors import ConfigError


@dataclass
class Inner:
    levels: list[str] = field(default_factory=lambda: ["sample"])
    weight: float = 1.0


@dataclass
class Cfg:
    engine: EngineConfig = field(default_factory=EngineConfig)
    inner: Inner = field(default_factory=Inner)
    name: str = "x"
    fraction: float | None = None


def test_precedence_defaults_yaml_set(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("engine:\n  max_epochs: 3\n  lr: 0.01\ninner:\n  weight: 2\n")
    cfg = resolve_config(Cfg, y, ["engine.max_epochs=5", "inner.levels=[trial, patient]"])
    assert cfg.engine.max_epochs == 5 and cfg.engine.lr == 0.01
    assert cfg.inner.weight == 2.0 and cfg.inner.levels == ["trial", "patient"]
    assert cfg.engine.batch_size == EngineConfig().batch_size
    assert "max_epochs: 5" in to_yaml(cfg)


def test_unknown_key_is_named(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("engine:\n  max_epoch: 3\n")
    with pytest.raises(ConfigError, match="engine.max_epoch"):
        resolve_config(Cfg, y)
    with pytest.raises(ConfigError, match="'bogus'"):
        resolve_config(Cfg, None, ["bogus=1"])


def test_bad_type_is_named():
    with pytest.raises(ConfigError, match="engine.max_epochs"):
        resolve_config(Cfg, None, ["engine.max_epochs=many"])
    assert resolve_config(Cfg, None, ["fraction=null"]).fraction is None
    assert resolve_config(Cfg, None, ["fraction=0.1"]).fraction == 0.1


def test_parse_set_requires_equals():
    with pytest.raises(ConfigError):
        parse_set(["engine.max_epochs"])


def test_bad_yaml_names_file(tmp_path):
    y = tmp_path / "bad.yaml"
    y.write_text("engine: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        resolve_config(Cfg, y)


def test_one_split_config_shared_by_every_pipeline():
    from polyclr.splits import SplitConfig

    fields = {f.name for f in dataclasses.fields(SplitConfig)}
    for modality, section in (("volume", "split"), ("timeseries", "data"), ("audio", "data")):
        pytest.importorskip(f"polyclr.pipelines.{modality}")
        pipe = importlib.import_module(f"polyclr.pipelines.{modality}").PIPELINE
        sub = getattr(pipe.config_class(), section)
        assert isinstance(sub, SplitConfig), modality
        assert fields <= {f.name for f in dataclasses.fields(sub)}


def test_renamed_volume_split_keys_still_accepted(tmp_path):
    from polyclr.pipelines.volume.config import VolumeConfig

    with pytest.warns(FutureWarning, match="finetune.test_fraction' is now 'split.test_size'"):
        cfg = resolve_config(VolumeConfig, None, ["finetune.test_fraction=0.4", "finetune.split_seed=3"])
    assert (cfg.split.test_size, cfg.split.split_seed) == (0.4, 3)
    both = resolve_config(VolumeConfig, None, ["split.test_size=0.3"])
    assert both.split.test_size == 0.3
