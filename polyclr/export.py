"""``polyclr export``: a pre-trained encoder as plain safetensors plus a model card.

The export folder is a model repository: ``README.md`` (the model card, Hugging Face format),
``encoder.safetensors`` and ``encoder_meta.json``. A volume encoder (a MONAI ``BasicUNet`` /
``UNet``) is also a MONAI bundle: ``configs/metadata.json``, ``configs/inference.json``
(``network_def``) and ``models/model.pt`` (the network's state dict), loadable with
``monai.bundle.load``.

Checkpoints are only ever read with safetensors or ``torch.load(weights_only=True)``
(:func:`polyclr.engine.safe_torch_load`): a pickle that would run code is refused, not run.
"""

from __future__ import annotations

import json
import math
import struct
import warnings
from pathlib import Path
from typing import Any

import torch
import yaml

from polyclr.engine import load_encoder, safe_torch_load, save_encoder, save_torch_atomic
from polyclr.errors import CheckpointError
from polyclr.model_cards import dataset_names, scrub_identifiers, write_model_card
from polyclr.rundir import write_json

ENCODER_FILE = "encoder.safetensors"
MODEL_CARD_FILE = "README.md"  # the model card: what a model repository shows
META_FILE = "encoder_meta.json"
# Where PretrainModule / FinetuneModule keep the encoder, tried in order when the checkpoint's
# meta does not name an "encoder_prefix".
DEFAULT_PREFIXES = ("objective.encoder.", "model.encoder.", "encoder.")


def _is_safetensors(path: Path) -> bool:
    """Sniff the safetensors layout: little-endian u64 header length, then a JSON object."""
    try:
        with path.open("rb") as fh:
            head = fh.read(9)
        size = path.stat().st_size
    except OSError:
        return False
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 0 < n <= size - 8 and head[8:9] == b"{"


def _resolve(checkpoint: Path) -> Path:
    if not checkpoint.exists():
        raise CheckpointError(checkpoint, "checkpoint not found")
    if checkpoint.is_dir():
        for cand in (checkpoint / ENCODER_FILE, checkpoint / "checkpoints" / "last.ckpt"):
            if cand.is_file():
                return cand
        found = sorted(p.relative_to(checkpoint).as_posix()
                       for p in [*checkpoint.glob("*/*.safetensors"), *checkpoint.glob("*/*/*.safetensors")])
        if found:  # a `polyclr run` directory holds one encoder per method: ask which one
            shown = ", ".join(found[:6]) + (", ..." if len(found) > 6 else "")
            raise CheckpointError(checkpoint, f"no {ENCODER_FILE} at the top of this run directory; "
                                              f"pass one of its encoders: {shown}")
        raise CheckpointError(
            checkpoint, f"run directory has no {ENCODER_FILE} or checkpoints/last.ckpt (was pretrain run here?)"
        )
    return checkpoint


def _extract_encoder(path: Path, ckpt: Any) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not isinstance(ckpt, dict):
        raise CheckpointError(path, f"not a checkpoint (top level is {type(ckpt).__name__}, expected a dict)")
    meta = ckpt.get("polyclr") if isinstance(ckpt.get("polyclr"), dict) else {}
    state = ckpt.get("state_dict", ckpt)
    if not isinstance(state, dict):
        raise CheckpointError(path, "not a checkpoint ('state_dict' is not a mapping)")
    tensors = {str(k): v for k, v in state.items() if torch.is_tensor(v)}
    if not tensors:
        raise CheckpointError(path, "not a checkpoint (no weight tensors found)")
    prefix = meta.get("encoder_prefix")
    prefixes = (prefix,) if isinstance(prefix, str) else DEFAULT_PREFIXES
    for pre in prefixes:
        enc = {k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)}
        if enc:
            return enc, dict(meta)
    if "state_dict" not in ckpt:  # a bare encoder state dict saved with torch.save
        return tensors, dict(meta)
    raise CheckpointError(
        path, f"no encoder weights under {', '.join(repr(p) for p in prefixes)} in its state_dict"
    )


