"""Encoder export: round trip through plain safetensors, Lightning checkpoints, refusal of
pickle payloads, identifier scrubbing, and the ``polyclr export`` command."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
import yaml
from huggingface_hub import ModelCard
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from polyclr.cards import parse_card
from polyclr.cli import main
from polyclr.engine import EngineConfig, PretrainModule, fit, make_loader, save_encoder
from polyclr.errors import CheckpointError
from polyclr.export import export_checkpoint, load_exported_encoder


class TinyEncoder(nn.Module):
    """Conv + norm (with buffers) + linear head, so every kind of tensor is exported."""

    def __init__(self, in_channels: int = 2, width: int = 8, out_dim: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, width, 3, padding=1)
        self.norm = nn.BatchNorm1d(width)
        self.head = nn.Linear(width, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.norm(self.conv(x))).mean(-1))


META = {
    "modality": "timeseries",
    "encoder": {"architecture": f"{__name__}.TinyEncoder", "kwargs": {"in_channels": 2, "width": 8, "out_dim": 4}},
    "input": {"channels": 2, "sampling_rate_hz": 250, "length": 16, "normalisation": "per-channel z-score"},
    "objective": "comet",
    "dataset": "ecg_simulator",
    "config": {"engine": {"seed": 3}, "data_path": "/data/DOE_JOHN_1970/ecg.npz"},
}


def _trained_encoder() -> TinyEncoder:
    torch.manual_seed(0)
    enc = TinyEncoder()
    enc.train()
    enc(torch.randn(16, 2, 16))  # moves BatchNorm running stats away from their defaults
    return enc.eval()


def test_round_trip_plain_safetensors_gives_identical_outputs(tmp_path):
    enc = _trained_encoder()
    run = tmp_path / "run"
    save_encoder(run / "encoder.safetensors", enc.state_dict(), META)
    (run / "metrics.json").write_text(json.dumps({"probe": {"auroc": 0.875}, "wall_seconds": 1.5}))
    res = export_checkpoint(run, tmp_path / "export")
    assert res["encoder"] == tmp_path / "export" / "encoder.safetensors"
    # Plain torch + safetensors, as the model card says; no polyclr involved.
    state = load_file(str(res["encoder"]))
    with safe_open(str(res["encoder"]), framework="pt") as fh:
        meta = json.loads(fh.metadata()["polyclr"])
    fresh = TinyEncoder(**meta["encoder"]["kwargs"]).eval()
    fresh.load_state_dict(state)
    x = torch.randn(5, 2, 16)
    with torch.no_grad():
        assert torch.equal(fresh(x), enc(x))
    sd, meta2 = load_exported_encoder(tmp_path / "export")
    assert set(sd) == set(enc.state_dict()) and meta2 == meta
    front, body = parse_card(res["model_card"])
    assert front["modality"] == "timeseries" and front["architecture"] == f"{__name__}.TinyEncoder"
    assert front["encoder_kwargs"] == {"in_channels": 2, "width": 8, "out_dim": 4}
    assert front["input"]["sampling_rate_hz"] == 250 and front["datasets"] == ["ecg_simulator"]
    assert front["metrics"] == ["probe.auroc", "wall_seconds"]  # names; values in the card's table
    assert "| probe.auroc | 0.875 |" in body
    assert res["model_card"].name == "README.md" and ModelCard.load(res["model_card"]).data.library_name == "polyclr"
    assert "bundle_metadata" not in res and not (tmp_path / "export" / "configs").exists()
    assert front["parameters"] == sum(t.numel() for t in enc.state_dict().values())  # incl. BN buffers
    assert "load_file(\"encoder.safetensors\")" in body and "## Limitations" in body
    # The card's own loading recipe, executed as written, rebuilds the same encoder.
    code = body.split("## How to load")[1].split("```python\n")[1].split("```")[0]
    assert "polyclr" not in code.replace('metadata()["polyclr"]', "")
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(res["encoder"].parent)
    try:
        exec(code, namespace)  # noqa: S102 - our own generated snippet
    finally:
        os.chdir(cwd)
    with torch.no_grad():
        assert torch.equal(namespace["encoder"](x), enc(x))


def test_identifiers_and_paths_never_reach_the_exported_files(tmp_path):
    meta = dict(META)
    meta["config"] = {**META["config"], "dicom": {"PatientName": "DOE^JOHN", "StudyInstanceUID": "1.2.3.999"}}
    meta.update(patient_name="DOE^JOHN", birth_date="19700101", mrn="MRN-4711", accession_number="ACC-0815")
    run = tmp_path / "run"
    save_encoder(run / "encoder.safetensors", _trained_encoder().state_dict(), meta)
    (run / "metrics.json").write_text(json.dumps({"auroc": 0.5, "patient_id": "P-0042"}))
    res = export_checkpoint(run, tmp_path / "export")
    for path in (tmp_path / "export").iterdir():
        blob = path.read_bytes()
        for secret in (b"DOE", b"19700101", b"MRN-4711", b"ACC-0815", b"1.2.3.999", b"P-0042", b"/data/"):
            assert secret not in blob, (path.name, secret)
    _, exported_meta = load_exported_encoder(tmp_path / "export")
    assert exported_meta["config"]["data_path"] == "<path removed>"
    assert exported_meta["config"]["engine"] == {"seed": 3}
    assert "(8 removed)" in res["model_card"].read_text()


def _lightning_run(tmp_path):
    class Objective(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = TinyEncoder()
            self.proj = nn.Linear(4, 4)

        def forward(self, batch):
            (x,) = batch
            z = self.proj(self.encoder(x))
            return (z - z.mean(0)).pow(2).mean()

    cfg = EngineConfig(max_epochs=1, batch_size=8, accelerator="cpu", logger="none")
    data = torch.utils.data.TensorDataset(torch.randn(16, 2, 16))
    module = PretrainModule(Objective(), meta={**META, "encoder_prefix": "objective.encoder."})
    out = tmp_path / "lrun"
    fit(module, make_loader(data, 8, seed=0, shuffle=True), cfg, out)
    return module, out


def test_lightning_checkpoint_exports_the_encoder_only(tmp_path):
    module, out = _lightning_run(tmp_path)
    ckpt = out / "checkpoints" / "last.ckpt"
    assert ckpt.is_file() and not (out / "encoder.safetensors").exists()
    res = export_checkpoint(ckpt, tmp_path / "export")
    state = load_file(str(res["encoder"]))
    assert set(state) == set(module.objective.encoder.state_dict())  # no projection head
    fresh = TinyEncoder().eval()
    fresh.load_state_dict(state)
    enc = module.objective.encoder.eval()
    x = torch.randn(3, 2, 16)
    with torch.no_grad():
        assert torch.equal(fresh(x), enc(x))
    # A run directory without encoder.safetensors falls back to checkpoints/last.ckpt.
    res2 = export_checkpoint(out, tmp_path / "export2")
    assert load_file(str(res2["encoder"])).keys() == state.keys()


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("writer", ["pickle", "torch_zip", "as_safetensors_name"])
def test_pickle_payload_is_refused_and_never_runs(tmp_path, writer):
    marker = tmp_path / "PWNED"
    payload = {"state_dict": {"w": torch.zeros(2)}, "evil": _Payload(str(marker))}
    path = tmp_path / ("evil.safetensors" if writer == "as_safetensors_name" else "evil.ckpt")
    if writer == "torch_zip":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(CheckpointError, match="evil"):
        export_checkpoint(path, tmp_path / "export")
    assert not marker.exists()
    assert not (tmp_path / "export").exists()


def test_bad_inputs_are_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        export_checkpoint(tmp_path / "missing.ckpt", tmp_path / "o")
    with pytest.raises(CheckpointError, match="no encoder.safetensors"):
        export_checkpoint(tmp_path, tmp_path / "o")
    multi = tmp_path / "multi"
    for name in ("encoders/GR.safetensors", "runs/clip/encoder.safetensors"):
        save_encoder(multi / name, {"w": torch.ones(1)}, {})
    with pytest.raises(CheckpointError, match="pass one of its encoders: encoders/GR.safetensors, "
                                              "runs/clip/encoder.safetensors"):
        export_checkpoint(multi, tmp_path / "o")
    (tmp_path / "text.ckpt").write_text("hello")
    with pytest.raises(CheckpointError, match="text.ckpt"):
        export_checkpoint(tmp_path / "text.ckpt", tmp_path / "o")
    torch.save([1, 2, 3], tmp_path / "list.ckpt")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        export_checkpoint(tmp_path / "list.ckpt", tmp_path / "o")
    torch.save({"state_dict": {"head.w": torch.ones(2)}, "polyclr": {}}, tmp_path / "nohead.ckpt")
    with pytest.raises(CheckpointError, match="no encoder weights"):
        export_checkpoint(tmp_path / "nohead.ckpt", tmp_path / "o")
    save_encoder(tmp_path / "nan" / "encoder.safetensors", {"w": torch.tensor([1.0, float("nan")])}, {})
    with pytest.raises(CheckpointError, match="NaN"):
        export_checkpoint(tmp_path / "nan", tmp_path / "o")
    assert not (tmp_path / "o").exists()
    with pytest.raises(CheckpointError, match="not found"):
        load_exported_encoder(tmp_path / "nowhere")


def test_cli_export_success_and_refusals(tmp_path, capsys):
    run = tmp_path / "run"
    save_encoder(run / "encoder.safetensors", _trained_encoder().state_dict(), META)
    (run / "config.yaml").write_text(yaml.safe_dump({"engine": {"seed": 3}}))
    out = tmp_path / "export"
    assert main(["export", "--checkpoint", str(run), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out / "encoder.safetensors") in printed and str(out / "README.md") in printed

    assert main(["export", "--checkpoint", str(tmp_path / "nope.ckpt"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.ckpt" in err and err.startswith("error:")

    marker = tmp_path / "PWNED"
    (tmp_path / "evil.ckpt").write_bytes(pickle.dumps(_Payload(str(marker))))
    assert main(["export", "--checkpoint", str(tmp_path / "evil.ckpt"), "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "evil.ckpt" in err and "refused" in err
    assert not marker.exists() and not (tmp_path / "y").exists()


def _run_card_snippet(card_path):
    body = card_path.read_text().split("## How to load")[1]
    code = body.split("```python\n")[1].split("```")[0]
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(card_path.parent)
    try:
        exec(code, namespace)  # noqa: S102 - our own generated snippet
    finally:
        os.chdir(cwd)
    return namespace["encoder"]


@pytest.mark.parametrize("layout", ["wrapped_single_group", "two_towers"])
def test_card_snippet_selects_the_right_weight_group(tmp_path, layout):
    torch.manual_seed(1)
    inner = nn.Linear(3, 2)
    if layout == "wrapped_single_group":  # like SegUNet(self.unet = monai BasicUNet)
        state = {f"unet.{k}": v for k, v in inner.state_dict().items()}
        modality = "volume"
    else:  # like the audio pipeline: audio.* and text.* towers in one file
        state = {f"audio.{k}": v for k, v in inner.state_dict().items()}
        state.update({f"text.{k}": v for k, v in nn.Linear(5, 2).state_dict().items()})
        modality = "audio"
    meta = {"modality": modality,
            "encoder": {"architecture": "torch.nn.Linear", "in_features": 3, "out_features": 2}}
    run = tmp_path / "run"
    save_encoder(run / "encoder.safetensors", state, meta)
    res = export_checkpoint(run, tmp_path / "export")
    rebuilt = _run_card_snippet(res["model_card"])
    x = torch.randn(4, 3)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), inner(x))


def test_volume_pipeline_encoder_rebuilds_as_plain_monai_basicunet(tmp_path):
    """The volume pipeline's encoder file (SegUNet meta) -> export -> the card's recipe builds a
    bare MONAI BasicUNet that gives bit-identical logits."""
    pytest.importorskip("monai")
    train = pytest.importorskip("polyclr.pipelines.volume.train")
    from polyclr.pipelines.volume.config import VolumeConfig

    cfg = VolumeConfig()
    cfg.net.features = [4, 4, 8, 8, 16, 4]
    torch.manual_seed(0)
    net = train.build_net(cfg, 3)
    run = tmp_path / "run"
    save_encoder(run / "encoder.safetensors", net.state_dict(), train.encoder_meta(cfg, net, "GD+LD", ["encoder"]))
    res = export_checkpoint(run, tmp_path / "export")
    assert "from monai.networks.nets import BasicUNet" in res["model_card"].read_text()
    rebuilt = _run_card_snippet(res["model_card"])
    x = torch.randn(2, 1, 32, 32)
    net.eval()
    with torch.no_grad():
        assert torch.equal(rebuilt(x), net.unet(x))


@pytest.mark.parametrize("architecture", ["BasicUNet", "UNet"])
def test_volume_export_loads_as_a_monai_bundle(tmp_path, architecture):
    """The export folder of a volume encoder is a MONAI bundle: ``monai.bundle.load`` builds the
    network from configs/inference.json and loads models/model.pt; same logits as the original."""
    pytest.importorskip("monai")
    from monai.bundle import load

    train = pytest.importorskip("polyclr.pipelines.volume.train")
    from polyclr.pipelines.volume.config import VolumeConfig

    cfg = VolumeConfig()
    cfg.net.architecture = architecture
    cfg.net.features, cfg.net.channels, cfg.net.num_res_units = [4, 4, 8, 8, 16, 4], [4, 8, 16], 1
    torch.manual_seed(0)
    net = train.build_net(cfg, 3).eval()
    run = tmp_path / "run"
    save_encoder(run / "encoder.safetensors", net.state_dict(), train.encoder_meta(cfg, net, "GD+LD", ["encoder"]))
    export = tmp_path / "bundles" / "volume_encoder"
    res = export_checkpoint(run, export)
    meta = json.loads((export / "configs" / "metadata.json").read_text())
    assert res["bundle_metadata"] == export / "configs" / "metadata.json"
    assert meta["network_data_format"]["inputs"]["image"]["spatial_shape"] == list(cfg.data.slice_size)
    assert meta["network_data_format"]["outputs"]["pred"]["num_channels"] == 3
    with pytest.warns(UserWarning):  # MONAI's notice that a bundle config is code to trust
        bundle_net = load("volume_encoder", bundle_dir=tmp_path / "bundles", workflow_type="inference",
                          device="cpu", source="github")
    assert type(bundle_net) is type(net.unet)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(bundle_net.eval()(x), net.unet(x))


def test_timeseries_named_architecture_rebuilds_through_the_factory(tmp_path):
    """Time-series meta names an architecture ("ts2vec") plus in_channels / seq_len / kwargs, as
    the pipeline writes it; the card's recipe rebuilds it through build_encoder."""
    encoders = pytest.importorskip("polyclr.modalities.timeseries.encoders")
    spec = {"name": "ts2vec", "in_channels": 2, "seq_len": 32,
            "kwargs": {"output_dims": 8, "hidden_dims": 8, "depth": 2}}
    torch.manual_seed(0)
    enc = encoders.build_encoder(spec["name"], spec["in_channels"], spec["seq_len"], **spec["kwargs"]).eval()
    run = tmp_path / "run"
    save_encoder(run / "encoder.safetensors", enc.state_dict(), {"modality": "timeseries", "encoder": spec})
    res = export_checkpoint(run, tmp_path / "export")
    rebuilt = _run_card_snippet(res["model_card"]).eval()
    x = torch.randn(3, 2, 32)
    with torch.no_grad():
        assert torch.equal(encoders.instance_embedding(rebuilt, x), encoders.instance_embedding(enc, x))
