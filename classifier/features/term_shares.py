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

# Character n-gram shares are computed in dense (text x character n-gram) arrays of at most this many cells
# (8 bytes each), block of texts after block: 1 MB arrays stay in cache (bench/bench_evidence.py: 20-40%
# faster than one array for a 1,000-passage batch).
DENSE_CELLS = 131_072


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
    return _ranked_pairs(space, texts, rows, coef, label_indices, top_k)


def _n_char(space: FeatureSpace) -> int:
    """Width of the dense character n-gram arrays (at least 1)."""
    return max(int(space.char_slot.max(initial=-1)) + 1, 1)


def _ranked_pairs(
    space: FeatureSpace,
    texts: list[str],
    rows: csr_matrix,
    coef: np.ndarray,
    label_indices: list[list[int]],
    top_k: int,
) -> RankedTerms:
    """`ranked_term_shares` of texts that all have a label asked for."""
    n_texts, n_char = len(texts), _n_char(space)
    # Pairs: (text, label) in order; text t's are pair_start[t] .. pair_start[t] + n_pairs[t] - 1.
    n_pairs = np.fromiter(map(len, label_indices), dtype=np.int64, count=n_texts)
    pair_start = np.cumsum(n_pairs) - n_pairs
    pair_label = np.fromiter((j for asked in label_indices for j in asked), dtype=np.int64, count=int(n_pairs.sum()))

    # Units: each distinct token of each text, with its number of occurrences there, and the unit's feature
    # columns in the token table's order: its unigram (if in the vocabulary), then its character n-grams.
    tids, token_text, arrays = token_ids(texts, space)
    unit_key, occurrences = np.unique(token_text * arrays.size + tids, return_counts=True)
    unit_text, unit_tid = np.divmod(unit_key, arrays.size)
    starts = arrays.indptr[unit_tid]
    lengths = arrays.indptr[unit_tid + 1] - starts
    cols = arrays.indices[expand(starts, lengths)]
    col_unit = np.repeat(np.arange(len(unit_tid)), lengths)
    is_char = space.is_char[cols]
    char_unit = col_unit[is_char]
    char_cell = unit_text[char_unit] * n_char + space.char_slot[cols[is_char]]  # (text, character n-gram)
    word_unit = col_unit[~is_char]

    # The rows' entries: character n-grams by (text, n-gram) cell, unigrams by unit, word n-grams of n >= 2.
    entry_text = np.repeat(np.arange(n_texts), np.diff(rows.indptr))
    entry_col = rows.indices
    char_entry = np.flatnonzero(space.is_char[entry_col])
    entry_cell = entry_text[char_entry] * n_char + space.char_slot[entry_col[char_entry]]
    slot_labels = [np.where(n_pairs > slot, pair_label[np.minimum(pair_start + slot, len(pair_label) - 1)], -1)
                   for slot in range(int(n_pairs.max()))]  # fmt: skip
    char_splits = _char_splits(
        rows,
        coef,
        n_char,
        slot_labels,
        (unit_text[char_unit], char_cell, occurrences[char_unit].astype(np.float64)),
        (char_entry, entry_cell, entry_text[char_entry]),
    )
    word_entry = _unigram_entries(space, rows, entry_text, unit_text[word_unit], cols[~is_char])
    ngram_entry = np.flatnonzero(space.is_ngram[entry_col])

    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (pair, share, term key) per label slot
    for slot, label in enumerate(slot_labels):
        # The slot-th label asked for each text that has one; slot 0 (every text) needs no selection.
        has = label >= 0
        units = np.flatnonzero(has[unit_text]) if slot else np.arange(len(unit_tid))
        chars = np.flatnonzero(has[unit_text[char_unit]]) if slot else slice(None)
        words = np.flatnonzero(has[unit_text[word_unit]]) if slot else slice(None)
        ngrams = ngram_entry[has[entry_text[ngram_entry]]] if slot else ngram_entry
        # Character n-grams summed per unit in the token's column order (the order `np.add.at` sums them in).
        by_unit = np.bincount(char_unit[chars], weights=char_splits[slot][chars], minlength=len(unit_tid))
        # A unit's share: its unigram's contribution first, then its characters' once per occurrence.
        w_entry, w_unit = word_entry[words], word_unit[words]
        word_share = rows.data[w_entry] * coef[entry_col[w_entry], label[unit_text[w_unit]]]
        repeats = occurrences[units]
        unit_share = np.bincount(
            np.concatenate([w_unit, np.repeat(units, repeats)]),
            weights=np.concatenate([word_share, np.repeat(by_unit[units], repeats)]),
            minlength=len(unit_tid),
        )[units]
        parts.append((pair_start[unit_text[units]] + slot, unit_share, unit_tid[units]))
        # Word n-grams of two or more words: one feature each, the share is its contribution.
        ngram_share = rows.data[ngrams] * coef[entry_col[ngrams], label[entry_text[ngrams]]]
        parts.append((pair_start[entry_text[ngrams]] + slot, ngram_share, arrays.size + entry_col[ngrams]))
    pair, share, term = (np.concatenate(column) for column in zip(*parts, strict=True))
    return _rank(pair, share, term, len(pair_label), top_k, arrays, space.names)


