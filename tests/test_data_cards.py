"""Every dataset polyclr reads by default or generates has a complete data card."""

from __future__ import annotations

import importlib

import pytest

from polyclr.cards import (
    DATA_CARDS_DIR,
    DATASET_CARDS,
    DATASET_LOADERS,
    PIPELINE_DEMO_DATASETS,
    REQUIRED_DATA_CARD_FIELDS,
    data_card_paths,
    parse_card,
    validate_data_card,
)

CARDS = data_card_paths()


def test_template_and_readme_document_every_required_field():
    front, _ = parse_card(DATA_CARDS_DIR / "_template.md")
    assert list(front) == list(REQUIRED_DATA_CARD_FIELDS)
    # An unfilled copy of the template is rejected field by field (placeholders count as empty).
    assert validate_data_card(DATA_CARDS_DIR / "_template.md") == [
        f"empty field {f!r}" for f in REQUIRED_DATA_CARD_FIELDS
    ]
    readme = (DATA_CARDS_DIR / "README.md").read_text()
    for field in REQUIRED_DATA_CARD_FIELDS:
        assert f"`{field}`" in readme, field


@pytest.mark.parametrize("card", CARDS, ids=[c.name for c in CARDS])
def test_every_card_has_all_required_fields(card):
    assert validate_data_card(card) == []


def test_registry_points_at_existing_cards_and_covers_every_card():
    for name, filename in DATASET_CARDS.items():
        assert (DATA_CARDS_DIR / filename).is_file(), f"{name}: data_cards/{filename} is missing"
    registered = set(DATASET_CARDS.values())
    assert {c.name for c in CARDS} <= registered, "register new cards in polyclr.cards.DATASET_CARDS"


def _loader_exists(target: str) -> bool:
    module, _, attr = target.partition(":")
    try:
        mod = importlib.import_module(module)
    except ImportError:  # the modality's extra is not installed
        return False
    return callable(getattr(mod, attr, None))


@pytest.mark.parametrize("name", sorted(DATASET_LOADERS))
def test_every_dataset_loader_has_a_card(name):
    if not _loader_exists(DATASET_LOADERS[name]):
        pytest.skip(f"{DATASET_LOADERS[name]} is not importable here")
    assert name in DATASET_CARDS, f"dataset {name!r} has a loader but no card in data_cards/"


def test_every_pipeline_demo_dataset_has_a_card():
    from polyclr.pipelines import available_pipelines

    pipelines = available_pipelines()
    for name in pipelines:
        assert name in PIPELINE_DEMO_DATASETS, f"pipeline {name!r}: add its demo dataset to PIPELINE_DEMO_DATASETS"
        dataset = PIPELINE_DEMO_DATASETS[name]
        assert dataset in DATASET_CARDS, f"pipeline {name!r}: demo dataset {dataset!r} has no card"


def test_readme_index_is_current():
    from polyclr.cards import data_card_index

    readme = (DATA_CARDS_DIR / "README.md").read_text()
    assert data_card_index() in readme, "update data_cards/README.md: python -m polyclr.cards"
