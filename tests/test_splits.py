"""Patient-independent splits, label-fraction subsets and the leakage check."""

import json

import numpy as np
import pytest

from polyclr.errors import LeakageError
from polyclr.splits import (
    assert_group_disjoint,
    group_split,
    label_fraction_subset,
    pseudonymise,
    write_split_record,
)


def test_group_split_is_patient_disjoint_and_deterministic():
    groups = np.repeat(np.arange(20), 5)
    labels = np.repeat(np.arange(20) % 2, 5)
    a = group_split(groups, labels, test_size=0.25, val_size=0.15, seed=3)
    b = group_split(groups, labels, test_size=0.25, val_size=0.15, seed=3)
    for k in a:
        assert np.array_equal(a[k], b[k])
    sets = {k: set(groups[v]) for k, v in a.items()}
    assert not sets["train"] & sets["test"] and not sets["train"] & sets["val"]
    assert not sets["val"] & sets["test"]
    assert sum(len(v) for v in a.values()) == len(groups)
    assert set(labels[a["test"]]) == {0, 1}


def test_leakage_check_fails_loudly():
    with pytest.raises(LeakageError, match="p7"):
        assert_group_disjoint({"train": ["p1", "p7"], "test": ["p7", "p9"]}, source="data.npz")


def test_label_fraction_is_stratified_within_training_indices():
    train = np.arange(0, 200, 2)
    labels = np.zeros(200, dtype=int)
    labels[train[:30]] = 1
    sub = label_fraction_subset(train, labels, 0.1, seed=0)
    assert set(sub) <= set(train)
    assert len(sub) == 10
    assert set(labels[sub]) == {0, 1}  # at least one of every class
    one = label_fraction_subset(train, labels, 0.01, seed=0)
    assert set(labels[one]) == {0, 1}
    with pytest.raises(ValueError):
        label_fraction_subset(train, labels, 0.0)


def test_split_record_hashes_ids_when_deidentified(tmp_path):
    write_split_record(tmp_path, {"train": ["MRN123"], "test": ["MRN456"]}, deidentify_salt="s3cret")
    text = (tmp_path / "splits.json").read_text()
    assert "MRN123" not in text and "MRN456" not in text
    rec = json.loads(text)
    assert rec["deidentified"] and rec["splits"]["train"] == pseudonymise(["MRN123"], "s3cret")
