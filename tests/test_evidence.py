"""Evidence computed per batch with arrays (`explain_rows`) equals the plain per-passage reference
(`explain_rows_plain`): the same terms, in the same order, with the same weights, on corpus passages and
generated texts, for the shipped model and for feature spaces of other shapes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifier.config import CORPUS_PATH
from classifier.features import space as space_module
from classifier.features import term_shares
from classifier.features.fitting import fit_feature_space
from classifier.features.space import FeatureSpace
from classifier.scorer import LinearScorer
from classifier.segment import segment

# Words that make shares: corpus words, non-ASCII ones, apostrophes, digits, and tokens over 64 characters
# (dropped by the tokeniser: they must give no term and not shift the others).
WORDS = [
    "saboteurs", "cut", "the", "undersea", "cable", "we", "stand", "with", "ukraine", "russia's", "don’t",
    "hybrid", "war", "disinformation", "sabotage", "again", "pipeline", "drone", "2024", "nato",
    "Bürger", "über", "Änderungen", "россия", "гибридная", "война", "ﬁnal", "ＦＵＬＬ", "x" * 65,
    "a" * 64, "cable" * 13, "é" * 70, "ß", "İstanbul", "_", "—", "!!!", "é\u0301", "zzqx",
]  # fmt: skip
SEPARATORS = [" ", "  ", ", ", ". ", "\n", "\u00a0", " - ", "'", ""]


def corpus_passages(n: int) -> list[str]:
    """Passages of the first `n` corpus texts, as `predict` scores them."""
    with open(CORPUS_PATH, encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for _, line in zip(range(n), handle, strict=False)]
    return [p.text for text in texts for p in segment(text)]


def assert_same_evidence(scorer: LinearScorer, texts: list[str], asked: list[list[int]], top_k: int) -> list:
    """explain_rows == explain_rows_plain, weight types included; returns the evidence."""
    rows = scorer.transform(texts)
    fast = scorer.explain_rows(texts, rows, asked, top_k)
    plain = scorer.explain_rows_plain(texts, rows, asked, top_k)
    assert fast == plain
    for found_fast, found_plain in zip(fast, plain, strict=True):
        assert list(found_fast) == list(found_plain)  # label order as asked
        for terms_fast, terms_plain in zip(found_fast.values(), found_plain.values(), strict=True):
            assert [type(t["weight"]) for t in terms_fast] == [type(t["weight"]) for t in terms_plain]
    return fast


@pytest.fixture(scope="module")
def shipped(shipped_predictor) -> LinearScorer:
    return shipped_predictor.scorer


@pytest.fixture(scope="module")
def passages() -> list[str]:
    return corpus_passages(300)


def random_scorer(space: FeatureSpace, seed: int, n_labels: int = 3) -> LinearScorer:
    """A scorer on `space` with coefficients of both signs (about half the terms raise a label)."""
    rng = np.random.default_rng(seed)
    coef = rng.normal(size=(space.n_features, n_labels))
    return LinearScorer(
        space, coef, np.zeros(n_labels), tuple(f"l{j}" for j in range(n_labels)), np.full(n_labels, 0.5)
    )


@pytest.fixture(scope="module", params=[((1, 2), (2, 5)), ((1, 3), (1, 3)), ((1, 1), None), ((2, 2), (3, 4))])
def other_scorer(request, passages) -> LinearScorer:
    """Scorers on feature spaces of other n-gram ranges, fitted on corpus passages."""
    word_range, char_range = request.param
    space = fit_feature_space(passages[:300], word_ngram_range=word_range, char_ngram_range=char_range, min_df=1)
    return random_scorer(space, seed=len(space.feature_names))


@pytest.mark.slow
@pytest.mark.parametrize("top_k", [1, 5, 1000])
def test_shipped_model_on_corpus_passages_every_label(shipped, passages, top_k):
    asked = [list(range(len(shipped.labels)))] * len(passages)
    found = assert_same_evidence(shipped, passages, asked, top_k)
    assert sum(len(terms) for f in found for terms in f.values()) > len(passages)


def test_shipped_model_flagged_labels_as_predict_asks(shipped, passages):
    rows = shipped.transform(passages)
    decided = shipped.decide(shipped.proba_from_rows(rows))
    asked = [[int(j) for j in np.flatnonzero(row)] for row in decided]
    assert 0 < sum(map(len, asked)) < len(passages) * len(shipped.labels)
    assert_same_evidence(shipped, passages, asked, 5)


@pytest.mark.slow
def test_other_feature_spaces_on_corpus_passages(other_scorer, passages):
    asked = [[j for j in range(3) if (i + j) % 2 or i % 5 == 0] for i in range(len(passages))]
    found = assert_same_evidence(other_scorer, passages, asked, 7)
    assert sum(len(terms) for f in found for terms in f.values()) > len(passages)


texts_strategy = st.lists(
    st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=30).map(
        lambda parts: "".join(word + sep for word, sep in parts)
    )
    | st.text(max_size=80),
    min_size=1,
    max_size=12,
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=texts_strategy, seed=st.integers(0, 2**16), top_k=st.sampled_from([1, 2, 5, 1000]))
def test_generated_texts_shipped_model(shipped, texts, seed, top_k):
    rng = np.random.default_rng(seed)
    asked = [[int(j) for j in rng.permutation(3)[: rng.integers(0, 4)]] for _ in texts]
    assert_same_evidence(shipped, texts, asked, top_k)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=texts_strategy, seed=st.integers(0, 2**16))
def test_generated_texts_other_feature_spaces(other_scorer, texts, seed):
    rng = np.random.default_rng(seed)
    asked = [[int(j) for j in rng.permutation(3)[: rng.integers(0, 4)]] for _ in texts]
    assert_same_evidence(other_scorer, texts, asked, 4)


def test_repeated_words_and_long_tokens(shipped):
    label = shipped.labels.index("sabotage_mention")
    texts = [
        "Saboteurs cut the cable, the same cable the saboteurs cut before: sabotage, sabotage, sabotage!",
        "cable " * 50 + "x" * 65 + " saboteurs " + "y" * 200,
        "x" * 65 + " " + "é" * 80,  # only tokens over 64 characters: nothing to name
    ]
    found = assert_same_evidence(shipped, texts, [[label]] * 3, 1000)
    assert [t["term"] for t in found[0][label][:2]] == ["sabotage", "saboteurs"]
    assert {t["term"] for t in found[1][label]} <= {"cable", "saboteurs", "cable saboteurs"}
    assert found[2] == {label: []}


def test_empty_evidence_cases(shipped):
    texts = ["", "!!!", "Saboteurs cut the undersea cable.", "We stand with Ukraine."]
    rows = shipped.transform(texts)
    assert shipped.explain_rows(texts, rows, [[0, 1], [2], [], [1]], 5)[:3] == [{0: [], 1: []}, {2: []}, {}]
    assert shipped.explain_rows(texts, rows, [[0], [1], [2], [0]], 0) == [{0: []}, {1: []}, {2: []}, {0: []}]
    assert shipped.explain_rows(texts, rows, [[]] * 4, 5) == [{}, {}, {}, {}]
    negative = LinearScorer(shipped.space, -np.abs(shipped.coef), shipped.intercept, shipped.labels, shipped.thresholds)
    assert negative.explain_rows(texts, rows, [[0, 1, 2]] * 4, 5) == [{0: [], 1: [], 2: []}] * 4
    assert_same_evidence(negative, texts, [[0, 1, 2]] * 4, 5)


def test_labels_in_the_order_asked_and_asked_twice(shipped, passages):
    texts = passages[:50]
    asked = [[2, 0], [1, 2, 0], [0, 0], [2]] * 12 + [[1], [0]]
    found = assert_same_evidence(shipped, texts, asked, 3)
    assert [list(f) for f in found[:4]] == [[2, 0], [1, 2, 0], [0], [2]]


def test_equal_weights_are_ordered_by_term_descending():
    # "alpha" twice, the rest once, all with the same idf and coefficient: three equal shares below alpha's,
    # ordered by term, descending ("beta alpha" > "beta" > "alpha beta"), also where top_k cuts through them.
    names = np.array(["w:alpha", "w:beta", "w:alpha beta", "w:beta alpha"])
    space = FeatureSpace(names, np.ones(4), (1, 2), None)
    scorer = LinearScorer(space, np.ones((4, 1)), np.zeros(1), ("l",), np.array([0.5]))
    text = "alpha beta alpha"
    (found,) = assert_same_evidence(scorer, [text], [[0]], 10)
    assert [t["term"] for t in found[0]] == ["alpha", "beta alpha", "beta", "alpha beta"]
    weights = [t["weight"] for t in found[0]]
    assert weights[0] > weights[1] == weights[2] == weights[3] > 0
    (two,) = assert_same_evidence(scorer, [text], [[0]], 2)
    assert two == {0: found[0][:2]}
    (three,) = assert_same_evidence(scorer, [text], [[0]], 3)
    assert three == {0: found[0][:3]}


def test_blocks_of_any_size_give_the_same_evidence(shipped, passages, monkeypatch):
    asked = [[0, 1, 2]] * 200
    expected = shipped.explain_rows_plain(passages[:200], shipped.transform(passages[:200]), asked, 5)
    for cells in (1, 3001, 10**9):  # a text per block, two texts, all in one
        monkeypatch.setattr(term_shares, "DENSE_CELLS", cells)
        assert shipped.explain_rows(passages[:200], shipped.transform(passages[:200]), asked, 5) == expected


def test_token_table_reset_between_scoring_and_evidence(other_scorer, passages, monkeypatch):
    texts = passages[:100]  # each lookup starts a fresh table: a hundred passages make hundreds of resets
    rows = other_scorer.transform(texts)
    asked = [[0, 2]] * len(texts)
    expected = other_scorer.explain_rows_plain(texts, rows, asked, 5)
    monkeypatch.setattr(space_module, "TOKEN_TABLE_LIMIT", 10)  # a fresh table on every lookup
    other_scorer.space.token_table()  # the next batch starts from an empty table
    assert other_scorer.explain_rows(texts, rows, asked, 5) == expected


def test_rows_of_other_texts_are_refused(shipped):
    texts = ["Saboteurs cut the undersea cable.", "We stand with Ukraine."]
    rows = shipped.transform(texts)
    with pytest.raises(ValueError, match=r"^the feature rows are not those of the texts: their "):
        shipped.explain_rows(texts[::-1], rows, [[0], [0]], 5)
    with pytest.raises(ValueError, match=r"^1 texts, 1 label lists and rows of shape \(2, \d+\): need one row"):
        shipped.explain_rows(texts[:1], rows, [[0]], 5)
