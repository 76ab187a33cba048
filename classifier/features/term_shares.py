"""Each term's share of a linear score over TF-IDF features: plainly per text, and per batch with arrays.

A term's share of one label's logit is the coefficient x TF-IDF value of the word n-gram, plus the
contributions of the character n-grams inside that word, each split evenly over the word occurrences it
came from (`plain_term_shares` is the definition). `ranked_term_shares` computes the same floating-point
sums in the same order for a whole batch from the feature rows already built for scoring and the
per-process token table, then ranks the terms of each (text, label) pair: equal to ranking
`plain_term_shares` text by text, weight for weight and in the same order (tests/test_evidence.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from classifier.features.arrays import expand
from classifier.features.counting import token_ids
from classifier.features.space import FeatureSpace
from classifier.features.token_table import TokenArrays
from classifier.features.tokens import tokenize


def top_terms(shares: dict[str, float], top_k: int) -> list[tuple[float, str]]:
    """The at most `top_k` terms of positive share, strongest first; equal shares by term, descending."""
    return sorted(((share, term) for term, share in shares.items() if share > 0), reverse=True)[:top_k]


def plain_term_shares(
    space: FeatureSpace, text: str, cols: np.ndarray, contributions: np.ndarray
) -> dict[str, np.ndarray]:
    """Per term of `text`: its share of each column of `contributions` (one row per feature in `cols`, the
    columns of `text`'s feature row). The plain reference `ranked_term_shares` equals."""
    width = contributions.shape[1]
    names = space.names
    shares: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(width))
    for col, value in zip(cols.tolist(), contributions, strict=True):
        if names[col].startswith("w:"):
            shares[names[col][2:]] += value
    if space.char_ngram_range is None:
        return shares
    tokens = tokenize(text)
    token_index, char_cols = space.char_occurrences(tokens)
    if len(char_cols):
        row_of = {col: row for row, col in enumerate(cols.tolist())}
        rows = np.array([row_of[col] for col in char_cols.tolist()], dtype=np.int64)
        _, inverse, counts = np.unique(char_cols, return_inverse=True, return_counts=True)
        by_token = np.zeros((len(tokens), width))
        np.add.at(by_token, token_index, contributions[rows] / counts[inverse][:, None])
        for token, value in zip(tokens, by_token, strict=True):
            shares[token] += value
    return shares


@dataclass(frozen=True)
class RankedTerms:
    """The ranked terms of every (text, label) pair asked for, flat and in order (texts in order, each
    text's labels in the order asked): pair p's terms are ``terms[bounds[p]:bounds[p + 1]]``, strongest
    first, with their unrounded shares in ``shares`` at the same positions."""

    bounds: list[int]
    terms: list[str]
    shares: np.ndarray


def ranked_term_shares(
    space: FeatureSpace,
    texts: list[str],
    rows: csr_matrix,
    coef: np.ndarray,
    label_indices: list[list[int]],
    top_k: int,
) -> RankedTerms:
    """The `top_terms` of each (text, label index asked for it) pair, computed for the whole batch at once.

    `rows` are the texts' TF-IDF rows (row i for texts[i]) and `coef` the (n_features, n_labels)
    coefficients. Every sum is taken in the order `plain_term_shares` takes it, so the shares are equal to
    the last bit: `np.bincount` adds its weights one by one in array order, as `np.add.at` and `+=` do.
    """
    n_pairs = sum(map(len, label_indices))
    wanted = [i for i, asked in enumerate(label_indices) if asked]
    if not wanted or top_k <= 0:
        return RankedTerms([0] * (n_pairs + 1), [], np.zeros(0))
    if len(wanted) < len(texts):  # texts without a label have no pairs: the pairs' order is unchanged
        texts, rows, label_indices = [texts[i] for i in wanted], rows[wanted], [label_indices[i] for i in wanted]
    return _ranked_pairs(space, texts, rows.sorted_indices(), coef, label_indices, top_k)


