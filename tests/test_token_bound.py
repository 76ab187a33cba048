"""Tokens longer than `MAX_TOKEN_CHARS` are dropped in fitting and scoring alike (issue 9: two 100,000-character
feedback items once made every vocabulary entry 400 kB wide and a retrain ask for 19 GiB)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from classifier.config import CORPUS_PATH
from classifier.features import counting
from classifier.features.fitting import fit_feature_space
from classifier.features.tfidf import featurize
from classifier.features.tokens import MAX_TOKEN_CHARS, tokenize

HUGE_ASCII = "x" * 100_000
HUGE_UNICODE = "é" * 100_000  # stays non-ASCII after folding: the regex path
TEXT = "Saboteurs cut the undersea cable near the harbour; the cable was cut again."


def corpus_slice(n: int) -> list[str]:
    with open(CORPUS_PATH, encoding="utf-8") as handle:
        return [json.loads(line)["text"] for _, line in zip(range(n), handle, strict=False)]


@pytest.fixture(params=[("numpy", "product"), ("numpy", "sort"), ("regex", "product"), ("regex", "sort")])
def feature_path(request, monkeypatch):
    """Force each way of tokenising and of counting, whatever the batch size would pick."""
    tokens, count = request.param
    monkeypatch.setattr(counting, "NUMPY_TOKENS_MIN_CHARS", 0 if tokens == "numpy" else 10**12)
    monkeypatch.setattr(counting, "SORT_COUNT_MAX_TOKENS", 10**12 if count == "sort" else -1)
    return request.param


def test_the_bound_is_far_above_the_longest_corpus_word():
    longest = max(len(t) for text in corpus_slice(10**6) for t in tokenize(text))
    assert longest == 28  # "strukturermittlungsverfahren" (German, corpus version 5; English: 23)
    assert MAX_TOKEN_CHARS == 64


def test_tokenize_drops_only_tokens_longer_than_the_bound():
    at_bound, over = "a" * MAX_TOKEN_CHARS, "b" * (MAX_TOKEN_CHARS + 1)
    assert tokenize(f"one {at_bound} two {over} three") == ["one", at_bound, "two", "three"]
    assert tokenize(f"{HUGE_ASCII} {HUGE_UNICODE}") == []
    assert tokenize(f"don't{HUGE_ASCII[:70]}'s x") == ["x"]  # one token of 77 characters, apostrophes and all


@pytest.fixture(scope="module")
def space():
    return fit_feature_space(corpus_slice(300), min_df=1)


def test_a_huge_token_scores_as_if_it_were_absent(space, feature_path):
    with_huge = [
        f"{TEXT} {HUGE_ASCII}",
        f"{HUGE_ASCII} {TEXT}",
        TEXT.replace(" near ", f" {HUGE_UNICODE} near "),
        f"Ünïcödé {HUGE_UNICODE} {TEXT}",
        HUGE_ASCII,
    ]
    without = [TEXT, TEXT, TEXT, f"Ünïcödé {TEXT}", ""]
    got, expected = featurize(with_huge, space), featurize(without, space)
    assert got.shape == expected.shape == (5, space.n_features)
    assert (got != expected).nnz == 0
    assert expected[0].nnz > 0 and got[4].nnz == 0
    assert max(map(len, space.token_table().ids)) <= MAX_TOKEN_CHARS  # never entered the token table


@pytest.mark.slow
def test_two_huge_feedback_items_leave_the_fitted_vocabulary_unchanged():
    texts = corpus_slice(300)
    attack = [HUGE_ASCII, f"{HUGE_ASCII} {HUGE_UNICODE}"]  # the same huge token twice: df 2 meets min_df
    plain = fit_feature_space(texts)
    attacked = fit_feature_space([*texts, *attack])
    np.testing.assert_array_equal(attacked.feature_names, plain.feature_names)
    assert attacked.feature_names.dtype.itemsize == plain.feature_names.dtype.itemsize <= 4 * (2 * MAX_TOKEN_CHARS + 3)
    assert len(attacked.feature_names) == len(plain.feature_names)
    # Only the idf moves: two more documents, none containing any vocabulary n-gram.
    n = len(texts)
    np.testing.assert_allclose(np.exp(plain.idf - 1) * (3 + n) / (1 + n), np.exp(attacked.idf - 1), rtol=1e-12)