def _char_splits(
    rows: csr_matrix,
    coef: np.ndarray,
    n_char: int,
    slot_labels: list[np.ndarray],
    unit_side: tuple[np.ndarray, np.ndarray, np.ndarray],
    entry_side: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> list[np.ndarray]:
    """Per label slot, each unit character n-gram's part of that n-gram's contribution to the text's label:
    coefficient x TF-IDF value / occurrences of the n-gram in the text.

    `unit_side` holds, per character n-gram of a unit (text order), its text, its (text, n-gram) cell and
    the unit's occurrences; `entry_side` the rows' character n-gram entries, their cells and texts. Computed in
    dense (text x n-gram) arrays, `DENSE_CELLS` at a time (they stay in cache).
    """
    unit_text, unit_cell, unit_weight = unit_side
    entry, entry_cell, entry_text = entry_side
    n_texts = rows.shape[0]
    step = max(1, DENSE_CELLS // n_char)
    text_bounds = [*range(0, n_texts, step), n_texts]
    unit_bounds = np.searchsorted(unit_text, text_bounds).tolist()
    entry_bounds = np.searchsorted(entry_text, text_bounds).tolist()
    splits = [np.zeros(len(unit_cell)) for _ in slot_labels]
    # Buffers written and read only at a block's cells, and zeroed there again after each block.
    count, split = np.zeros(step * n_char), np.zeros(step * n_char)
    for block in range(len(text_bounds) - 1):
        base = text_bounds[block] * n_char
        units = slice(unit_bounds[block], unit_bounds[block + 1])
        entries = slice(entry_bounds[block], entry_bounds[block + 1])
        cells, at, entry_cells = unit_cell[units] - base, entry[entries], entry_cell[entries] - base
        np.add.at(count, cells, unit_weight[units])  # occurrences of each n-gram in its text
        # Every unit n-gram must be a row entry and the reverse: all occurrences land on the entries' cells.
        found = count[entry_cells]
        if not found.all() or found.sum() != unit_weight[units].sum():
            raise ValueError("the feature rows are not those of the texts: their character n-grams differ")
        for slot, labels in enumerate(slot_labels):
            label = labels[entry_text[entries]]
            if slot:  # only the texts with this many labels asked for
                asked = label >= 0
                if not asked.any():
                    continue
                where, values = entry_cells[asked], rows.data[at[asked]] * coef[rows.indices[at[asked]], label[asked]]
                split[where] = values / found[asked]
            else:
                split[entry_cells] = rows.data[at] * coef[rows.indices[at], label] / found
            splits[slot][units] = split[cells]
            split[entry_cells] = 0
        count[cells] = 0
    return splits


def _unigram_entries(
    space: FeatureSpace, rows: csr_matrix, entry_text: np.ndarray, text: np.ndarray, col: np.ndarray
) -> np.ndarray:
    """Index among the rows' entries of each (text, unigram column); the rows' unigrams must be exactly these."""
    entries = np.flatnonzero(~space.is_char[rows.indices] & ~space.is_ngram[rows.indices])
    entry_keys = entry_text[entries] * space.n_features + rows.indices[entries]
    keys = text * space.n_features + col
    if len(keys) != len(entries):
        raise ValueError("the feature rows are not those of the texts: their unigrams differ")
    if not len(keys):
        return entries
    order = np.argsort(entry_keys)
    found = order[np.minimum(np.searchsorted(entry_keys[order], keys), len(keys) - 1)]
    if not np.array_equal(entry_keys[found], keys):
        raise ValueError("the feature rows are not those of the texts: their unigrams differ")
    return entries[found]


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
    order = np.argsort(-share)  # then by pair, keeping that order (a radix sort when pairs fit 16 bits)
    order = order[np.argsort(pair[order].astype(np.min_scalar_type(n_pairs)), kind="stable")]
    pair, share, term = pair[order], share[order], term[order]
    counts = np.bincount(pair, minlength=n_pairs)
    first = np.cumsum(counts) - counts
    rank = np.arange(len(pair)) - first[pair]
    tokens, n_tokens = arrays.tokens, arrays.size  # term keys from n_tokens on are feature columns

    def names_of(keys: list[int]) -> list[str]:
        return [tokens[k] if k < n_tokens else names[k - n_tokens][2:] for k in keys]

    keep = rank < top_k
    _order_ties(pair, share, term, keep, names_of)
    bounds = np.zeros(n_pairs + 1, dtype=np.int64)
    np.cumsum(np.minimum(counts, top_k), out=bounds[1:])
    return RankedTerms(bounds.tolist(), names_of(term[keep].tolist()), share[keep])


def _order_ties(pair: np.ndarray, share: np.ndarray, term: np.ndarray, listed: np.ndarray, names_of) -> None:
    """Within each run of equal shares of a pair (sorted by pair, then share), order `term` by name,
    descending, as `top_terms` does; only runs that begin among the `listed` positions matter."""
    same = (pair[1:] == pair[:-1]) & (share[1:] == share[:-1])  # same[i]: position i + 1 ties with i
    if not same.any():
        return
    in_run = np.zeros(len(pair), dtype=bool)
    in_run[:-1] |= same
    in_run[1:] |= same
    starts = in_run.copy()
    starts[1:] &= ~same
    run = np.cumsum(starts) - 1
    members = np.flatnonzero(in_run & listed[np.flatnonzero(starts)][np.maximum(run, 0)])
    if not len(members):
        return
    member_names = names_of(term[members].tolist())
    by_name = {name: i for i, name in enumerate(sorted(set(member_names)))}
    name_rank = np.fromiter(map(by_name.__getitem__, member_names), dtype=np.int64, count=len(members))
    term[members] = term[members[np.lexsort((-name_rank, run[members]))]]
