"""TF-IDF n-gram features computed with numpy (and scipy's sparse product).

This module is the single definition of the model's features. Training wraps it in a scikit-learn
transformer (`classifier.features.NgramTfidf`); serving calls it directly, so scoring needs neither
scikit-learn nor a pickle. What makes batch featurisation fast without compiled code of our own:
- the tokens of a batch of ASCII text are found with numpy over its bytes, and tokens of up to 12
  characters are packed exactly into one int64 each, so they are looked up by sorted search rather
  than by a Python dict lookup per token (other text goes through the `TOKEN_RE` regex);
- every distinct token gets an id in a per-process table that remembers the feature columns it counts
  towards (its unigram and its character n-grams), computed once per process rather than once per use;
- a batch's counts are then one sparse product (texts x token ids) @ (token ids x features), plus the
  word n-grams (n >= 2), looked up by integer keys built from word ids.

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
from scipy.sparse import csr_matrix

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
# Finding the few characters to fold with a regex is several times faster than `str.translate` on
# non-ASCII text, which looks up every character of the text in the table.
_FOLD_CHARS = re.compile("[" + "".join(chr(c) for c in _FOLD) + "]")
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
    names: list[str] = field(init=False, repr=False)
    is_char: np.ndarray = field(init=False, repr=False)
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
        self.names = names
        self.is_char = np.array([n.startswith("c:") for n in names], dtype=bool)
        self._tokens = _TokenTable()
        self._lock = threading.Lock()

    def char_cols(self, word: str) -> np.ndarray:
        """Feature columns of the character n-grams of `word` (one per occurrence, unknown ones dropped)."""
        if self.char_ngram_range is None:
            return np.zeros(0, dtype=np.int64)
        get = self.char_index.get
        found = [get(g, -1) for g in char_ngrams(word, self.char_ngram_range)]
        return np.array([c for c in found if c >= 0], dtype=np.int64)

    def token_cols(self, word: str) -> np.ndarray:
        """Feature columns a single occurrence of the token `word` counts towards: its unigram, if in the
        vocabulary, then its character n-grams."""
        wid = self.word_index.get(word, -1)
        lo, hi = self.word_ngram_range
        unigram = self.unigram_col[wid] if wid >= 0 and lo <= 1 <= hi else -1
        chars = self.char_cols(word)
        return np.concatenate([[unigram], chars]) if unigram >= 0 else chars

    def char_occurrences(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every character n-gram feature occurrence in `tokens`: the index of its token, and its column."""
        table = self.token_table()
        tids = self.lookup_tokens(table, tokens)
        arrays = table.arrays
        starts = arrays.indptr[tids]
        lengths = arrays.indptr[tids + 1] - starts
        cols = arrays.indices[_expand(starts, lengths)]
        token_index = np.repeat(np.arange(len(tokens)), lengths)
        keep = self.is_char[cols]
        return token_index[keep], cols[keep]

    def token_table(self) -> _TokenTable:
        """The per-process table of tokens seen so far (a fresh one once it holds too many tokens).

        The table remembers, for every distinct token seen, its word id and the feature columns it
        counts towards, so each token's character n-grams are computed once per process rather than
        once per use. Callers use the returned table for one whole batch.
        """
        with self._lock:
            if self._tokens.size > _TOKEN_TABLE_LIMIT:  # bound memory on endless streams of new words
                self._tokens = _TokenTable()
            return self._tokens

    def lookup_tokens(self, table: _TokenTable, tokens: list[str]) -> np.ndarray:
        """Token ids of the strings `tokens` in `table`, adding the ones it has not seen."""
        tids = table.string_ids(tokens)
        missing = np.flatnonzero(tids < 0).tolist()
        if missing:
            unseen = [tokens[i] for i in missing]
            with self._lock:
                table.add(unseen, self)
            tids[missing] = table.string_ids(unseen)
        return tids

    def lookup_packed(self, table: _TokenTable, keys: np.ndarray) -> np.ndarray:
        """Token ids of packed ASCII tokens (`pack_tokens` keys) in `table`, adding the ones it has not seen."""
        tids = table.packed_ids(keys)
        missing = tids < 0
        if missing.any():
            new = [unpack_token(int(k)) for k in np.unique(keys[missing]).tolist()]
            with self._lock:
                table.add(new, self)
            tids[missing] = table.packed_ids(keys[missing])
        return tids