def _ranked_pairs(
    space: FeatureSpace,
    texts: list[str],
    rows: csr_matrix,
    coef: np.ndarray,
    label_indices: list[list[int]],
    top_k: int,
) -> RankedTerms:
    """`ranked_term_shares` of every (text, label) pair in order, for texts that all have a label asked for
    and rows with sorted column indices."""
    n_features = space.n_features
    # Pairs: (text, label) in order; a text's pairs are contiguous from pair_start[text].
    n_pairs = np.fromiter(map(len, label_indices), dtype=np.int64, count=len(label_indices))
    pair_start = np.cumsum(n_pairs) - n_pairs
    pair_label = np.fromiter((j for asked in label_indices for j in asked), dtype=np.int64, count=int(n_pairs.sum()))
    entry_text = np.repeat(np.arange(len(texts)), np.diff(rows.indptr))
    entry_key = entry_text * n_features + rows.indices  # ascending: rows in order, columns sorted within each

    # Units: each distinct token of each text, with its number of occurrences there.
    tids, token_text, arrays = token_ids(texts, space)
    unit_key, occurrences = np.unique(token_text * arrays.size + tids, return_counts=True)
    unit_text, unit_tid = np.divmod(unit_key, arrays.size)
    # Each unit's feature columns, in the token table's order: its unigram (if any), then its character n-grams.
    starts = arrays.indptr[unit_tid]
    lengths = arrays.indptr[unit_tid + 1] - starts
    cols = arrays.indices[expand(starts, lengths)]
    col_unit = np.repeat(np.arange(len(unit_tid)), lengths)
    pos = _entry_positions(entry_key, unit_text[col_unit] * n_features + cols)

    # Unit-pairs: each unit once per label asked for its text; a unit's unit-pairs are contiguous.
    unit_pairs = n_pairs[unit_text]
    unit_pair_start = np.cumsum(unit_pairs) - unit_pairs
    n_unit_pairs = int(unit_pairs.sum())
    up_pair = expand(pair_start[unit_text], unit_pairs)

    is_char = space.is_char[cols]
    # Character n-grams: each occurrence's contribution split over the n-gram's occurrences in the text,
    # summed per unit in the token's column order (the order `np.add.at` sums them in the reference).
    char_unit, char_pos = col_unit[is_char], pos[is_char]
    char_count = np.bincount(char_pos, weights=occurrences[char_unit], minlength=len(entry_key))
    c_index, c_slot = _per_pair(unit_pairs[char_unit])
    c_unit, c_pos = char_unit[c_index], char_pos[c_index]
    c_label = pair_label[pair_start[unit_text[c_unit]] + c_slot]
    split = rows.data[c_pos] * coef[rows.indices[c_pos], c_label] / char_count[c_pos]
    by_unit = np.bincount(unit_pair_start[c_unit] + c_slot, weights=split, minlength=n_unit_pairs)
    # Unigrams: the word's own contribution comes first, then the characters' once per occurrence.
    word_unit, word_pos = col_unit[~is_char], pos[~is_char]
    w_index, w_slot = _per_pair(unit_pairs[word_unit])
    w_unit, w_pos = word_unit[w_index], word_pos[w_index]
    w_label = pair_label[pair_start[unit_text[w_unit]] + w_slot]
    word_share = rows.data[w_pos] * coef[rows.indices[w_pos], w_label]
    up_occurrences = occurrences[np.repeat(np.arange(len(unit_tid)), unit_pairs)]
    unit_share = np.bincount(
        np.concatenate([unit_pair_start[w_unit] + w_slot, np.repeat(np.arange(n_unit_pairs), up_occurrences)]),
        weights=np.concatenate([word_share, np.repeat(by_unit, up_occurrences)]),
        minlength=n_unit_pairs,
    )
    unit_term = np.repeat(unit_tid, unit_pairs)

    # Word n-grams of two or more words: one feature each, the share is its contribution.
    ngram_entries = np.flatnonzero(space.is_ngram[rows.indices])
    n_index, n_slot = _per_pair(n_pairs[entry_text[ngram_entries]])
    n_entry = ngram_entries[n_index]
    n_pair = pair_start[entry_text[n_entry]] + n_slot
    ngram_share = rows.data[n_entry] * coef[rows.indices[n_entry], pair_label[n_pair]]
    ngram_term = arrays.size + rows.indices[n_entry]  # term keys past the token ids

    pair = np.concatenate([up_pair, n_pair])
    share = np.concatenate([unit_share, ngram_share])
    term = np.concatenate([unit_term, ngram_term])
    return _rank(pair, share, term, len(pair_label), top_k, arrays, space.names)


def _entry_positions(entry_key: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Position of each (text, column) key among the rows' entries; every key must be there."""
    if not len(keys):
        return keys
    pos = np.searchsorted(entry_key, keys)
    np.minimum(pos, len(entry_key) - 1, out=pos)
    if not len(entry_key) or not np.array_equal(entry_key[pos], keys):
        raise ValueError("the feature rows are not those of the texts: a token's feature is missing from its row")
    return pos


def _per_pair(repeats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each item repeated once per pair of its text: (item index, slot 0..n-1 of the pair)."""
    if len(repeats) and repeats.max() == 1:  # one label per text: the common case, no copies
        return np.arange(len(repeats)), np.zeros(len(repeats), dtype=np.int64)
    index = np.repeat(np.arange(len(repeats)), repeats)
    return index, expand(np.zeros(len(repeats), dtype=np.int64), repeats)


def _rank(
    pair: np.ndarray,
    share: np.ndarray,
    term: np.ndarray,
    n_pairs: int,
    top_k: int,
    arrays: TokenArrays,
    names: list[str],
) -> RankedTerms:
    """`top_terms` of each pair from flat (pair, share, term key) arrays of distinct terms per pair."""
    positive = share > 0
    pair, share, term = pair[positive], share[positive], term[positive]
    order = np.lexsort((-share, pair))
    pair, share, term = pair[order], share[order], term[order]
    counts = np.bincount(pair, minlength=n_pairs)
    first = np.cumsum(counts) - counts
    rank = np.arange(len(pair)) - first[pair]
    tied = np.flatnonzero((pair[1:] == pair[:-1]) & (share[1:] == share[:-1]))
    tokens, n_tokens = arrays.tokens, arrays.size  # term keys from n_tokens on are feature columns

    def name(key: int) -> str:
        return tokens[key] if key < n_tokens else names[key - n_tokens][2:]

    if len(tied):  # equal shares are ordered by term, descending: rare, so done in Python
        _order_ties(term, tied, name)
    keep = rank < top_k
    pair, share, term = pair[keep], share[keep], term[keep]
    bounds = np.zeros(n_pairs + 1, dtype=np.int64)
    np.cumsum(np.minimum(counts, top_k), out=bounds[1:])
    return RankedTerms(bounds.tolist(), [name(key) for key in term.tolist()], share)


def _order_ties(term: np.ndarray, tied: np.ndarray, name) -> None:
    """Reorder each run of equal shares (run i, i+1 for each i in `tied`) by term name, descending."""
    runs: list[list[int]] = []
    for i in tied.tolist():
        if runs and runs[-1][-1] == i:
            runs[-1].append(i + 1)
        else:
            runs.append([i, i + 1])
    for run in runs:
        term[run] = sorted(term[run].tolist(), key=name, reverse=True)
