"""TF-IDF n-gram features computed with numpy alone.

This module is the single definition of the model's features. Training wraps it in a scikit-learn
transformer (`classifier.features.NgramTfidf`); serving calls it directly, so scoring needs neither
scikit-learn nor a pickle. Word n-grams are looked up by integer keys built from word ids, and the
character n-grams of each distinct word are computed once and cached, which is what makes batch
featurisation fast in pure Python + numpy.

Features of one text:
- word n-grams of the normalised, lower-cased tokens (`word_ngram_range`);
- character n-grams of each token padded with one space on each side (`char_ngram_range`), like
  scikit-learn's ``char_wb`` analyser but on the same tokens as the word n-grams;
- term frequency ``1 + ln(count)``, times smooth idf ``ln((1 + n) / (1 + df)) + 1``, rows L2-normalised.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from itertools import chain, repeat

import numpy as np

# Unicode quotes, dashes and odd spaces folded to ASCII so "don’t" and "don't" share features. Folded before
# NFKC too, which would otherwise turn "´" into a space and a combining accent; and after, for what NFKC yields.
_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u00b4": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u200b": "",
        "\ufeff": "",
    }
)
_SPACES = re.compile(r"\s+")
TOKEN_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")

# Word ids are combined into one int64 key per n-gram; this many word ids fit for n <= 3.
_MAX_KEY = 2**62
_TOKEN_TABLE_LIMIT = 1_000_000


def normalize_for_features(text: str) -> str:
    """Return `text` NFKC-normalised, quotes/dashes folded to ASCII, whitespace collapsed, lower-cased.

    Used for features only: passage offsets always refer to the caller's original text.
    """
    return _SPACES.sub(" ", _feature_text(text)).strip()


def tokenize(text: str) -> list[str]:
    """Split `text` into the word tokens the model sees (after `normalize_for_features`)."""
    return TOKEN_RE.findall(normalize_for_features(text))


def word_ngrams(tokens: list[str], ngram_range: tuple[int, int]) -> list[str]:
    """All word n-grams of `tokens` for n in `ngram_range` (inclusive), joined by single spaces."""
    lo, hi = ngram_range
    grams: list[str] = []
    for n in range(lo, hi + 1):
        if n == 1:
            grams.extend(tokens)
        else:
            grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def char_ngrams(word: str, ngram_range: tuple[int, int]) -> list[str]:
    """Character n-grams of `word` padded with a space on each side, for n in `ngram_range`."""
    padded = f" {word} "
    lo, hi = ngram_range
    return [padded[i : i + n] for n in range(lo, hi + 1) for i in range(len(padded) - n + 1)]


@dataclass
class FeatureSpace:
    """The fitted vocabulary and idf weights; everything `featurize` needs, as plain arrays.

    `feature_names[j]` is ``"w:<n-gram>"`` for word n-grams and ``"c:<n-gram>"`` for character ones.
    """

    feature_names: np.ndarray
    idf: np.ndarray
    word_ngram_range: tuple[int, int]
    char_ngram_range: tuple[int, int] | None
    word_index: dict[str, int] = field(init=False, repr=False)
    char_index: dict[str, int] = field(init=False, repr=False)
    ngram_keys: list[np.ndarray] = field(init=False, repr=False)
    ngram_cols: list[np.ndarray] = field(init=False, repr=False)
    unigram_col: np.ndarray = field(init=False, repr=False)
    _tokens: _TokenTable = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._build_indexes()

    # Pickle only the learned arrays; indexes, caches and the lock are rebuilt on load.
    _STATE = ("feature_names", "idf", "word_ngram_range", "char_ngram_range")

    def __getstate__(self) -> dict:
        return {name: getattr(self, name) for name in self._STATE}

    def __setstate__(self, state: dict) -> None:
        for name in self._STATE:
            setattr(self, name, state[name])
        self._build_indexes()

    def subset(self, keep: np.ndarray) -> FeatureSpace:
        """A space with only the features at the sorted column indices `keep` (idf unchanged)."""
        return FeatureSpace(self.feature_names[keep], self.idf[keep], self.word_ngram_range, self.char_ngram_range)

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return len(self.feature_names)

    def _build_indexes(self) -> None:
        names = [str(n) for n in self.feature_names]
        lo, hi = self.word_ngram_range
        word_grams = [(j, n[2:].split(" ")) for j, n in enumerate(names) if n.startswith("w:")]
        words = sorted({w for _, parts in word_grams for w in parts})
        self.word_index = {w: i for i, w in enumerate(words)}
        base = len(words) + 1
        if base**hi >= _MAX_KEY:
            raise ValueError(f"word vocabulary of {len(words)} is too large for {hi}-grams")
        self.unigram_col = np.full(len(words), -1, dtype=np.int64)
        by_n: dict[int, list[tuple[int, int]]] = {n: [] for n in range(max(lo, 2), hi + 1)}
        for j, parts in word_grams:
            if len(parts) == 1:
                self.unigram_col[self.word_index[parts[0]]] = j
            else:
                key = 0
                for w in parts:
                    key = key * base + self.word_index[w]
                by_n[len(parts)].append((key, j))
        self.ngram_keys, self.ngram_cols = [], []
        for n in range(max(lo, 2), hi + 1):
            pairs = sorted(by_n[n])
            self.ngram_keys.append(np.array([k for k, _ in pairs], dtype=np.int64))
            self.ngram_cols.append(np.array([c for _, c in pairs], dtype=np.int64))
        self.char_index = {n[2:]: j for j, n in enumerate(names) if n.startswith("c:")}
        self._tokens = _TokenTable()
        self._lock = threading.Lock()

    def char_cols(self, word: str) -> np.ndarray:
        """Feature columns of the character n-grams of `word` (one per occurrence, unknown ones dropped)."""
        if self.char_ngram_range is None:
            return np.zeros(0, dtype=np.int64)
        get = self.char_index.get
        found = [get(g, -1) for g in char_ngrams(word, self.char_ngram_range)]
        return np.array([c for c in found if c >= 0], dtype=np.int64)

    def token_ids(self, tokens: list[str]) -> tuple[np.ndarray, _TokenTable]:
        """Ids of `tokens` in the per-process token table, and the table (a consistent snapshot).

        The table remembers, for every distinct token seen, its word id and its character n-gram
        columns, so each token's n-grams are computed once per process rather than once per use.
        """
        table = self._tokens
        ids = np.fromiter(map(table.ids.get, tokens, repeat(-1)), dtype=np.int64, count=len(tokens))
        missing = np.flatnonzero(ids < 0)
        if not len(missing):
            return ids, table
        with self._lock:
            if len(self._tokens.ids) > _TOKEN_TABLE_LIMIT:  # bound memory on endless streams of new words
                self._tokens = _TokenTable()
            if self._tokens is not table:  # replaced since we looked: look everything up again
                table = self._tokens
                ids = np.fromiter(map(table.ids.get, tokens, repeat(-1)), dtype=np.int64, count=len(tokens))
                missing = np.flatnonzero(ids < 0)
            get = table.ids.get
            for i in missing.tolist():
                token = tokens[i]
                tid = get(token)
                if tid is None:
                    tid = table.add(token, self.word_index.get(token, -1), self.char_cols(token))
                ids[i] = tid
            table.freeze()
        return ids, table


class _TokenTable:
    """Growing arrays: word id and character n-gram columns of every token id."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self._wid: list[int] = []
        self._char_parts: list[np.ndarray] = []
        self.wid = np.zeros(0, dtype=np.int64)
        self.char_start = np.zeros(0, dtype=np.int64)
        self.char_len = np.zeros(0, dtype=np.int64)
        self.char_flat = np.zeros(0, dtype=np.int64)
        self._frozen = 0

    def add(self, token: str, wid: int, char_cols: np.ndarray) -> int:
        tid = len(self._wid)
        self.ids[token] = tid
        self._wid.append(wid)
        self._char_parts.append(char_cols)
        return tid

    def freeze(self) -> None:
        """Extend the numpy arrays with the tokens added since the last freeze."""
        new = self._char_parts[self._frozen :]
        if not new:
            return
        lengths = np.fromiter(map(len, new), dtype=np.int64, count=len(new))
        starts = len(self.char_flat) + np.cumsum(lengths) - lengths
        self.char_flat = np.concatenate([self.char_flat, *new])
        self.char_start = np.concatenate([self.char_start, starts])
        self.char_len = np.concatenate([self.char_len, lengths])
        self.wid = np.array(self._wid, dtype=np.int64)
        self._frozen = len(self._char_parts)
        self._char_parts[: self._frozen] = [None] * self._frozen  # the arrays hold them now