@dataclass(frozen=True)
class _TokenArrays:
    """A consistent snapshot of a `_TokenTable`: token ids below `size` are valid in every array."""

    size: int
    packed_keys: np.ndarray  # sorted packed keys of the tokens that pack
    packed_tids: np.ndarray  # token id of each packed key
    wid: np.ndarray  # word id of each token (-1: not in the word vocabulary)
    indptr: np.ndarray  # CSR rows over feature columns: each token's `FeatureSpace.token_cols`
    indices: np.ndarray


_EMPTY = np.zeros(0, dtype=np.int64)


class _TokenTable:
    """Every distinct token seen: its id (by string and by packed key), word id and feature columns.

    Tokens are only ever appended. Readers take `arrays` once and treat ids at or above its `size`
    as unseen, so they never see a token half-added; writers hold the feature space's lock.
    """

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.arrays = _TokenArrays(0, _EMPTY, _EMPTY, _EMPTY, np.zeros(1, dtype=np.int64), _EMPTY)

    @property
    def size(self) -> int:
        """Number of tokens in the table."""
        return len(self.ids)

    def string_ids(self, tokens: list[str]) -> np.ndarray:
        """Ids of `tokens`, -1 for those not in the table."""
        size = self.arrays.size
        ids = np.fromiter(map(self.ids.get, tokens, repeat(-1)), dtype=np.int64, count=len(tokens))
        ids[ids >= size] = -1  # added by another thread but not yet in the arrays
        return ids

    def packed_ids(self, keys: np.ndarray) -> np.ndarray:
        """Ids of the tokens with packed `keys`, -1 for those not in the table."""
        arrays = self.arrays
        if not len(arrays.packed_keys):
            return np.full(len(keys), -1, dtype=np.int64)
        pos = sorted_positions(arrays.packed_keys, keys)
        return np.where(arrays.packed_keys[pos] == keys, arrays.packed_tids[pos], -1)

    def add(self, tokens: list[str], space: FeatureSpace) -> None:
        """Add the `tokens` not yet in the table and publish new arrays (caller holds the space's lock)."""
        new = [t for t in dict.fromkeys(tokens) if t not in self.ids]
        if not new:
            return
        old = self.arrays
        tids = range(old.size, old.size + len(new))
        self.ids.update(zip(new, tids, strict=True))
        cols = [space.token_cols(t) for t in new]
        lengths = np.fromiter(map(len, cols), dtype=np.int64, count=len(cols))
        packed = [(key, tid) for key, tid in zip(map(pack_token, new), tids, strict=True) if key is not None]
        keys = np.concatenate([old.packed_keys, np.array([k for k, _ in packed], dtype=np.int64)])
        key_tids = np.concatenate([old.packed_tids, np.array([t for _, t in packed], dtype=np.int64)])
        order = np.argsort(keys, kind="stable")
        self.arrays = _TokenArrays(
            size=old.size + len(new),
            packed_keys=keys[order],
            packed_tids=key_tids[order],
            wid=np.concatenate([old.wid, np.array([space.word_index.get(t, -1) for t in new], dtype=np.int64)]),
            indptr=np.concatenate([old.indptr, old.indptr[-1] + np.cumsum(lengths)]),
            indices=np.concatenate([old.indices, *cols]),
        )


