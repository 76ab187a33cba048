"""The TF-IDF n-gram transformer, as a scikit-learn estimator around `classifier.featurize`."""

from __future__ import annotations

from sklearn.base import BaseEstimator, TransformerMixin

from classifier.featurize import featurize, fit_feature_space


class NgramTfidf(TransformerMixin, BaseEstimator):
    """TF-IDF of word n-grams and in-word character n-grams (see `classifier.featurize`).

    Parameters mirror `TfidfVectorizer`: `word_ngram_range`, `char_ngram_range` (None turns character
    n-grams off), `min_df` (count) and `max_df` (share of documents). The fitted `space_` is the
    pickle-free `FeatureSpace` that serving uses directly.
    """

    def __init__(self, word_ngram_range=(1, 2), char_ngram_range=(2, 5), min_df=2, max_df=1.0):
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_df = max_df

    def fit(self, X, y=None):
        """Learn the vocabulary and idf weights from the texts `X`."""
        self.space_ = fit_feature_space(
            list(X),
            word_ngram_range=tuple(self.word_ngram_range),
            char_ngram_range=self.char_ngram_range,
            min_df=self.min_df,
            max_df=self.max_df,
        )
        return self

    def transform(self, X):
        """TF-IDF rows of the texts `X` as a CSR matrix."""
        return featurize(list(X), self.space_).to_csr()

    def get_feature_names_out(self, input_features=None):
        """Feature names: ``w:<word n-gram>`` and ``c:<character n-gram>``."""
        return self.space_.feature_names.astype(object)
