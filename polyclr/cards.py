"""Data cards and model cards: parsing, validation, identifier scrubbing, model-card writing.

Data cards live in ``data_cards/<dataset>.md``: YAML front matter in the Hugging Face
dataset-card style plus medical fields (:data:`REQUIRED_DATA_CARD_FIELDS`), then prose.
Model cards are written by :func:`write_model_card` (used by ``polyclr export``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from polyclr.errors import DataError
from polyclr.rundir import atomic_write_text

REQUIRED_DATA_CARD_FIELDS: tuple[str, ...] = (
    "pretty_name",
    "license",
    "task_categories",
    "size_categories",
    "source_datasets",
    "modality",
    "sampling",
    "orientation",
    "subjects",
    "real_or_simulated",
    "phi_status",
    "split_policy",
    "intended_use",
    "limitations",
)
"""Front-matter keys every data card must fill (non-empty)."""

DATA_CARDS_DIR: Path = Path(__file__).resolve().parent.parent / "data_cards"
"""``data_cards/`` of a source checkout (cards are documentation, not package data)."""

DATASET_CARDS: dict[str, str] = {}
"""Dataset / loader name -> card file name in ``data_cards/`` (filled as loaders land)."""

_PLACEHOLDER = re.compile(r"^\s*(todo|tbd|fixme|xxx|\?+|<[^>]*>|\.\.\.)\s*$", re.IGNORECASE)

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


def parse_card(path: str | Path) -> tuple[dict[str, Any], str]:
    """Split a card into its YAML front matter and its Markdown body.

    Raises:
        DataError: the file is missing, has no ``---`` front matter, or the YAML is invalid or
            not a mapping.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(p, f"cannot read card ({exc.__class__.__name__})") from exc
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise DataError(p, "no YAML front matter (the first line must be '---')")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise DataError(p, "front matter is not closed by a '---' line") from None
    try:
        front = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        raise DataError(p, f"invalid YAML front matter ({' '.join(str(exc).split())[:160]})") from exc
    if not isinstance(front, dict):
        raise DataError(p, "front matter must be a YAML mapping")
    return front, "\n".join(lines[end + 1:]).strip() + "\n"


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip() or bool(_PLACEHOLDER.match(value))
    if isinstance(value, list | tuple | dict | set):
        return len(value) == 0 or all(_is_empty(v) for v in (value.values() if isinstance(value, dict) else value))
    return False


