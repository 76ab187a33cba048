"""The model options issue 21 measured against other senses of the label words: `char_weight` (character
n-grams' share of each row) and hard negatives (`hard_negative_weight`); small fits, no corpus training."""

from __future__ import annotations

import re

import numpy as np
import pytest

from classifier.estimator import AlertClassifier
from classifier.features.tfidf import featurize
from classifier.features.transformer import NgramTfidf
from classifier.scorer import LinearScorer
from tests.test_sample_weight import CARS, LABELS, TEXTS, Y


def test_char_weight_scales_the_idf_of_character_ngrams_alone():
    plain = NgramTfidf(min_df=1).fit(TEXTS, Y).space_
    scaled = NgramTfidf(min_df=1, char_weight=0.25).fit(TEXTS, Y).space_
    np.testing.assert_array_equal(plain.feature_names, scaled.feature_names)
    assert plain.is_char.any() and (~plain.is_char).any()
    np.testing.assert_allclose(scaled.idf[plain.is_char], 0.25 * plain.idf[plain.is_char])
    np.testing.assert_array_equal(scaled.idf[~plain.is_char], plain.idf[~plain.is_char])


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_char_weight_must_be_positive(bad):
    with pytest.raises(ValueError, match=r"char_weight must be a positive number, got "):
        NgramTfidf(min_df=1, char_weight=bad).fit(TEXTS, Y)


def test_hard_negative_weight_one_is_the_plain_fit():
    plain = AlertClassifier(min_df=1, char_features=300).fit(TEXTS, Y, labels=LABELS)
    same = AlertClassifier(min_df=1, char_features=300, hard_negative_weight=1.0).fit(TEXTS, Y, labels=LABELS)
    assert plain.hard_negatives_ == same.hard_negatives_ == [0, 0]
    np.testing.assert_array_equal(plain.predict_proba(TEXTS), same.predict_proba(TEXTS))


def test_hard_negatives_are_mined_out_of_fold_and_pulled_down():
    plain = AlertClassifier(min_df=1, char_features=300).fit(TEXTS, Y, labels=LABELS)
    weighed = AlertClassifier(min_df=1, char_features=300, hard_negative_weight=10.0, hard_negative_folds=2,
                             hard_negative_cutoff=0.3)  # fmt: skip
    weighed.fit(TEXTS, Y, labels=LABELS)
    # twelve rows make timid out-of-fold models, hence the low cutoff; the hybrid-car rows share "hybrid" with
    # the threat rows and are among the negatives they score highest
    assert weighed.hard_negatives_[0] >= len(CARS)
    cars = [TEXTS[i] for i in CARS]
    assert (weighed.predict_proba(cars)[:, 0] < plain.predict_proba(cars)[:, 0] - 0.1).all()
    # a threat row keeps its label
    assert weighed.predict_proba(TEXTS[:1])[0, 0] > 0.5


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"hard_negative_weight": 0.0}, "hard_negative_weight must be a positive number, got 0.0"),
        ({"hard_negative_weight": 2.0, "hard_negative_cutoff": 1.0}, "hard_negative_cutoff must be in (0, 1), got 1.0"),
    ],
)
def test_hard_negative_options_are_checked(option, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        AlertClassifier(min_df=1, char_features=300, **option).fit(TEXTS, Y, labels=LABELS)


def test_a_model_pickled_before_the_options_reports_their_defaults():
    old = AlertClassifier(min_df=1, char_features=300).fit(TEXTS, Y, labels=LABELS)
    features = old.pipeline_.named_steps["features"]
    for name in ("char_weight", "hard_negative_weight", "hard_negative_folds", "hard_negative_cutoff"):
        del old.__dict__[name]  # as unpickled from a version written before them
    del features.__dict__["char_weight"]
    params = old.get_params()
    assert (params["char_weight"], params["hard_negative_weight"], params["hard_negative_folds"]) == (1.0, 1.0, 3)
    assert params["hard_negative_cutoff"] == 0.5 and features.get_params()["char_weight"] == 1.0


def test_char_distinct_keeps_no_character_ngram_that_copies_a_kept_feature():
    def patterns(space):
        presence = featurize(TEXTS, space).tocsc()
        presence.sort_indices()
        return [
            presence.indices[presence.indptr[j] : presence.indptr[j + 1]].tobytes() for j in range(space.n_features)
        ]

    plain = NgramTfidf(min_df=1, char_features=300).fit(TEXTS, Y).space_
    distinct = NgramTfidf(min_df=1, char_features=300, char_distinct=True).fit(TEXTS, Y).space_
    words = {p for p, char in zip(patterns(distinct), distinct.is_char, strict=True) if not char}
    chars = [p for p, char in zip(patterns(distinct), distinct.is_char, strict=True) if char]
    assert len(chars) == len(set(chars)) and not words & set(chars)
    copies = [p for p, char in zip(patterns(plain), plain.is_char, strict=True) if char]
    assert len(set(copies)) < len(copies)  # the plain selection does keep copies ("hybr", "ybri", ...)
    np.testing.assert_array_equal(distinct.feature_names[~distinct.is_char], plain.feature_names[~plain.is_char])


def test_char_backoff_gives_frequent_words_their_unigram_alone():
    space = NgramTfidf(min_df=1, char_backoff_min_df=3).fit(TEXTS, Y).space_
    word = {name[2:]: j for j, name in enumerate(space.names) if name.startswith("w:") and " " not in name}
    # "hybrid" is in six texts, "cars" in one
    np.testing.assert_array_equal(space.token_cols("hybrid"), [word["hybrid"]])
    cars = space.token_cols("cars")
    assert cars[0] == word["cars"] and space.is_char[cars[1:]].all() and len(cars) > 1
    assert space.is_char[space.token_cols("hybridisation")].all()  # an unseen word: character n-grams only
    # the vocabulary holds no character n-gram seen only inside backed-off words
    assert "c:ybri" not in space.char_index and NgramTfidf(min_df=1).fit(TEXTS, Y).space_.char_index.get("ybri")


def test_char_backoff_survives_the_scorer_arrays_and_older_scorers_load_without_it():
    model = AlertClassifier(min_df=1, char_features=300, char_backoff_min_df=3).fit(TEXTS, Y, labels=LABELS)
    scorer = LinearScorer.from_estimator(model)
    arrays = scorer.to_arrays()
    again = LinearScorer.from_arrays(arrays)
    assert again.space.char_backoff_idf == scorer.space.char_backoff_idf > 1.0
    np.testing.assert_allclose(again.predict_proba(TEXTS), model.predict_proba(TEXTS), atol=1e-12)
    older = LinearScorer.from_arrays({k: v for k, v in arrays.items() if k != "char_backoff_idf"})
    assert older.space.char_backoff_idf == 0.0