# Lower-case ASCII tokens of up to _PACK_LEN characters are packed exactly into one int64: one base-38
# digit per character (1-26 letters, 27-36 digits, 37 apostrophe; 38**12 < 2**63). Packed tokens are
# found and looked up with numpy over a whole batch, without making a Python string per token.
_PACK_LEN = 12
_PACK_BASE = 38
_PACK_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789'"
_PACK_CODE = np.zeros(256, dtype=np.uint8)  # one byte per character of a batch
_PACK_CODE[np.frombuffer(_PACK_ALPHABET.encode(), dtype=np.uint8)] = np.arange(1, len(_PACK_ALPHABET) + 1)
_APOSTROPHE = _PACK_ALPHABET.index("'") + 1


def pack_token(token: str) -> int | None:
    """The packed int64 key of `token`, or None if it is longer than 12 or not lower-case ASCII."""
    if len(token) > _PACK_LEN or not token.isascii():
        return None
    key = 0
    for ch in token:
        code = _PACK_ALPHABET.find(ch) + 1
        if not code:
            return None
        key = key * _PACK_BASE + code
    return key


def unpack_token(key: int) -> str:
    """The token behind a `pack_token` key."""
    chars = []
    while key:
        key, code = divmod(key, _PACK_BASE)
        chars.append(_PACK_ALPHABET[code - 1])
    return "".join(reversed(chars))


