"""`FeatureSpace`: the fitted vocabulary and idf as plain arrays, with the indexes that look tokens up in it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from classifier.features.arrays import expand
from classifier.features.ascii_tokens import unpack_token
from classifier.features.token_table import TokenTable
from classifier.features.tokens import char_ngrams

# Word ids are combined into one int64 key per n-gram; this many word ids fit for n <= 3.
MAX_KEY = 2**62
# A fresh token table once the old one holds this many tokens: bounds memory on endless streams of new words.
TOKEN_TABLE_LIMIT = 1_000_000


@dataclass
class FeatureSpace:
    """The fitted vocabulary and idf weights; everything `featurize` needs, as plain arrays.

    `feature_names[j]` is ``"w:<n-gram>"`` for word n-grams and ``"c:<n-gram>"`` for character ones.
    """

    feature_names: np.ndarray
    idf: np.ndarray
    word_ngram_range: tuple[int, int]
    char_ngram_range: tuple[int, int] | None
    # A token whose unigram's idf is at most this (a word seen in enough training texts) counts towards its
    # unigram alone; character n-grams stand in for the rarer and unseen words. 0 (idf is >= 1): off.
    char_backoff_idf: float = 0.0
    names: list[str] = field(init=False, repr=False)
    is_char: np.ndarray = field(init=False, repr=False)
    is_ngram: np.ndarray = field(init=False, repr=False)
    char_slot: np.ndarray = field(init=False, repr=False)
    word_index: dict[str, int] = field(init=False, repr=False)
    char_index: dict[str, int] = field(init=False, repr=False)
    ngram_keys: list[np.ndarray] = field(init=False, repr=False)
    ngram_cols: list[np.ndarray] = field(init=False, repr=False)
    unigram_col: np.ndarray = field(init=False, repr=False)
    _tokens: TokenTable = field(init=False, repr=False)
    _ngram_index: dict[int, dict[int, int]] = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._build_indexes()

    # Pickle only the learned arrays; indexes, caches and the lock are rebuilt on load.
    _STATE = ("feature_names", "idf", "word_ngram_range", "char_ngram_range", "char_backoff_idf")

    def __getstate__(self) -> dict:
        return {name: getattr(self, name) for name in self._STATE}

    def __setstate__(self, state: dict) -> None:
        for name in self._STATE:
            setattr(self, name, state.get(name, 0.0))  # only char_backoff_idf can be missing (older pickles)
        self._build_indexes()

    def subset(self, keep: np.ndarray) -> FeatureSpace:
        """A space with only the features at the sorted column indices `keep` (idf unchanged)."""
        return FeatureSpace(
            self.feature_names[keep],
            self.idf[keep],
            self.word_ngram_range,
            self.char_ngram_range,
            self.char_backoff_idf,
        )

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
        if base**hi >= MAX_KEY:
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
        self.names = names
        self.is_char = np.array([n.startswith("c:") for n in names], dtype=bool)
        self.is_ngram = np.array([n.startswith("w:") and " " in n for n in names], dtype=bool)  # n >= 2 words
        self.char_slot = np.where(self.is_char, np.cumsum(self.is_char) - 1, -1)  # index among character n-grams
        self._tokens = TokenTable()
        self._lock = threading.Lock()
        self._ngram_index: dict[int, dict[int, int]] = {}

    def ngram_index(self, n: int) -> dict[int, int]:
        """The feature column of every word n-gram of length `n` (>= 2) by its key (word ids combined as in
        `ngram_keys`): the plain-Python counting path's look-up, built on first use."""
        index = self._ngram_index.get(n)
        if index is None:
            at = n - max(self.word_ngram_range[0], 2)  # ngram_keys[0] holds the shortest n >= 2
            pairs = zip(self.ngram_keys[at].tolist(), self.ngram_cols[at].tolist(), strict=True)
            index = self._ngram_index[n] = dict(pairs)
        return index

    def char_cols(self, word: str) -> np.ndarray:
        """Feature columns of the character n-grams of `word` (one per occurrence, unknown ones dropped)."""
        if self.char_ngram_range is None:
            return np.zeros(0, dtype=np.int64)
        get = self.char_index.get
        found = [get(g, -1) for g in char_ngrams(word, self.char_ngram_range)]
        return np.array([c for c in found if c >= 0], dtype=np.int64)

    def token_cols(self, word: str) -> np.ndarray:
        """Feature columns a single occurrence of the token `word` counts towards: its unigram, if in the
        vocabulary, then its character n-grams (none when the unigram's idf is at most `char_backoff_idf`)."""
        wid = self.word_index.get(word, -1)
        lo, hi = self.word_ngram_range
        unigram = self.unigram_col[wid] if wid >= 0 and lo <= 1 <= hi else -1
        if unigram >= 0 and self.idf[unigram] <= self.char_backoff_idf:
            return np.array([unigram], dtype=np.int64)
        chars = self.char_cols(word)
        return np.concatenate([[unigram], chars]) if unigram >= 0 else chars

    def char_occurrences(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every character n-gram feature occurrence in `tokens`: the index of its token, and its column."""
        table = self.token_table()
        tids = self.lookup_tokens(table, tokens)
        arrays = table.arrays
        starts = arrays.indptr[tids]
        lengths = arrays.indptr[tids + 1] - starts
        cols = arrays.indices[expand(starts, lengths)]
        token_index = np.repeat(np.arange(len(tokens)), lengths)
        keep = self.is_char[cols]
        return token_index[keep], cols[keep]

    def token_table(self) -> TokenTable:
        """The per-process table of tokens seen so far (a fresh one once it holds too many tokens).

        The table remembers, for every distinct token seen, its word id and the feature columns it
        counts towards, so each token's character n-grams are computed once per process rather than
        once per use. Callers use the returned table for one whole batch.
        """
        with self._lock:
            if self._tokens.size > TOKEN_TABLE_LIMIT:
                self._tokens = TokenTable()
            return self._tokens

    def lookup_tokens(self, table: TokenTable, tokens: list[str]) -> np.ndarray:
        """Token ids of the strings `tokens` in `table`, adding the ones it has not seen."""
        tids = table.string_ids(tokens)
        missing = np.flatnonzero(tids < 0).tolist()
        if missing:
            unseen = [tokens[i] for i in missing]
            with self._lock:
                table.add(unseen, self)
            tids[missing] = table.string_ids(unseen)
        return tids

    def lookup_packed(self, table: TokenTable, keys: np.ndarray) -> np.ndarray:
        """Token ids of packed ASCII tokens (`pack_token` keys) in `table`, adding the ones it has not seen."""
        tids = table.packed_ids(keys)
        missing = tids < 0
        if missing.any():
            new = [unpack_token(int(k)) for k in np.unique(keys[missing]).tolist()]
            with self._lock:
                table.add(new, self)
            tids[missing] = table.packed_ids(keys[missing])
        return tids
