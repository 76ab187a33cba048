"""Scoring with plain arrays: the serving form of a fitted `AlertClassifier`.

`LinearScorer` holds the feature space, coefficients, intercepts, labels and thresholds as numpy
arrays. It computes exactly what the scikit-learn pipeline computes (the tests hold it to 1e-9) but
needs neither scikit-learn nor unpickling: it is stored as an `.npz` read with ``allow_pickle=False``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix, vstack

from classifier.features import FeatureSpace, featurize
from classifier.features.term_shares import plain_term_shares, ranked_term_shares, top_terms

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
            "char_backoff_idf": np.array(self.space.char_backoff_idf),
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
            # absent from scorers written before the option existed
            char_backoff_idf=float(arrays["char_backoff_idf"]) if "char_backoff_idf" in arrays else 0.0,
        )
        return cls(
            space=space,
            coef=np.asarray(arrays["coef"], dtype=np.float64),
            intercept=np.asarray(arrays["intercept"], dtype=np.float64),
            labels=tuple(str(v) for v in arrays["labels"]),
            thresholds=np.asarray(arrays["thresholds"], dtype=np.float64),
        )

    def freeze(self) -> LinearScorer:
        """Make the learned arrays read-only (a loaded scorer is shared); returns self."""
        for array in (self.coef, self.intercept, self.thresholds, self.space.feature_names, self.space.idf):
            array.setflags(write=False)
        return self

    def transform(self, texts: list[str]) -> csr_matrix:
        """TF-IDF feature rows of `texts`, one CSR row per text: what `proba_from_rows` and `explain_rows` take."""
        texts = list(texts)
        if len(texts) <= CHUNK_SIZE:
            return featurize(texts, self.space)
        starts = range(0, len(texts), CHUNK_SIZE)
        chunks = [featurize(texts[start : start + CHUNK_SIZE], self.space) for start in starts]
        return vstack(chunks, format="csr")

    def logits(self, rows) -> np.ndarray:
        """Decision values (n_rows, n_labels) of feature rows (a CSR matrix from `transform`)."""
        return rows @ self.coef + self.intercept

    def proba_from_rows(self, rows) -> np.ndarray:
        """Probability of every label for every feature row (from `transform`), shape (n_rows, n_labels)."""
        return 1.0 / (1.0 + np.exp(-self.logits(rows)))

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
        """The terms that raised `text`'s score for one label most, strongest first (see `explain_rows`)."""
        return self.explain([text], [[label_index]], top_k)[0][label_index]

    def explain(self, texts: list[str], label_indices: list[list[int]], top_k: int = 5) -> list[dict[int, list[dict]]]:
        """`explain_rows` for texts not yet featurised: featurises only the texts with a label asked for."""
        wanted = [i for i, asked in enumerate(label_indices) if asked]
        out: list[dict[int, list[dict]]] = [{} for _ in texts]
        if wanted:
            picked = [texts[i] for i in wanted]
            found = self.explain_rows(picked, self.transform(picked), [label_indices[i] for i in wanted], top_k)
            for i, evidence in zip(wanted, found, strict=True):
                out[i] = evidence
        return out

    def explain_rows(
        self, texts: list[str], rows: csr_matrix, label_indices: list[list[int]], top_k: int = 5
    ) -> list[dict[int, list[dict]]]:
        """For each text, the evidence of each label index asked for: ``{label_index: [{"term", "weight"}]}``.

        `rows` are the texts' feature rows from `transform` (row i for texts[i]), so a caller that scored
        them already does not featurise them again. A term's weight is its exact share of the logit:
        coefficient x TF-IDF value of the word n-gram, plus the contributions of the character n-grams
        inside that word, each split evenly over the word occurrences it came from. All weights of all
        terms plus the intercept sum to the logit; only terms with positive weight are listed, at most
        `top_k` per label, strongest first (equal weights by term, descending). Computed for the whole
        batch with array operations (`ranked_term_shares`); `explain_rows_plain` is the same, text by text.
        """
        self._check_rows(texts, rows, label_indices)
        ranked = ranked_term_shares(self.space, texts, rows, self.coef, label_indices, top_k)
        # Rounded as the reference rounds (np.round), as plain floats: the JSONL writer (orjson) takes those
        # and fell back to the slower standard library, with other escaping, for numpy floats.
        weights = np.round(ranked.shares, 4).tolist()
        entries = [{"term": term, "weight": weight} for term, weight in zip(ranked.terms, weights, strict=True)]
        bounds = ranked.bounds
        out: list[dict[int, list[dict]]] = []
        pair = 0
        for asked in label_indices:
            found = {}
            for label_index in asked:
                found[label_index] = entries[bounds[pair] : bounds[pair + 1]]
                pair += 1
            out.append(found)
        return out

    def explain_rows_plain(
        self, texts: list[str], rows: csr_matrix, label_indices: list[list[int]], top_k: int = 5
    ) -> list[dict[int, list[dict]]]:
        """`explain_rows` computed text by text in plain Python (`plain_term_shares`): the reference the
        batch computation is tested against."""
        self._check_rows(texts, rows, label_indices)
        out: list[dict[int, list[dict]]] = [{} for _ in texts]
        for i, asked in enumerate(label_indices):
            if not asked:
                continue
            cols = rows.indices[rows.indptr[i] : rows.indptr[i + 1]]
            values = rows.data[rows.indptr[i] : rows.indptr[i + 1]]
            shares = plain_term_shares(self.space, texts[i], cols, values[:, None] * self.coef[cols][:, asked])
            for k, label_index in enumerate(asked):
                ranked = top_terms({term: weights[k] for term, weights in shares.items()}, top_k)
                out[i][label_index] = [{"term": term, "weight": float(round(weight, 4))} for weight, term in ranked]
        return out

    def _check_rows(self, texts: list[str], rows: csr_matrix, label_indices: list[list[int]]) -> None:
        if rows.shape != (len(texts), self.space.n_features) or len(label_indices) != len(texts):
            raise ValueError(
                f"{len(texts)} texts, {len(label_indices)} label lists and rows of shape {rows.shape}: "
                f"need one row of {self.space.n_features} features and one label list per text"
            )