def _read_encoder(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if _is_safetensors(path):
        return load_encoder(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Detected pickle protocol N" from arbitrary files
            ckpt = safe_torch_load(path)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch's unpickler raises many types on garbage
        problem = " ".join(f"{type(exc).__name__}: {exc}".split())[:160]
        raise CheckpointError(path, f"not a readable checkpoint ({problem})") from exc
    return _extract_encoder(path, ckpt)


def _run_dir_of(path: Path) -> Path:
    parent = path.parent
    return parent.parent if parent.name == "checkpoints" else parent


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def export_checkpoint(checkpoint: str | Path, out: str | Path) -> dict[str, Path]:
    """Export a pre-trained encoder: ``OUT/encoder.safetensors`` + ``OUT/README.md`` (model card),
    and for a MONAI volume network a MONAI bundle in the same folder (:func:`write_monai_bundle`).

    Args:
        checkpoint: a run directory (its ``encoder.safetensors``, else
            ``checkpoints/last.ckpt``), an ``encoder.safetensors`` written by
            :func:`polyclr.engine.save_encoder`, or a Lightning ``.ckpt`` (the encoder's weights
            are taken from ``state_dict`` under ``meta["encoder_prefix"]``, default
            ``objective.encoder.``).
        out: output directory (created).

    Returns:
        ``{"encoder": path, "model_card": path, "meta": path}`` (+ ``"bundle_metadata"`` for a
        MONAI bundle).

    Raises:
        CheckpointError: missing file, a pickle that needs code to load (refused, never run),
            not a checkpoint, no encoder weights, or non-finite weights.
    """
    src = _resolve(Path(checkpoint))
    tensors, meta = _read_encoder(src)
    if not tensors:
        raise CheckpointError(src, "checkpoint holds no tensors")
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(src, f"weight {name!r} contains NaN or Inf")
    run_dir = _run_dir_of(src)
    metrics = _read_json(run_dir / "metrics.json") or {}
    if "config" not in meta and (run_dir / "config.yaml").is_file():
        try:
            cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
            if isinstance(cfg, dict):
                meta["config"] = cfg
        except (OSError, yaml.YAMLError):
            pass
    env = _read_json(run_dir / "environment.json") or {}
    if env.get("commit") and "commit" not in meta:
        meta["commit"] = env["commit"]
    from polyclr import __version__

    meta.setdefault("polyclr_version", __version__)
    names = dataset_names(meta, metrics)  # base names, taken before paths are scrubbed
    if names:
        meta["datasets"] = names
    clean_meta, removed = scrub_identifiers(meta)
    clean_metrics, removed_m = scrub_identifiers(metrics)
    metrics_numbers = {k: v for k, v in clean_metrics.items()
                       if not (isinstance(v, float) and not math.isfinite(v))}

    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise CheckpointError(out_dir, "output path exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    enc_path = save_encoder(out_dir / ENCODER_FILE, tensors, clean_meta)
    meta_path = write_json(out_dir / META_FILE, clean_meta)
    kind = "a safetensors encoder" if src.suffix == ".safetensors" else "a Lightning checkpoint"
    card = write_model_card(
        out_dir / MODEL_CARD_FILE, clean_meta, metrics_numbers,
        encoder_file=ENCODER_FILE, keys=sorted(tensors),
        n_parameters=sum(int(t.numel()) for t in tensors.values()),
        source=kind, scrubbed=removed + removed_m,
    )
    result = {"encoder": enc_path, "model_card": card, "meta": meta_path}
    bundle = write_monai_bundle(out_dir, tensors, clean_meta)
    if bundle is not None:
        result["bundle_metadata"] = bundle
    return result


_MONAI_NETS = {"monai.networks.nets.BasicUNet": ("spatial_dims", "in_channels", "out_channels", "features",
                                                 "dropout"),
               "monai.networks.nets.UNet": ("spatial_dims", "in_channels", "out_channels", "channels",
                                            "strides", "num_res_units", "dropout")}


def write_monai_bundle(out_dir: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path | None:
    """Write ``configs/metadata.json``, ``configs/inference.json`` and ``models/model.pt`` when
    ``meta`` describes a MONAI ``BasicUNet`` / ``UNet`` (the volume pipeline's networks, whose
    weights sit under ``unet.``); returns the metadata path, or None for other encoders."""
    enc = meta.get("encoder") if isinstance(meta.get("encoder"), dict) else {}
    target = enc.get("architecture")
    if meta.get("modality") != "volume" or target not in _MONAI_NETS:
        return None
    state = {k[len("unet."):]: v for k, v in tensors.items() if k.startswith("unet.")} or tensors
    args = {k: enc[k] for k in _MONAI_NETS[target] if k in enc}
    inp = meta.get("input") if isinstance(meta.get("input"), dict) else {}
    dims = int(args.get("spatial_dims", 2))
    shape = inp.get("slice_size") if dims == 2 else inp.get("patch_size")
    classes = int(args.get("out_channels", 1))
    objective = meta.get("objective")
    strategy = objective.get("strategy") if isinstance(objective, dict) else objective
    from polyclr import __version__

    metadata = {
        "version": "0.1.0", "changelog": {"0.1.0": "exported by polyclr"},
        "monai_version": _version("monai"), "pytorch_version": torch.__version__.split("+")[0],
        "numpy_version": _version("numpy"), "required_packages_version": {"polyclr": __version__},
        "name": f"polyclr {strategy or 'pre-trained'} {target.rsplit('.', 1)[1]}",
        "task": "initialisation for segmentation fine-tuning (contrastive pre-training)",
        "description": "Network pre-trained by polyclr; see README.md (the model card) for data, input "
                       "format and limitations. Not a medical device.",
        "authors": "polyclr", "copyright": "see README.md", "license": meta.get("license", "other"),
        "network_data_format": {
            "inputs": {"image": {
                "type": "image", "format": "magnitude", "modality": str(inp.get("modality", "see README.md")),
                "num_channels": int(args.get("in_channels", 1)), "spatial_shape": list(shape or []),
                "dtype": "float32", "value_range": [0, 1], "is_patch_data": dims == 3,
                "channel_def": {"0": "image"}}},
            "outputs": {"pred": {
                "type": "image", "format": "segmentation", "num_channels": classes,
                "spatial_shape": list(shape or []), "dtype": "float32", "value_range": [],
                "is_patch_data": dims == 3, "channel_def": {str(i): f"class_{i}" for i in range(classes)}}},
        },
        "polyclr_input": inp,
    }
    (out_dir / "models").mkdir(parents=True, exist_ok=True)
    save_torch_atomic({k: v.contiguous() for k, v in state.items()}, out_dir / "models" / "model.pt")
    write_json(out_dir / "configs" / "inference.json", {"network_def": {"_target_": target, **args}})
    return write_json(out_dir / "configs" / "metadata.json", metadata)


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def load_exported_encoder(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Weights and metadata of an exported encoder (a directory from :func:`export_checkpoint`
    or the ``.safetensors`` file itself).

    Raises:
        CheckpointError: missing or not a safetensors file.
    """
    p = Path(path)
    if p.is_dir():
        p = p / ENCODER_FILE
    return load_encoder(p)


__all__ = ["ENCODER_FILE", "MODEL_CARD_FILE", "export_checkpoint", "load_exported_encoder",
           "write_monai_bundle"]
