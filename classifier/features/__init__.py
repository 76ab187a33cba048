"""The model's TF-IDF n-gram features, the single definition that training and serving share.

Serving imports `featurize` and `FeatureSpace` (numpy and scipy only); training wraps them in the
scikit-learn transformer `NgramTfidf`, imported lazily so serving never loads scikit-learn.

Features of one text:
- word n-grams of the normalised, lower-cased tokens (`word_ngram_range`);
- character n-grams of each token padded with one space on each side (`char_ngram_range`), like
  scikit-learn's ``char_wb`` analyser but on the same tokens as the word n-grams;
- tokens longer than `MAX_TOKEN_CHARS` are dropped, in fitting and in scoring alike;
- term frequency ``1 + ln(count)``, times smooth idf ``ln((1 + n) / (1 + df)) + 1``, rows L2-normalised.

Modules, one job each:
- `fold`: Unicode folding before tokenising;
- `tokens`: the tokens and n-grams, defined plainly (the reference the fast paths equal);
- `ascii_tokens`: tokenising ASCII text with numpy and packing short tokens into int64 keys;
- `token_table`: the per-process table of tokens seen, with each token's feature columns;
- `space`: `FeatureSpace`, the fitted vocabulary and idf with its lookup indexes;
- `fitting`: learning a `FeatureSpace` from texts;
- `counting`: counting a batch's features (tokens to ids, ids to counts);
- `tfidf`: `featurize`, a batch's TF-IDF rows;
- `term_shares`: each term's share of a linear score (evidence), plainly per text and per batch with arrays;
- `transformer`: `NgramTfidf`, the scikit-learn transformer used in training.
"""

from __future__ import annotations

from classifier.features.fitting import fit_feature_space
from classifier.features.fold import normalize_for_features
from classifier.features.space import FeatureSpace
from classifier.features.tfidf import featurize
from classifier.features.tokens import MAX_TOKEN_CHARS, TOKEN_RE, char_ngrams, tokenize, word_ngrams

__all__ = [
    "MAX_TOKEN_CHARS",
    "TOKEN_RE",
    "FeatureSpace",
    "NgramTfidf",
    "char_ngrams",
    "featurize",
    "fit_feature_space",
    "normalize_for_features",
    "tokenize",
    "word_ngrams",
]


def __getattr__(name: str):
    # `NgramTfidf` needs scikit-learn: imported on first use (and by pickles naming classifier.features.NgramTfidf).
    if name in ("NgramTfidf", "select_features"):
        from classifier.features import transformer

        return getattr(transformer, name)
    raise AttributeError(f"module 'classifier.features' has no attribute {name!r}")