@dataclass
class SparseRows:
    """Row-major sparse matrix as (row, col, value) triples sorted by row then col."""

    n_rows: int
    n_cols: int
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray

    def to_csr(self):
        """Return this matrix as a `scipy.sparse.csr_matrix`."""
        from scipy.sparse import csr_matrix

        indptr = np.zeros(self.n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.rows, minlength=self.n_rows), out=indptr[1:])
        return csr_matrix((self.values, self.cols, indptr), shape=(self.n_rows, self.n_cols))


def _feature_text(text: str) -> str:
    """Lower-cased text with Unicode folded; whitespace is left alone since tokens ignore it."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text.translate(_FOLD)).translate(_FOLD).lower()


def _expand(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices ``starts[i] .. starts[i] + lengths[i] - 1`` for every i, concatenated."""
    total = int(lengths.sum())
    out_start = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) - np.repeat(out_start - starts, lengths)


def count_features(texts: list[str], space: FeatureSpace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw n-gram counts of `texts` as (row, col, count) arrays, sorted by row then col."""
    n_docs = len(texts)
    findall = TOKEN_RE.findall
    token_lists = [findall(_feature_text(t)) for t in texts]
    lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=n_docs)
    tids, table = space.token_ids(list(chain.from_iterable(token_lists)))
    n_tokens = len(tids)
    doc_of_token = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    wid = table.wid[tids]

    row_parts: list[np.ndarray] = []
    col_parts: list[np.ndarray] = []
    lo, hi = space.word_ngram_range
    if lo <= 1 <= hi and n_tokens:
        cols = np.where(wid >= 0, space.unigram_col[np.maximum(wid, 0)], -1)
        keep = cols >= 0
        row_parts.append(doc_of_token[keep])
        col_parts.append(cols[keep])
    base = len(space.word_index) + 1
    for n, keys_sorted, cols_sorted in zip(range(max(lo, 2), hi + 1), space.ngram_keys, space.ngram_cols, strict=True):
        if n_tokens < n or not len(keys_sorted):
            continue
        m = n_tokens - n + 1
        valid = doc_of_token[:m] == doc_of_token[n - 1 :]
        key = np.zeros(m, dtype=np.int64)
        for k in range(n):
            part = wid[k : k + m]
            valid &= part >= 0
            key = key * base + np.maximum(part, 0)
        pos = np.searchsorted(keys_sorted, key)
        pos[pos >= len(keys_sorted)] = 0
        hit = valid & (keys_sorted[pos] == key)
        row_parts.append(doc_of_token[:m][hit])
        col_parts.append(cols_sorted[pos[hit]])
    if space.char_ngram_range is not None and n_tokens:
        occ_len = table.char_len[tids]
        row_parts.append(np.repeat(doc_of_token, occ_len))
        col_parts.append(table.char_flat[_expand(table.char_start[tids], occ_len)])

    if not row_parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    flat = np.concatenate(row_parts) * space.n_features + np.concatenate(col_parts)
    uniq, counts = np.unique(flat, return_counts=True)
    return uniq // space.n_features, uniq % space.n_features, counts


def featurize(texts: list[str], space: FeatureSpace) -> SparseRows:
    """TF-IDF feature rows of `texts` (sublinear tf, smooth idf, L2-normalised rows)."""
    rows, cols, counts = count_features(texts, space)
    values = (1.0 + np.log(counts.astype(np.float64))) * space.idf[cols]
    norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=len(texts)))
    values /= norms[rows]
    return SparseRows(len(texts), space.n_features, rows, cols, values)


def fit_feature_space(
    texts: list[str],
    word_ngram_range: tuple[int, int] = (1, 2),
    char_ngram_range: tuple[int, int] | None = (2, 5),
    min_df: int = 2,
    max_df: float = 1.0,
) -> FeatureSpace:
    """Learn the vocabulary (n-grams in at least `min_df` texts and at most `max_df` of them) and idf."""
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
