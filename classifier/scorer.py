"""Scoring with plain arrays: the serving form of a fitted `AlertClassifier`.

`LinearScorer` holds the feature space, coefficients, intercepts, labels and thresholds as numpy
arrays. It computes exactly what the scikit-learn pipeline computes (the tests hold it to 1e-9) but
needs neither scikit-learn nor unpickling: it is stored as an `.npz` read with ``allow_pickle=False``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from classifier.featurize import TOKEN_RE, FeatureSpace, SparseRows, _feature_text, featurize

CHUNK_SIZE = 1024


@dataclass
class LinearScorer:
    """Per-label logistic scores over TF-IDF features, with per-label thresholds."""

    space: FeatureSpace
    coef: np.ndarray  # (n_features, n_labels)
    intercept: np.ndarray  # (n_labels,)
    labels: tuple[str, ...]
    thresholds: np.ndarray  # (n_labels,)

    @classmethod
    def from_estimator(cls, estimator) -> LinearScorer:
        """The scorer equivalent to a fitted `AlertClassifier`."""
        coef, intercept = estimator.linear_parts()
        space = estimator.pipeline_.named_steps["features"].space_
        return cls(space, coef, intercept, tuple(estimator.labels_), np.array(estimator.thresholds_))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything needed to rebuild the scorer, as arrays `np.savez` can store without pickling."""
        char_range = self.space.char_ngram_range or (0, 0)
        return {
            "feature_names": self.space.feature_names.astype(str),
            "idf": self.space.idf,
            "word_ngram_range": np.array(self.space.word_ngram_range),
            "char_ngram_range": np.array(char_range),
            "coef": self.coef,
            "intercept": self.intercept,
            "labels": np.array(self.labels, dtype=str),
            "thresholds": self.thresholds,
        }

    @classmethod
    def from_arrays(cls, arrays) -> LinearScorer:
        """Rebuild a scorer from `to_arrays` output (or the `np.load` of its `.npz`)."""
        char_range = tuple(int(v) for v in arrays["char_ngram_range"])
        space = FeatureSpace(
            feature_names=np.asarray(arrays["feature_names"]),
            idf=np.asarray(arrays["idf"], dtype=np.float64),
            word_ngram_range=tuple(int(v) for v in arrays["word_ngram_range"]),
            char_ngram_range=None if char_range == (0, 0) else char_range,
        )
        return cls(
            space=space,
            coef=np.asarray(arrays["coef"], dtype=np.float64),
            intercept=np.asarray(arrays["intercept"], dtype=np.float64),
            labels=tuple(str(v) for v in arrays["labels"]),
            thresholds=np.asarray(arrays["thresholds"], dtype=np.float64),
        )

    def logits(self, rows: SparseRows) -> np.ndarray:
        """Decision values (n_rows, n_labels) of featurised rows."""
        out = np.tile(self.intercept, (rows.n_rows, 1))
        if len(rows.rows):
            contributions = self.coef[rows.cols] * rows.values[:, None]
            starts = np.flatnonzero(np.r_[True, rows.rows[1:] != rows.rows[:-1]])
            out[rows.rows[starts]] += np.add.reduceat(contributions, starts, axis=0)
        return out

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Probability of every label for every text, shape (n_texts, n_labels)."""
        texts = list(texts)
        out = np.empty((len(texts), len(self.labels)))
        # Chunks keep the sort inside `featurize` in cache: ~30% faster than one big batch.
        for start in range(0, len(texts), CHUNK_SIZE):
            chunk = texts[start : start + CHUNK_SIZE]
            out[start : start + len(chunk)] = self.logits(featurize(chunk, self.space))
        return 1.0 / (1.0 + np.exp(-out))

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """Boolean matrix: each probability at or above its label's threshold."""
        return probabilities >= self.thresholds

    def evidence(self, text: str, label_index: int, top_k: int = 5) -> list[dict]:
        """The terms that raised `text`'s score for one label most, strongest first.

        A term's weight is its exact share of the logit: coefficient x TF-IDF value of the word n-gram,
        plus the contributions of the character n-grams inside that word, each split evenly over the
        word occurrences it came from. All weights of all terms plus the intercept sum to the logit;
        only terms with positive weight are listed.
        """
        rows = featurize([text], self.space)
        contributions = rows.values * self.coef[rows.cols, label_index]
        by_col = dict(zip(rows.cols.tolist(), contributions.tolist(), strict=True))
        weights: dict[str, float] = defaultdict(float)
        names = self.space.feature_names
        for col, value in by_col.items():
            name = str(names[col])
            if name.startswith("w:"):
                weights[name[2:]] += value
        if self.space.char_ngram_range is not None:
            tokens = TOKEN_RE.findall(_feature_text(text))
            token_cols = [self.space.char_cols(t) for t in tokens]
            occurrences: dict[int, int] = defaultdict(int)
            for cols in token_cols:
                for col in cols.tolist():
                    occurrences[col] += 1
            for token, cols in zip(tokens, token_cols, strict=True):
                for col in cols.tolist():
                    weights[token] += by_col[col] / occurrences[col]
        ranked = sorted(((w, t) for t, w in weights.items() if w > 0), reverse=True)[:top_k]
        return [{"term": term, "weight": round(weight, 4)} for weight, term in ranked]