def sorted_positions(sorted_keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """For each query, the index in non-empty `sorted_keys` where it is or would be (0 past the end).

    Searching in sorted order is about twice as fast as in random order (the searches stay in cache).
    """
    order = np.argsort(queries)
    pos = np.empty(len(queries), dtype=np.int64)
    pos[order] = np.searchsorted(sorted_keys, queries[order])
    pos[pos >= len(sorted_keys)] = 0
    return pos


def ascii_codes(text: str) -> np.ndarray:
    """Per character of lower-case ASCII `text`: its packing digit (1-37), 0 for any other character."""
    return _PACK_CODE[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]


def token_spans(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of the `TOKEN_RE` tokens of a text given as `ascii_codes`.

    A token is a run of letters and digits, with single apostrophes allowed between two of them:
    exactly what ``[^\\W_]+(?:'[^\\W_]+)*`` matches in ASCII text.
    """
    alnum = (codes > 0) & (codes != _APOSTROPHE)
    inside = alnum.copy()
    if len(codes) > 2:
        inside[1:-1] |= (codes[1:-1] == _APOSTROPHE) & alnum[:-2] & alnum[2:]
    edges = np.flatnonzero(np.diff(inside, prepend=False, append=False))
    return edges[::2], edges[1::2]


def pack_spans(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """`pack_token` keys of the tokens at `starts`..`ends` of a text given as `ascii_codes`; -1 for those
    longer than 12 characters."""
    lengths = ends - starts
    keys = np.full(len(starts), -1, dtype=np.int64)
    short = np.flatnonzero(lengths <= _PACK_LEN)
    # Longest first, so the tokens still being packed are always a prefix (a radix sort on int8).
    by_length = short[np.argsort((_PACK_LEN - lengths[short]).astype(np.int8), kind="stable")]
    active_starts = starts[by_length]
    # longer[i]: how many tokens have more than i characters, i.e. the active prefix at character i.
    longer = (len(by_length) - np.cumsum(np.bincount(lengths[by_length], minlength=_PACK_LEN + 1))).tolist()
    packed = np.zeros(len(by_length), dtype=np.int64)
    for i in range(_PACK_LEN):
        n = longer[i]
        if not n:
            break
        packed[:n] = packed[:n] * _PACK_BASE + codes[active_starts[:n] + i]
    keys[by_length] = packed
    return keys


def _feature_text(text: str) -> str:
    """Lower-cased text with Unicode folded; whitespace is left alone since tokens ignore it."""
    if text.isascii():
        return text.lower()
    folded = _fold(text)
    normalized = unicodedata.normalize("NFKC", folded)
    if normalized != folded:  # NFKC can yield characters to fold ("″" -> "′′")
        normalized = _fold(normalized)
    return normalized.lower()


def _fold(text: str) -> str:
    """`text` with the quotes, dashes and odd spaces of `_FOLD` replaced."""
    return _FOLD_CHARS.sub(_fold_match, text) if _FOLD_CHARS.search(text) else text


def _fold_match(match: re.Match) -> str:
    return _FOLD[ord(match.group())]


def _expand(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices ``starts[i] .. starts[i] + lengths[i] - 1`` for every i, concatenated."""
    total = int(lengths.sum())
    out_start = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) - np.repeat(out_start - starts, lengths)


# numpy's fixed cost per call outweighs its speed on less text than this.
_NUMPY_TOKENS_MIN_CHARS = 2000


def _token_ids(texts: list[str], space: FeatureSpace) -> tuple[np.ndarray, np.ndarray, _TokenArrays]:
    """Token ids of all tokens of `texts` in order, the text each token is in, and the token arrays.

    In batches of more than `_NUMPY_TOKENS_MIN_CHARS` characters, ASCII texts (most) are tokenised
    together with numpy and their short tokens looked up by packed key; the rest go through `TOKEN_RE`
    and the string index, which is quicker for a few short texts. Both give the same ids.
    """
    table = space.token_table()
    # Raw ASCII texts are lower-cased below all at once; the others are normalised one by one and
    # most of them become ASCII too (curly quotes and dashes folded).
    feature_texts = [t if t.isascii() else _feature_text(t) for t in texts]
    if sum(map(len, feature_texts)) >= _NUMPY_TOKENS_MIN_CHARS:
        ascii_docs = [i for i, t in enumerate(feature_texts) if t.isascii()]
    else:
        ascii_docs = []
        feature_texts = [t.lower() if t.isascii() else t for t in feature_texts]
    tid_parts, doc_parts = [], []
    if ascii_docs:
        joined = " ".join([feature_texts[i] for i in ascii_docs]).lower()  # no token spans a joining space
        codes = ascii_codes(joined)
        starts, ends = token_spans(codes)
        doc_starts = np.cumsum([0, *(len(feature_texts[i]) + 1 for i in ascii_docs[:-1])])
        doc_parts.append(np.asarray(ascii_docs, dtype=np.int64)[np.searchsorted(doc_starts, starts, side="right") - 1])
        keys = pack_spans(codes, starts, ends)
        tids = np.empty(len(keys), dtype=np.int64)
        packed = keys >= 0
        tids[packed] = space.lookup_packed(table, keys[packed])
        long = np.flatnonzero(~packed)
        if len(long):
            spans = zip(starts[long].tolist(), ends[long].tolist(), strict=True)
            tids[long] = space.lookup_tokens(table, [joined[a:b] for a, b in spans])
        tid_parts.append(tids)
    if len(ascii_docs) < len(texts):
        done = set(ascii_docs)
        others = [i for i in range(len(texts)) if i not in done]
        token_lists = [TOKEN_RE.findall(feature_texts[i]) for i in others]
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(others))
        doc_parts.append(np.repeat(np.asarray(others, dtype=np.int64), lengths))
        tid_parts.append(space.lookup_tokens(table, list(chain.from_iterable(token_lists))))
    if not tid_parts:
        return _EMPTY, _EMPTY, table.arrays
    tids, docs = np.concatenate(tid_parts), np.concatenate(doc_parts)
    if len(tid_parts) > 1:
        order = np.argsort(docs, kind="stable")  # each part is in text order already
        tids, docs = tids[order], docs[order]
    return tids, docs, table.arrays


# Below this many tokens a batch is counted by sorting its (text, feature) pairs, above it by a sparse
# matrix product: sorting is cheaper for a few texts (no scipy objects), the product for many.
_SORT_COUNT_MAX_TOKENS = 2000


def count_features(texts: list[str], space: FeatureSpace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw n-gram counts of `texts` as CSR arrays (indptr, indices, counts): one entry per feature present
    in a text (the column indices within a row are not necessarily sorted)."""
    n_docs = len(texts)
    tids, doc_of_token, arrays = _token_ids(texts, space)
    ngram_rows, ngram_cols = _word_ngram_hits(tids, doc_of_token, arrays, space)
    if len(tids) <= _SORT_COUNT_MAX_TOKENS:
        starts = arrays.indptr[tids]
        lengths = arrays.indptr[tids + 1] - starts
        rows = np.concatenate([np.repeat(doc_of_token, lengths), ngram_rows])
        cols = np.concatenate([arrays.indices[_expand(starts, lengths)], ngram_cols])
        pairs, counts = np.unique(rows * space.n_features + cols, return_counts=True)
        indptr = np.zeros(n_docs + 1, dtype=np.int64)
        np.cumsum(np.bincount(pairs // space.n_features, minlength=n_docs), out=indptr[1:])
        return indptr, pairs % space.n_features, counts.astype(np.float64)
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(doc_of_token, minlength=n_docs), out=indptr[1:])
    occurrences = csr_matrix((np.ones(len(tids)), tids, indptr), shape=(n_docs, arrays.size))
    token_features = csr_matrix(
        (np.ones(len(arrays.indices)), arrays.indices, arrays.indptr), shape=(arrays.size, space.n_features)
    )
    counts = occurrences @ token_features  # unigrams and character n-grams, via each token's columns
    if len(ngram_rows):
        order = np.argsort(ngram_rows, kind="stable")
        ngram_indptr = np.zeros(n_docs + 1, dtype=np.int64)
        np.cumsum(np.bincount(ngram_rows, minlength=n_docs), out=ngram_indptr[1:])
        ngrams = csr_matrix((np.ones(len(ngram_rows)), ngram_cols[order], ngram_indptr), shape=counts.shape)
        counts = counts + ngrams  # sums repeated n-grams too; the result has no duplicate entries
    return counts.indptr, counts.indices, counts.data


def _word_ngram_hits(
    tids: np.ndarray, doc_of_token: np.ndarray, arrays: _TokenArrays, space: FeatureSpace
) -> tuple[np.ndarray, np.ndarray]:
    """Text and feature column of every occurrence of a word n-gram feature with n >= 2."""
    row_parts: list[np.ndarray] = [_EMPTY]
    col_parts: list[np.ndarray] = [_EMPTY]
    n_tokens = len(tids)
    wid = arrays.wid[tids]
    lo, hi = space.word_ngram_range
    base = len(space.word_index) + 1
    for n, keys_sorted, cols_sorted in zip(range(max(lo, 2), hi + 1), space.ngram_keys, space.ngram_cols, strict=True):
        if n_tokens < n or not len(keys_sorted):
            continue
        m = n_tokens - n + 1
        valid = doc_of_token[:m] == doc_of_token[n - 1 :]
        for k in range(n):
            valid &= wid[k : k + m] >= 0
        at = np.flatnonzero(valid)  # only n-grams of known words can be features: look up only those
        key = np.zeros(len(at), dtype=np.int64)
        for k in range(n):
            key = key * base + wid[at + k]
        pos = sorted_positions(keys_sorted, key)
        hit = keys_sorted[pos] == key
        row_parts.append(doc_of_token[at[hit]])
        col_parts.append(cols_sorted[pos[hit]])
    return np.concatenate(row_parts), np.concatenate(col_parts)


def featurize(texts: list[str], space: FeatureSpace) -> csr_matrix:
    """TF-IDF feature rows of `texts` (sublinear tf, smooth idf, L2-normalised rows) as a CSR matrix."""
    indptr, indices, counts = count_features(texts, space)
    values = (1.0 + np.log(counts)) * space.idf[indices]
    row_of = np.repeat(np.arange(len(texts)), np.diff(indptr))
    norms = np.sqrt(np.bincount(row_of, weights=values * values, minlength=len(texts)))
    values /= norms[row_of]
    return csr_matrix((values, indices, indptr), shape=(len(texts), space.n_features))


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
