"""Learning a `FeatureSpace` from texts: the vocabulary (by document frequency) and smooth idf."""

from __future__ import annotations

import math

import numpy as np

from classifier.features.space import FeatureSpace
from classifier.features.tokens import char_ngrams, tokenize, word_ngrams


def fit_feature_space(
    texts: list[str],
    word_ngram_range: tuple[int, int] = (1, 2),
    char_ngram_range: tuple[int, int] | None = (2, 5),
    min_df: int = 2,
    max_df: float = 1.0,
    char_backoff_min_df: int = 0,
) -> FeatureSpace:
    """Learn the vocabulary (n-grams in at least `min_df` texts and at most `max_df` of them) and idf.

    Texts are tokenised by `tokenize`, so tokens longer than `MAX_TOKEN_CHARS` never reach the vocabulary.
    `char_backoff_min_df` m > 0: a word kept as a unigram and found in at least m texts counts no character
    n-grams (here and when featurising: the space's `char_backoff_idf` is the idf of df m).
    """
    n_docs = len(texts)
    max_count = max_df * n_docs if isinstance(max_df, float) else max_df
    df: dict[str, int] = {}
    token_lists = [tokenize(text) for text in texts]
    for tokens in token_lists:
        for g in {"w:" + g for g in word_ngrams(tokens, word_ngram_range)}:
            df[g] = df.get(g, 0) + 1
    if char_ngram_range is not None:
        lo, hi = word_ngram_range
        backoff = char_backoff_min_df > 0 and lo <= 1 <= hi

        def backed_off(w: str) -> bool:  # a kept unigram seen often enough counts no character n-grams
            count = df.get("w:" + w, 0)
            return max(min_df, char_backoff_min_df) <= count <= max_count

        for tokens in token_lists:
            words = {w for w in tokens if not (backoff and backed_off(w))}
            for g in {"c:" + g for w in words for g in char_ngrams(w, char_ngram_range)}:
                df[g] = df.get(g, 0) + 1
    kept = sorted(g for g, c in df.items() if min_df <= c <= max_count)
    if not kept:
        raise ValueError("no feature is frequent enough: lower min_df or add training text")
    idf = np.array([_idf(n_docs, df[g]) for g in kept])
    backoff_idf = _idf(n_docs, max(min_df, char_backoff_min_df)) if char_backoff_min_df > 0 else 0.0
    return FeatureSpace(np.array(kept), idf, tuple(word_ngram_range), _range_or_none(char_ngram_range), backoff_idf)


def _idf(n_docs: int, df: int) -> float:
    """Smooth idf, as scikit-learn's TfidfVectorizer computes it."""
    return math.log((1 + n_docs) / (1 + df)) + 1.0


def _range_or_none(value) -> tuple[int, int] | None:
    return None if value is None else (int(value[0]), int(value[1]))
