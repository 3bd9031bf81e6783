"""Data cards (parsing, validation, registry) and the model-card API (from :mod:`polyclr.model_cards`).

Data cards live in ``data_cards/<dataset>.md``: Hugging Face dataset cards
(``huggingface_hub.DatasetCard``; ``license`` a Hub licence id, ``size_categories`` and
``task_categories`` lists) plus medical fields (:data:`REQUIRED_DATA_CARD_FIELDS`), then prose.
Model cards are written by :func:`write_model_card` (used by ``polyclr export``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from polyclr.errors import DataError
from polyclr.model_cards import (  # the model-card API, re-exported here
    dataset_name,
    dataset_names,
    encoder_spec,
    is_identifier_key,
    model_card_text,
    scrub_identifiers,
    write_model_card,
)

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

DATASET_CARDS: dict[str, str] = {
    "ucr_uea": "ucr_uea.md",
    "ecg_simulator": "ecg_simulator.md",
    "audio_reference": "audio_reference.md",
    "mni152_subjects": "mni152_subjects.md",
    "cinc2017_af_ecg": "cinc2017_af_ecg.md",
    "cinc2021_ecg12": "cinc2021_ecg12.md",
    "cpsc2021_paf": "cpsc2021_paf.md",
    "eegmat_mental_arithmetic": "eegmat_mental_arithmetic.md",
    "msd_hippocampus": "msd_hippocampus.md",
}
"""Dataset name -> card file name in ``data_cards/``."""

DATASET_LOADERS: dict[str, str] = {
    "ucr_uea": "polyclr.modalities.timeseries.io:load_dataset",
    "mni152_subjects": "polyclr.modalities.volume.reference:generate_reference",
    "ecg_simulator": "polyclr.modalities.timeseries.simulator:make_ecg_dataset",
    "audio_reference": "polyclr.modalities.audio.synth:generate",
}
"""Dataset name -> ``"module:function"`` that reads or generates it by default."""

PIPELINE_DEMO_DATASETS: dict[str, str] = {
    "volume": "mni152_subjects",
    "timeseries": "ucr_uea",
    "audio": "audio_reference",
}
"""Pipeline name -> the dataset its ``demo_data()`` / ``polyclr demo`` uses."""

LICENSE_IDS: frozenset[str] = frozenset({
    "apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "cc0-1.0", "cc-by-4.0", "cc-by-sa-4.0",
    "cc-by-nc-4.0", "cc-by-nc-sa-4.0", "cc-by-nc-nd-4.0", "odc-by", "odbl", "pddl", "gpl-3.0",
    "lgpl-3.0", "mpl-2.0", "unlicense", "other", "unknown",
})
"""Hugging Face Hub licence ids (lower-case SPDX ids, plus ``other``) a card may use."""

SIZE_CATEGORIES: tuple[str, ...] = ("n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M",
                                    "10M<n<100M", "100M<n<1B", "1B<n<10B", "n>1T")
"""The Hub's ``size_categories`` values."""

_PLACEHOLDER = re.compile(r"^\s*(todo|tbd|fixme|xxx|\?+|<[^>]*>|\.\.\.)\s*$", re.IGNORECASE)

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

    Checks: front matter parses, also as a ``huggingface_hub.DatasetCard``; every
    :data:`REQUIRED_DATA_CARD_FIELDS` key is present and not empty or a placeholder (``TODO``,
    ``<...>``); ``license`` is a Hub licence id (:data:`LICENSE_IDS`; ``other`` needs a
    ``license_name`` and ``license_details``); ``task_categories``, ``size_categories`` (Hub
    values) and ``source_datasets`` are lists; the body has prose.
    """
    from huggingface_hub import DatasetCard

    try:
        front, body = parse_card(path)
        DatasetCard(Path(path).read_text(encoding="utf-8"))
    except DataError as exc:
        return [exc.problem]
    except ValueError as exc:
        return [f"not a valid Hugging Face dataset card ({exc})"]
    problems = []
    for key in REQUIRED_DATA_CARD_FIELDS:
        if key not in front:
            problems.append(f"missing field {key!r}")
        elif _is_empty(front[key]):
            problems.append(f"empty field {key!r}")
    for key in ("task_categories", "size_categories", "source_datasets"):
        if key in front and not _is_empty(front[key]) and not isinstance(front[key], list):
            problems.append(f"field {key!r} must be a list")
    lic = front.get("license")
    if not _is_empty(lic):
        if lic not in LICENSE_IDS:
            problems.append(f"license {lic!r} is not a Hub licence id (one of {sorted(LICENSE_IDS)})")
        elif lic == "other":
            problems += [f"license 'other' needs a {k!r} field" for k in ("license_name", "license_details")
                         if _is_empty(front.get(k))]
    sizes = front.get("size_categories")
    if isinstance(sizes, list) and not _is_empty(sizes):
        problems += [f"size category {s!r} is not one of {list(SIZE_CATEGORIES)}" for s in sizes
                     if s not in SIZE_CATEGORIES]
    prose = [ln for ln in body.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not prose:
        problems.append("no prose after the front matter")
    return problems


def data_card_paths(directory: str | Path = DATA_CARDS_DIR) -> list[Path]:
    """Every data card in ``directory`` (``README.md`` and ``_*`` templates excluded)."""
    d = Path(directory)
    return sorted(p for p in d.glob("*.md") if p.name != "README.md" and not p.name.startswith("_"))


def data_card_index(directory: str | Path = DATA_CARDS_DIR) -> str:
    """Markdown index rows (card, dataset names, modality, real or simulated) for the README."""
    by_file: dict[str, list[str]] = {}
    for name, filename in DATASET_CARDS.items():
        by_file.setdefault(filename, []).append(name)
    lines = ["| card | dataset / loader | modality | real or simulated |", "| --- | --- | --- | --- |"]
    for path in data_card_paths(directory):
        front, _ = parse_card(path)
        names = ", ".join(f"`{n}`" for n in by_file.get(path.name, [])) or "—"
        real = " ".join(str(front.get("real_or_simulated", "")).split())
        real = real if len(real) <= 90 else real[:87] + "..."
        lines.append(f"| [{front.get('pretty_name', path.stem)}]({path.name}) | {names} | "
                     f"{' '.join(str(front.get('modality', '')).split())} | {real} |")
    return "\n".join(lines)


def card_for(dataset: str, directory: str | Path = DATA_CARDS_DIR) -> Path:
    """The card of a dataset / loader name from :data:`DATASET_CARDS`.

    Raises:
        KeyError: the name has no registered card.
    """
    return Path(directory) / DATASET_CARDS[dataset]


__all__ = [
    "LICENSE_IDS",
    "SIZE_CATEGORIES",
    "DATASET_CARDS",
    "DATASET_LOADERS",
    "PIPELINE_DEMO_DATASETS",
    "DATA_CARDS_DIR",
    "REQUIRED_DATA_CARD_FIELDS",
    "card_for",
    "data_card_index",
    "data_card_paths",
    "dataset_name",
    "dataset_names",
    "encoder_spec",
    "is_identifier_key",
    "model_card_text",
    "parse_card",
    "scrub_identifiers",
    "validate_data_card",
    "write_model_card",
]


if __name__ == "__main__":  # python -m polyclr.cards: the index table for data_cards/README.md
    print(data_card_index())
