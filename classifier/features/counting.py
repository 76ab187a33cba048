"""Counting the n-gram features of a batch of texts: tokens to ids, then counts per text as CSR arrays."""

from __future__ import annotations

from collections import Counter
from itertools import chain

import numpy as np
from scipy.sparse import csr_matrix

from classifier.features.arrays import EMPTY, expand, sorted_positions
from classifier.features.ascii_tokens import ascii_codes, pack_spans, token_spans
from classifier.features.fold import feature_text
from classifier.features.space import FeatureSpace
from classifier.features.token_table import TokenArrays
from classifier.features.tokens import MAX_TOKEN_CHARS, TOKEN_RE, bounded, tokenize

# numpy's fixed cost per call outweighs its speed on less text than this (measured: the two are even at
# ~1,600 characters, 10 corpus passages; numpy is 1.3x faster at 2,700).
NUMPY_TOKENS_MIN_CHARS = 2000
# Below this many tokens a batch is counted by sorting its (text, feature) pairs, above it by a sparse
# matrix product: sorting is cheaper for a few texts (no scipy objects), the product for many. Measured
# by bench/bench_features.py: sorting wins up to ~400 corpus passages (~10,000 tokens), the product from
# ~1,000 (the 1,024-passage chunks of batch scoring).
SORT_COUNT_MAX_TOKENS = 10_000
# Up to this many characters in all, a batch is counted in plain Python (a `Counter` per text) instead of
# through the ~40 numpy calls of the sorting path, whose fixed costs dominate so little text: featurising
# one corpus passage (the service's one-text predict) went from 3,537 to 4,778 passages per CPU second,
# and sorting is faster again from about 5 passages (bench/bench_features.py, paths "regex+sort", "plain").
PLAIN_COUNT_MAX_CHARS = 300


def token_ids(texts: list[str], space: FeatureSpace) -> tuple[np.ndarray, np.ndarray, TokenArrays]:
    """Token ids of all tokens of `texts` in order, the text each token is in, and the token arrays.

    In batches of at least `NUMPY_TOKENS_MIN_CHARS` characters, ASCII texts (most) are tokenised
    together with numpy and their short tokens looked up by packed key; the rest go through `TOKEN_RE`
    and the string index, which is quicker for a few short texts. Both give the ids of `tokenize`'s tokens.
    """
    table = space.token_table()
    # Raw ASCII texts are lower-cased below all at once; the others are normalised one by one and
    # most of them become ASCII too (curly quotes and dashes folded).
    feature_texts = [t if t.isascii() else feature_text(t) for t in texts]
    if sum(map(len, feature_texts)) >= NUMPY_TOKENS_MIN_CHARS:
        ascii_docs = [i for i, t in enumerate(feature_texts) if t.isascii()]
    else:
        ascii_docs = []
        feature_texts = [t.lower() if t.isascii() else t for t in feature_texts]
    tid_parts, doc_parts = [], []
    if ascii_docs:
        joined = " ".join([feature_texts[i] for i in ascii_docs]).lower()  # no token spans a joining space
        codes = ascii_codes(joined)
        starts, ends = token_spans(codes)
        too_long = ends - starts > MAX_TOKEN_CHARS
        if too_long.any():
            starts, ends = starts[~too_long], ends[~too_long]
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
        token_lists = [bounded(TOKEN_RE.findall(feature_texts[i])) for i in others]
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(others))
        doc_parts.append(np.repeat(np.asarray(others, dtype=np.int64), lengths))
        tid_parts.append(space.lookup_tokens(table, list(chain.from_iterable(token_lists))))
    if not tid_parts:
        return EMPTY, EMPTY, table.arrays
    tids, docs = np.concatenate(tid_parts), np.concatenate(doc_parts)
    if len(tid_parts) > 1:
        order = np.argsort(docs, kind="stable")  # each part is in text order already
        tids, docs = tids[order], docs[order]
    return tids, docs, table.arrays


def count_features(texts: list[str], space: FeatureSpace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw n-gram counts of `texts` as CSR arrays (indptr, indices, counts): one entry per feature present
    in a text (the column indices within a row are not necessarily sorted)."""
    n_docs = len(texts)
    if sum(map(len, texts)) <= PLAIN_COUNT_MAX_CHARS:
        return _count_plain(texts, space)
    tids, doc_of_token, arrays = token_ids(texts, space)
    ngram_rows, ngram_cols = _word_ngram_hits(tids, doc_of_token, arrays, space)
    if len(tids) <= SORT_COUNT_MAX_TOKENS:
        starts = arrays.indptr[tids]
        lengths = arrays.indptr[tids + 1] - starts
        rows = np.concatenate([np.repeat(doc_of_token, lengths), ngram_rows])
        cols = np.concatenate([arrays.indices[expand(starts, lengths)], ngram_cols])
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


def _count_plain(texts: list[str], space: FeatureSpace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`count_features` of a little text, counted with a `Counter` per text: the same arrays (entries of a
    row in another order), without the fixed cost of numpy calls over arrays of a few dozen elements."""
    token_lists = [tokenize(text) for text in texts]
    table = space.token_table()
    tids = space.lookup_tokens(table, list(chain.from_iterable(token_lists)))
    arrays = table.arrays  # taken after the look-up: it holds every token of this batch
    starts = arrays.indptr[tids]
    lengths = arrays.indptr[tids + 1] - starts
    token_cols = arrays.indices[expand(starts, lengths)].tolist()
    lengths, wids = lengths.tolist(), arrays.wid[tids].tolist()
    lo, hi = space.word_ngram_range
    grams = [(n, space.ngram_index(n)) for n in range(max(lo, 2), hi + 1)]
    base = len(space.word_index) + 1
    indptr, indices, counts = [0], [], []
    token_at = col_at = 0
    for tokens in token_lists:
        n_tokens = len(tokens)
        n_cols = sum(lengths[token_at : token_at + n_tokens])
        found = Counter(token_cols[col_at : col_at + n_cols])
        words = wids[token_at : token_at + n_tokens]
        for n, index in grams:
            if not index:
                continue
            for i in range(n_tokens - n + 1):
                key = 0
                for wid in words[i : i + n]:
                    if wid < 0:  # an n-gram with an unknown word is no feature
                        break
                    key = key * base + wid
                else:
                    col = index.get(key)
                    if col is not None:
                        found[col] += 1
        indices.extend(found.keys())
        counts.extend(found.values())
        indptr.append(len(indices))
        token_at, col_at = token_at + n_tokens, col_at + n_cols
    return (
        np.array(indptr, dtype=np.int64),
        np.array(indices, dtype=np.int64),
        np.array(counts, dtype=np.float64),
    )


def _word_ngram_hits(
    tids: np.ndarray, doc_of_token: np.ndarray, arrays: TokenArrays, space: FeatureSpace
) -> tuple[np.ndarray, np.ndarray]:
    """Text and feature column of every occurrence of a word n-gram feature with n >= 2."""
    row_parts: list[np.ndarray] = [EMPTY]
    col_parts: list[np.ndarray] = [EMPTY]
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