def validate_data_card(path: str | Path) -> list[str]:
    """Problems with one data card (empty list: the card is complete).

    Checks: front matter parses; every :data:`REQUIRED_DATA_CARD_FIELDS` key is present and
    not empty or a placeholder (``TODO``, ``<...>``); ``task_categories`` and
    ``source_datasets`` are lists; the body has prose (a heading and at least one paragraph).
    """
    try:
        front, body = parse_card(path)
    except DataError as exc:
        return [exc.problem]
    problems = []
    for key in REQUIRED_DATA_CARD_FIELDS:
        if key not in front:
            problems.append(f"missing field {key!r}")
        elif _is_empty(front[key]):
            problems.append(f"empty field {key!r}")
    for key in ("task_categories", "source_datasets"):
        if key in front and not _is_empty(front[key]) and not isinstance(front[key], list):
            problems.append(f"field {key!r} must be a list")
    prose = [ln for ln in body.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not prose:
        problems.append("no prose after the front matter")
    return problems


def data_card_paths(directory: str | Path = DATA_CARDS_DIR) -> list[Path]:
    """Every data card in ``directory`` (``README.md`` and ``_*`` templates excluded)."""
    d = Path(directory)
    return sorted(p for p in d.glob("*.md") if p.name != "README.md" and not p.name.startswith("_"))


def card_for(dataset: str, directory: str | Path = DATA_CARDS_DIR) -> Path:
    """The card of a dataset / loader name from :data:`DATASET_CARDS`.

    Raises:
        KeyError: the name has no registered card.
    """
    return Path(directory) / DATASET_CARDS[dataset]


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
    """Architecture name, constructor kwargs and import path (if recorded) from encoder meta.

    Accepts ``meta["encoder"]`` as ``{"name"|"architecture"|"class": ..., "kwargs"|"args":
    {...}, "module"|"import_path": ...}`` or with the kwargs inline beside the name.
    """
    enc = meta.get("encoder")
    if isinstance(enc, str):
        return enc, {}, None
    if not isinstance(enc, Mapping):
        return str(meta.get("architecture", "unknown")), {}, None
    name_keys = ("name", "architecture", "class", "arch", "type")
    path_keys = ("module", "import_path", "target", "class_path")
    name = next((str(enc[k]) for k in name_keys if k in enc), "unknown")
    kwargs = next((dict(enc[k]) for k in ("kwargs", "args", "init_args", "params")
                   if isinstance(enc.get(k), Mapping)), None)
    if kwargs is None:
        kwargs = {k: v for k, v in enc.items() if k not in name_keys + path_keys}
    module = next((str(enc[k]) for k in path_keys if k in enc), None)
    return name, kwargs, module


def _dataset_names(meta: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for key in ("datasets", "dataset", "training_data", "data"):
        value = meta.get(key)
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, Mapping):
                v = v.get("name") or v.get("dataset")
            if isinstance(v, str) and v and v != "<path removed>" and v not in names:
                names.append(v)
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


def model_card_text(
    meta: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    *,
    encoder_file: str = "encoder.safetensors",
    n_parameters: int | None = None,
    source: str | None = None,
    scrubbed: list[str] | tuple[str, ...] = (),
) -> str:
    """Markdown model card (YAML front matter + sections) for an exported encoder.

    Only what is in ``meta`` (already scrubbed by the caller) and ``metrics`` is used: no
    patient-level information is ever read. ``source`` should be a name, not a full path.
    """
    modality = str(meta.get("modality", "unknown"))
    arch, kwargs, module = encoder_spec(meta)
    objective = meta.get("objective", "not recorded")
    datasets = _dataset_names(meta)
    input_fmt = meta.get("input") if isinstance(meta.get("input"), Mapping) else {}
    numbers = _flat_numbers(metrics or {})
    front: dict[str, Any] = {
        "library_name": "polyclr",
        "pipeline_tag": "feature-extraction",
        "tags": ["polyclr", "contrastive-learning", modality, "medical"],
        "modality": modality,
        "architecture": arch,
        "encoder_kwargs": kwargs,
        "objective": objective,
        "datasets": datasets,
        "input": dict(input_fmt),
        "metrics": numbers,
        "weights_format": "safetensors",
        "weights_file": encoder_file,
    }
    if n_parameters is not None:
        front["parameters"] = int(n_parameters)
    for key in ("polyclr_version", "commit"):
        if key in meta:
            front[key] = meta[key]
    lines = ["---", yaml.safe_dump(front, sort_keys=False).rstrip(), "---", ""]
    lines += [f"# {modality} encoder: {arch}", ""]
    lines += [
        f"A `{arch}` encoder pre-trained by polyclr with a contrastive objective on {modality} data,"
        f" exported as plain tensors in `{encoder_file}` (safetensors, no pickle)."
        + (f" Exported from {source}." if source else ""),
        "",
        "## Model details",
        "",
        f"- Architecture: `{arch}`" + (f" (`{module}`)" if module else ""),
        f"- Constructor arguments: `{kwargs}`",
        f"- Objective: `{objective}`",
    ]
    if n_parameters is not None:
        lines.append(f"- Parameters: {n_parameters:,}")
    lines += ["", "## Training data", ""]
    if datasets:
        lines += [f"- {d} (see `data_cards/` in the polyclr repository)" for d in datasets]
    else:
        lines.append("- Not recorded in the checkpoint metadata.")
    lines += ["", "## Input format", ""]
    if input_fmt:
        lines += [f"- {k}: `{v}`" for k, v in input_fmt.items()]
    else:
        lines.append("- Not recorded in the checkpoint metadata.")
    lines += ["", "## Metrics", ""]
    if numbers:
        lines += ["Measured by the run that produced this encoder (as written in its `metrics.json`).", "",
                  "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in numbers.items()]
    else:
        lines.append("No `metrics.json` was found beside the checkpoint.")
    example_cls = arch if arch != "unknown" else "Encoder"
    import_line = (f"from {module.rsplit('.', 1)[0]} import {example_cls}" if module and "." in module
                   else f"# import {example_cls} from the code that defines it")
    lines += [
        "", "## How to load (plain PyTorch + safetensors, no polyclr needed)", "", "```python",
        "import json", "from safetensors import safe_open", "from safetensors.torch import load_file",
        import_line, "",
        f'state_dict = load_file("{encoder_file}")  # tensors only, nothing is unpickled',
        f'with safe_open("{encoder_file}", framework="pt") as f:',
        '    meta = json.loads(f.metadata()["polyclr"])  # architecture, kwargs, input format',
        f"encoder = {example_cls}(**{kwargs!r})",
        "encoder.load_state_dict(state_dict)", "encoder.eval()", "```", "",
        "With polyclr installed: `state_dict, meta = polyclr.export.load_exported_encoder(DIR)`.",
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
        "", "## Privacy", "",
        "The card and the weights' metadata contain only architecture, configuration, dataset"
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

    Extra keyword arguments go to :func:`model_card_text`.
    """
    clean_meta, removed = scrub_identifiers(dict(meta))
    clean_metrics, removed_m = scrub_identifiers(dict(metrics or {}))
    scrubbed = list(kwargs.pop("scrubbed", ())) + removed + removed_m
    text = model_card_text(clean_meta, clean_metrics, scrubbed=scrubbed, **kwargs)
    return atomic_write_text(path, text)


__all__ = [
    "DATASET_CARDS",
    "DATA_CARDS_DIR",
    "REQUIRED_DATA_CARD_FIELDS",
    "card_for",
    "data_card_paths",
    "encoder_spec",
    "is_identifier_key",
    "model_card_text",
    "parse_card",
    "scrub_identifiers",
    "validate_data_card",
    "write_model_card",
]
