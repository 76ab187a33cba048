"""Checks of the bundled corpus: schema, labels, duplicates, documented counts, grouped splits."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pytest

from classifier.config import CORPUS_PATH, DEFAULT_LABELS
from training.data import load_dataset
from training.splits import grouped_folds, holdout_mask

pytestmark = pytest.mark.data

FIELDS = {"id": str, "text": str, "labels": list, "source": str, "doc": str, "date": str, "unsure": bool}
# Version 5 rows (languages other than English) add `lang`; rows without it are English (SOURCES.md).
LANGS = {"uk": 785, "de": 589, "ru": 11}
SOURCES_MD = CORPUS_PATH.parent / "SOURCES.md"
GUIDELINES_MD = CORPUS_PATH.parent / "GUIDELINES.md"


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    with open(CORPUS_PATH, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(CORPUS_PATH)


def test_schema(rows):
    assert len(rows) == 11039
    for i, row in enumerate(rows, start=1):
        assert set(row) - {"lang"} == set(FIELDS), f"line {i}"
        assert ("lang" in row) == (i > 9654), f"line {i}: only version-5 rows carry lang"
        for name, kind in FIELDS.items():
            assert type(row[name]) is kind, f"line {i}: {name}"
        assert row["text"].strip() == row["text"] and row["text"], f"line {i}"
        assert row["id"] and row["doc"] and row["source"], f"line {i}"
        assert re.fullmatch(r"[0-9a-f]{12}", row["id"]), f"line {i}"


def test_label_names(rows):
    for i, row in enumerate(rows, start=1):
        assert set(row["labels"]) <= set(DEFAULT_LABELS), f"line {i}"
        assert len(row["labels"]) == len(set(row["labels"])), f"line {i}: repeated label"
    guidelines = GUIDELINES_MD.read_text(encoding="utf-8")
    for label in DEFAULT_LABELS:
        assert f"## {label}\n" in guidelines


def test_ids_unique(rows):
    assert len({row["id"] for row in rows}) == len(rows)


def test_no_duplicate_texts(rows):
    # exact duplicates, and duplicates up to case and whitespace: the corpus has none of either
    assert len({row["text"] for row in rows}) == len(rows)
    assert len({" ".join(row["text"].lower().split()) for row in rows}) == len(rows)


def test_counts_documented_in_sources_md(rows):
    sources_md = SOURCES_MD.read_text(encoding="utf-8")
    assert (
        "9,654 English sentences, 796 Ukrainian-source sentences (785 in Ukrainian,\n11 in Russian) and 589 German"
        in sources_md
    )
    assert Counter(row.get("lang", "en") for row in rows) == {"en": 9654, **LANGS}
    english = [row for row in rows if "lang" not in row]
    labels = Counter(label for row in english for label in row["labels"])
    assert labels == {"support_statement": 1289, "hybrid_threat_warning": 1305, "sabotage_mention": 234}
    assert sum(1 for row in english if not row["labels"]) == 6905
    assert sum(row["unsure"] for row in english) == 1267
    assert (
        "Label counts (English): hybrid_threat_warning 1,305, support_statement 1,289, sabotage_mention 234, "
        "none 6,905;\n"
        "1,267 rows are flagged `unsure`." in sources_md
    )
    table = dict(re.findall(r"^\| `(\w+)` \| ([\d,]+) \|", sources_md, flags=re.MULTILINE))
    documented = {source: int(count.replace(",", "")) for source, count in table.items()}
    assert documented == dict(Counter(row["source"] for row in rows))
    assert sum(documented.values()) == 11039


def test_loader_agrees_with_the_file(dataset, rows):
    summary = dataset.summary()
    assert dataset.labels == list(DEFAULT_LABELS)
    assert summary["rows"] == 11039 and summary["groups"] == 4443
    assert summary["label_counts"] == {
        "hybrid_threat_warning": 1487,
        "sabotage_mention": 254,
        "support_statement": 1497,
    }
    assert dataset.groups.tolist() == [row["doc"] for row in rows]


def assert_groups_within_one_fold(folds, groups, n_rows):
    fold_of_row = np.full(n_rows, -1)
    for k, (train_idx, test_idx) in enumerate(folds):
        assert len(np.intersect1d(train_idx, test_idx)) == 0
        assert len(train_idx) + len(test_idx) == n_rows
        assert set(groups[train_idx]).isdisjoint(groups[test_idx])
        fold_of_row[test_idx] = k
    assert (fold_of_row >= 0).all()  # every row is tested exactly once
    folds_of_group: dict[str, set[int]] = {}
    for group, k in zip(groups.tolist(), fold_of_row.tolist(), strict=True):
        folds_of_group.setdefault(group, set()).add(k)
    straddling = [g for g, ks in folds_of_group.items() if len(ks) > 1]
    assert straddling == []


@pytest.mark.slow
def test_no_document_straddles_cv_folds(dataset):
    Y, groups = dataset.Y, dataset.groups
    folds = grouped_folds(Y, groups, 5)  # train_model's and the retrain job's default
    assert len(folds) == 5
    assert_groups_within_one_fold(folds, groups, len(Y))
    # every fold has some of the rarest label to choose a threshold on
    sabotage = dataset.labels.index("sabotage_mention")
    assert all(Y[test_idx, sabotage].sum() > 0 for _, test_idx in folds)


def test_no_document_straddles_the_holdout_split(dataset):
    groups = dataset.groups
    held = holdout_mask(groups)
    assert set(groups[held]).isdisjoint(groups[~held])
    assert (int(held.sum()), len(set(groups[held]))) == (2218, 927)
    # the English rows (lines 1-9,654) are held out exactly as before version 5 added its languages
    assert (int(held[:9654].sum()), len(set(groups[:9654][held[:9654]]))) == (1924, 782)
    # membership depends on the group name alone: the same for any subset or order of rows
    order = np.random.default_rng(0).permutation(len(groups))[:1000]
    np.testing.assert_array_equal(holdout_mask(groups[order]), held[order])


@pytest.mark.slow
def test_training_folds_inside_the_development_split(dataset):
    # what train_model does: hold out, then fold the rest
    held = holdout_mask(dataset.groups)
    dev = np.flatnonzero(~held)
    folds = grouped_folds(dataset.Y[dev], dataset.groups[dev], 3)
    assert_groups_within_one_fold(folds, dataset.groups[dev], len(dev))
