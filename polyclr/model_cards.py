"""Model cards for exported encoders, and the identifier scrub applied to everything exported.

Cards are ``huggingface_hub.ModelCard`` objects (metadata through ``ModelCardData``: a licence id,
``metrics`` as a list of metric names, the values in the card's table), so an export folder with
its ``README.md`` is a valid model repository. Used by :func:`polyclr.export.export_checkpoint`;
re-exported from :mod:`polyclr.cards`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import ModelCard, ModelCardData

from polyclr.rundir import atomic_write_text

# Key names that may carry direct patient identifiers (DICOM PS3.15 basic profile spirit),
# compared after lower-casing and removing everything but letters and digits.
_IDENTIFIER_KEYS = (
    "patientname", "patientsname", "patientid", "patientsid", "patientbirthdate",
    "patientsbirthdate", "birthdate", "dateofbirth", "dob", "mrn", "medicalrecordnumber",
    "accession", "accessionnumber", "ssn", "socialsecuritynumber", "patientaddress",
    "patientsaddress", "address", "phone", "telephone", "email", "referringphysicianname",
    "referringphysician", "institutionname", "institutionaddress", "otherpatientids",
    "studyinstanceuid", "seriesinstanceuid", "sopinstanceuid", "studydate", "acquisitiondate",
    "seriesdate", "contentdate", "studytime", "studyid",
)
_IDENTIFIER_SUBSTRINGS = ("patientname", "birthdate", "dateofbirth", "accession", "mrn",
                          "medicalrecord", "socialsecurity", "instanceuid")

def _norm_key(key: Any) -> str:
    return re.sub(r"[^a-z0-9]", "", str(key).lower())


def is_identifier_key(key: Any) -> bool:
    """Whether a key name looks like it holds a direct patient identifier."""
    k = _norm_key(key)
    return k in _IDENTIFIER_KEYS or any(s in k for s in _IDENTIFIER_SUBSTRINGS)


def _looks_like_path(value: str) -> bool:
    return bool(re.match(r"^(/|~|[A-Za-z]:[\\/]|\\\\)", value)) or value.startswith(("./", "../"))


def scrub_identifiers(obj: Any, _trail: str = "") -> tuple[Any, list[str]]:
    """Remove identifier-like keys and local file paths from nested metadata.

    Keys that look like patient identifiers (``patient_name``, ``birth_date``, ``mrn``,
    ``accession_number``, DICOM UIDs and dates, ...) are dropped; string values that are
    file-system paths (which can embed names or record numbers) are replaced by
    ``"<path removed>"``. Over-scrubbing is preferred to leaking.

    Returns:
        The cleaned copy and the dotted names of what was removed or replaced.
    """
    removed: list[str] = []
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            name = f"{_trail}.{k}" if _trail else str(k)
            if is_identifier_key(k):
                removed.append(name)
                continue
            out[k], sub = scrub_identifiers(v, name)
            removed.extend(sub)
        return out, removed
    if isinstance(obj, list | tuple):
        items = []
        for i, v in enumerate(obj):
            clean, sub = scrub_identifiers(v, f"{_trail}[{i}]")
            items.append(clean)
            removed.extend(sub)
        return items, removed
    if isinstance(obj, str) and _looks_like_path(obj):
        return "<path removed>", [_trail]
    return obj, removed

def encoder_spec(meta: Mapping[str, Any]) -> tuple[str, dict[str, Any], str | None]:
    """Architecture name, constructor arguments and class path (if recorded) from encoder meta.

    Accepts ``meta["encoder"]`` as ``{"name"|"architecture"|"class": ..., "kwargs"|"args":
    {...}, "module"|"import_path": ...}``; other keys beside the name (``in_channels``...) are
    constructor arguments too. A dotted name (``monai.networks.nets.BasicUNet``) is a class path.
    """
    enc = meta.get("encoder")
    if isinstance(enc, str):
        enc = {"name": enc}
    if not isinstance(enc, Mapping):
        return str(meta.get("architecture", "unknown")), {}, None
    name_keys = ("name", "architecture", "class", "arch", "type")
    path_keys = ("module", "import_path", "target", "class_path")
    nested_keys = ("kwargs", "args", "init_args", "params")
    name = next((str(enc[k]) for k in name_keys if k in enc), "unknown")
    kwargs = {k: v for k, v in enc.items() if k not in name_keys + path_keys + nested_keys}
    for k in nested_keys:
        if isinstance(enc.get(k), Mapping):
            kwargs.update(enc[k])
    module = next((str(enc[k]) for k in path_keys if k in enc), None)
    if module is None and "." in name and not name.startswith("."):
        module, name = name, name.rsplit(".", 1)[1]
    return name, kwargs, module


_SUFFIXES = (".nii.gz", ".nii", ".npz", ".npy", ".ts", ".csv", ".parquet", ".tsv", ".zip", ".tar.gz")
# A name is dropped if it looks like it could carry a person's name or a record number.
_RISKY_NAME = re.compile(r"\^|\d{6,}|@")


def dataset_name(value: str) -> str | None:
    """A dataset's display name from a name or path: the last path component without its
    file suffix; ``None`` if it looks identifying (DICOM ``^`` names, 6+ digit numbers)."""
    text = value.rstrip("/\\").replace("\\", "/")
    base = text.rsplit("/", 1)[-1]
    for suf in _SUFFIXES:
        if base.lower().endswith(suf):
            base = base[: -len(suf)]
            break
    base = base.strip()
    if not base or base == "<path removed>" or _RISKY_NAME.search(base):
        return None
    return base


def dataset_names(*sources: Mapping[str, Any] | None) -> list[str]:
    """Dataset names recorded in metadata / metrics (keys ``datasets``, ``dataset``,
    ``training_data``, ``data``; strings, lists, or dicts with a ``name``), paths reduced to
    their base names by :func:`dataset_name`."""
    names: list[str] = []
    for src in sources:
        if not isinstance(src, Mapping):
            continue
        for key in ("datasets", "dataset", "training_data", "data"):
            value = src.get(key)
            values = value if isinstance(value, list | tuple) else [value]
            for v in values:
                if isinstance(v, Mapping):
                    v = v.get("name") or v.get("dataset")
                name = dataset_name(v) if isinstance(v, str) else None
                if name and name not in names:
                    names.append(name)
    return names


def _flat_numbers(obj: Any, prefix: str = "") -> dict[str, float | int]:
    if isinstance(obj, Mapping):
        out: dict[str, float | int] = {}
        for k, v in obj.items():
            out.update(_flat_numbers(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, bool) or not isinstance(obj, int | float):
        return {}
    if isinstance(obj, float) and not math.isfinite(obj):
        return {}
    return {prefix: obj}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


# Modalities whose encoder meta names an architecture (not a class path) built by a factory
# ``factory(name=..., **kwargs)``.
_DEFAULT_BUILDERS = {"timeseries": ("polyclr.modalities.timeseries.encoders", "build_encoder")}


def _load_snippet(arch: str, kwargs: dict[str, Any], module: str | None, modality: str,
                  keys: list[str], encoder_file: str) -> list[str]:
    """Plain torch + safetensors code that rebuilds the encoder (selects a key group if needed)."""
    groups: dict[str, int] = {}
    for k in keys:
        groups[k.split(".", 1)[0]] = groups.get(k.split(".", 1)[0], 0) + 1
    lines = ["```python", "import json", "from safetensors import safe_open",
             "from safetensors.torch import load_file"]
    if module and "." in module:
        lines.append(f"from {module.rsplit('.', 1)[0]} import {arch}")
    lines += ["", f'state_dict = load_file("{encoder_file}")  # tensors only, nothing is unpickled',
              f'with safe_open("{encoder_file}", framework="pt") as f:',
              '    meta = json.loads(f.metadata()["polyclr"])  # architecture, kwargs, input format']
    group = modality if modality in groups and len(groups) > 1 else (
        next(iter(groups)) if len(groups) == 1 and all("." in k for k in keys) else None)
    if group is not None:
        lines.append(f'state_dict = {{k[len("{group}."):]: v for k, v in state_dict.items()'
                     f' if k.startswith("{group}.")}}')
    builder = None if module else _DEFAULT_BUILDERS.get(modality)
    if module:
        lines.append(f"encoder = {arch}(**{kwargs!r})")
    elif builder is not None:  # named (not class-path) architectures built by polyclr's factory
        lines.append(f"from {builder[0]} import {builder[1]}  # the architecture code")
        lines.append(f"encoder = {builder[1]}(**{({'name': arch, **kwargs})!r})")
    else:
        lines.append(f"encoder = ...  # build the {arch!r} architecture with the arguments above")
    lines += ["encoder.load_state_dict(state_dict)", "encoder.eval()", "```"]
    return lines


def model_card_text(
    meta: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    *,
    encoder_file: str = "encoder.safetensors",
    keys: list[str] | tuple[str, ...] = (),
    n_parameters: int | None = None,
    source: str | None = None,
    scrubbed: list[str] | tuple[str, ...] = (),
) -> str:
    """Markdown model card (``ModelCardData`` front matter + sections) for an exported encoder.

    Only ``meta`` (already scrubbed by the caller), ``metrics`` and the tensor names ``keys``
    are used: nothing patient-level is ever read. ``source`` describes the checkpoint kind.
    """
    modality = str(meta.get("modality", "unknown"))
    arch, kwargs, module = encoder_spec(meta)
    objective = meta.get("objective", "not recorded")
    datasets = dataset_names(meta)
    input_fmt = dict(meta["input"]) if isinstance(meta.get("input"), Mapping) else {}
    numbers = _flat_numbers(metrics or {})
    extra: dict[str, Any] = {
        "modality": modality, "architecture": module or arch, "encoder_kwargs": kwargs,
        "objective": objective, "input": input_fmt,
        "weights_format": "safetensors", "weights_file": encoder_file,
    }
    if n_parameters is not None:
        extra["parameters"] = int(n_parameters)
    extra.update({k: meta[k] for k in ("polyclr_version", "commit") if k in meta})
    license_id = str(meta.get("license") or "other")
    if license_id == "other":
        extra["license_name"] = "training-data-terms"
    data = ModelCardData(
        library_name="polyclr", pipeline_tag="feature-extraction", license=license_id,
        tags=["polyclr", "contrastive-learning", modality, "medical"],
        datasets=datasets or None, metrics=list(numbers) or None, **extra)
    groups: dict[str, int] = {}
    for k in keys:
        groups[k.split(".", 1)[0]] = groups.get(k.split(".", 1)[0], 0) + 1
    lines = ["---", data.to_yaml().rstrip(), "---", "",
             f"# {modality} encoder: {arch}", "",
             f"A `{arch}` encoder pre-trained by polyclr with a contrastive objective on {modality}"
             f" data, exported as plain tensors in `{encoder_file}` (safetensors, no pickle)."
             + (f" Exported from {source}." if source else ""),
             "", "## Model details", "",
             f"- Architecture: `{module or arch}`",
             f"- Constructor arguments: `{kwargs}`",
             f"- Objective: `{objective}`"]
    if n_parameters is not None:
        lines.append(f"- Parameters: {n_parameters:,} in {len(keys)} tensors")
    if len(groups) > 1 or (len(groups) == 1 and all("." in k for k in keys)):
        lines.append("- Weight groups: " + ", ".join(f"`{g}.` ({n})" for g, n in groups.items()))
    lines += ["", "## Training data", ""]
    lines += [f"- {d} (see its card in polyclr's `data_cards/`, if it is a reference dataset)"
              for d in datasets] or ["- Not recorded in the checkpoint metadata."]
    lines += ["", "## Input format", ""]
    lines += [f"- {k}: `{v}`" for k, v in input_fmt.items()] or ["- Not recorded in the checkpoint metadata."]
    lines += ["", "## Metrics", ""]
    if numbers:
        lines += ["Measured by the run that produced this encoder (its `metrics.json`).", "",
                  "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in numbers.items()]
    else:
        lines.append("No `metrics.json` was found beside the checkpoint.")
    lines += ["", "## How to load (plain PyTorch + safetensors, no pickle)", ""]
    lines += _load_snippet(arch, kwargs, module, modality, list(keys), encoder_file)
    lines += [
        "", "With polyclr installed: `state_dict, meta = polyclr.export.load_exported_encoder(DIR)`.",
        "", "## Intended use", "",
        str(meta.get("intended_use") or
            f"Research: initialising {modality} models for label-efficient fine-tuning, and"
            " feature extraction for probes, retrieval and analysis. Not a medical device; not"
            " validated for diagnosis or any clinical decision."),
        "", "## Limitations", "",
        str(meta.get("limitations") or
            "Pre-trained only on the data listed above; behaviour on other scanners, sites,"
            " recording devices or populations is unknown. Metrics come from one run and one"
            " held-out split (patient-disjoint when the run said so). Inputs must follow the"
            " input format above (channels, spacing / sample rate, intensity normalisation)."),
        "", "## License", "",
        f"`{license_id}`" + (": the terms of the training data apply to these weights (see the"
                             " data's licence; polyclr's code is Apache-2.0)." if license_id == "other"
                             else "."),
        "", "## Privacy", "",
        "The card and the weights' metadata hold only architecture, configuration, dataset"
        " names and aggregate metrics. Identifier-like keys and local file paths were removed"
        " before export" + (f" ({len(scrubbed)} removed)." if scrubbed else " (none present)."),
    ]
    config = meta.get("config")
    if isinstance(config, Mapping) and config:
        lines += ["", "## Training configuration", "", "```yaml",
                  yaml.safe_dump(dict(config), sort_keys=False).rstrip(), "```"]
    return "\n".join(lines) + "\n"


def write_model_card(
    path: str | Path,
    meta: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Path:
    """Scrub ``meta`` and ``metrics`` of identifiers and write the model card atomically.

    Dataset names are taken (as base names) before paths are scrubbed. Extra keyword arguments
    go to :func:`model_card_text`.
    """
    raw = dict(meta)
    raw.setdefault("datasets", dataset_names(meta, metrics))
    clean_meta, removed = scrub_identifiers(raw)
    clean_metrics, removed_m = scrub_identifiers(dict(metrics or {}))
    scrubbed = list(kwargs.pop("scrubbed", ())) + removed + removed_m
    card = ModelCard(model_card_text(clean_meta, clean_metrics, scrubbed=scrubbed, **kwargs))
    return atomic_write_text(path, str(card))


__all__ = [
    "dataset_name",
    "dataset_names",
    "encoder_spec",
    "is_identifier_key",
    "model_card_text",
    "scrub_identifiers",
    "write_model_card",
]
