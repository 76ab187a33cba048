"""`NgramTfidf`: the feature code as a scikit-learn transformer for training, with chi-squared selection."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_selection import chi2

from classifier.features.fitting import fit_feature_space
from classifier.features.space import FeatureSpace
from classifier.features.tfidf import featurize


class NgramTfidf(TransformerMixin, BaseEstimator):
    """TF-IDF of word n-grams and in-word character n-grams (see `classifier.features`).

    Parameters mirror `TfidfVectorizer`: `word_ngram_range`, `char_ngram_range` (None turns character
    n-grams off), `min_df` (count) and `max_df` (share of documents). `char_features` (`word_features`)
    keeps only that many character (word) n-grams, those most associated with any label (chi-squared of
    presence against each label column of `y`, maximum over labels); common n-grams that say nothing
    about the labels cost scoring time for no accuracy. `char_weight` scales the character n-grams' idf
    (so their share of each L2-normalised row) against the word n-grams': below 1, a character n-gram needs
    a larger coefficient for the same effect and the regularisation makes it pay for it, so the n-grams
    that restate a known word many times over (hybr, ybri, brid of "hybrid") no longer outweigh the
    word's own features and its bigrams. The fitted `space_` is the pickle-free `FeatureSpace` serving uses
    (the scaling is part of its idf).
    """

    # for transformers pickled before these options existed (get_params reads them)
    char_weight = 1.0
    char_distinct = False
    char_backoff_min_df = 0

    def __init__(
        self,
        word_ngram_range=(1, 2),
        char_ngram_range=(2, 5),
        min_df=2,
        max_df=1.0,
        char_features=None,
        word_features=None,
        char_weight=1.0,
        char_distinct=False,
        char_backoff_min_df=0,
    ):
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.char_features = char_features
        self.word_features = word_features
        self.char_weight = char_weight
        self.char_distinct = char_distinct
        self.char_backoff_min_df = char_backoff_min_df

    def fit(self, X, y=None):
        """Learn the vocabulary and idf weights from the texts `X` (and `y`, to select character n-grams)."""
        X = list(X)
        space = fit_feature_space(
            X,
            word_ngram_range=tuple(self.word_ngram_range),
            char_ngram_range=self.char_ngram_range,
            min_df=self.min_df,
            max_df=self.max_df,
            char_backoff_min_df=self.char_backoff_min_df,
        )
        if y is not None and (self.char_features is not None or self.word_features is not None):
            keep = {"c:": self.char_features, "w:": self.word_features}
            space = select_features(space, X, np.asarray(y), keep, distinct=self.char_distinct)
        if self.char_weight != 1.0:
            if not (np.isfinite(self.char_weight) and self.char_weight > 0):
                raise ValueError(f"char_weight must be a positive number, got {self.char_weight!r}")
            idf = space.idf * np.where(space.is_char, float(self.char_weight), 1.0)
            space = FeatureSpace(
                space.feature_names, idf, space.word_ngram_range, space.char_ngram_range, space.char_backoff_idf
            )
        self.space_ = space
        return self

    def transform(self, X):
        """TF-IDF rows of the texts `X` as a CSR matrix."""
        matrix = featurize(list(X), self.space_)
        matrix.sort_indices()  # canonical CSR for scikit-learn
        return matrix

    def get_feature_names_out(self, input_features=None):
        """Feature names: ``w:<word n-gram>`` and ``c:<character n-gram>``."""
        return self.space_.feature_names.astype(object)


def select_features(
    space: FeatureSpace, texts: list[str], y: np.ndarray, keep: dict[str, int | None], distinct: bool = False
) -> FeatureSpace:
    """Keep, per kind of feature (name prefix ``"w:"`` or ``"c:"``), the `keep[prefix]` n-grams with the
    highest chi-squared of presence against any label column of `y` (None keeps them all).

    `distinct` skips a character n-gram present in exactly the same texts as a word n-gram or a character
    n-gram ranked above it (hybr, ybri, brid, ... of "hybrid"): such copies add nothing the model can tell
    apart, and each copy lets an L2-regularised fit give the shared pattern more weight for the same cost.
    """
    presence = featurize(texts, space)
    presence.data[:] = 1.0
    Y = y.reshape(len(texts), -1)
    scores = np.max([np.nan_to_num(chi2(presence, Y[:, j])[0]) for j in range(Y.shape[1])], axis=0)
    names = space.feature_names.astype(str)
    pattern = None
    if distinct:
        csc = presence.tocsc()
        csc.sort_indices()
        pattern = [csc.indices[csc.indptr[j] : csc.indptr[j + 1]].tobytes() for j in range(csc.shape[1])]
    kept = []
    seen = set() if distinct else None
    for prefix, k in sorted(keep.items(), key=lambda item: item[0] != "w:"):  # words first: copies defer to them
        cols = np.flatnonzero(np.char.startswith(names, prefix))
        ranked = cols[np.argsort(-scores[cols], kind="stable")]
        if distinct and prefix == "c:":
            unique = []
            for j in ranked.tolist():
                if pattern[j] not in seen:
                    seen.add(pattern[j])
                    unique.append(j)
            ranked = np.array(unique, dtype=np.int64)
        chosen = ranked if k is None else ranked[:k]
        if distinct and prefix == "w:":
            seen.update(pattern[j] for j in chosen.tolist())
        kept.append(chosen)
    return space.subset(np.sort(np.concatenate(kept)))
