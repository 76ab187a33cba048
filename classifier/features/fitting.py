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
) -> FeatureSpace:
    """Learn the vocabulary (n-grams in at least `min_df` texts and at most `max_df` of them) and idf.

    Texts are tokenised by `tokenize`, so tokens longer than `MAX_TOKEN_CHARS` never reach the vocabulary.
    """
    n_docs = len(texts)
    df: dict[str, int] = {}
    for text in texts:
        tokens = tokenize(text)
        grams = {"w:" + g for g in word_ngrams(tokens, word_ngram_range)}
        if char_ngram_range is not None:
            grams.update("c:" + g for w in set(tokens) for g in char_ngrams(w, char_ngram_range))
        for g in grams:
            df[g] = df.get(g, 0) + 1
    max_count = max_df * n_docs if isinstance(max_df, float) else max_df
    kept = sorted(g for g, c in df.items() if min_df <= c <= max_count)
    if not kept:
        raise ValueError("no feature is frequent enough: lower min_df or add training text")
    idf = np.array([math.log((1 + n_docs) / (1 + df[g])) + 1.0 for g in kept])
    return FeatureSpace(np.array(kept), idf, tuple(word_ngram_range), _range_or_none(char_ngram_range))


def _range_or_none(value) -> tuple[int, int] | None:
    return None if value is None else (int(value[0]), int(value[1]))
