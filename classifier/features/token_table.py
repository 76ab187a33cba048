"""The per-process table of distinct tokens seen: each token's id, word id and feature columns."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from typing import TYPE_CHECKING

import numpy as np

from classifier.features.arrays import EMPTY, sorted_positions
from classifier.features.ascii_tokens import pack_token

if TYPE_CHECKING:
    from classifier.features.space import FeatureSpace


@dataclass(frozen=True)
class TokenArrays:
    """A consistent snapshot of a `TokenTable`: token ids below `size` are valid in every array."""

    size: int
    packed_keys: np.ndarray  # sorted packed keys of the tokens that pack
    packed_tids: np.ndarray  # token id of each packed key
    wid: np.ndarray  # word id of each token (-1: not in the word vocabulary)
    indptr: np.ndarray  # CSR rows over feature columns: each token's `FeatureSpace.token_cols`
    indices: np.ndarray
    tokens: list[str]  # the token of each id (the table's own list, only ever appended to: ids below `size` are set)


class TokenTable:
    """Every distinct token seen: its id (by string and by packed key), word id and feature columns.

    Tokens are only ever appended. Readers take `arrays` once and treat ids at or above its `size`
    as unseen, so they never see a token half-added; writers hold the feature space's lock.
    """

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.tokens: list[str] = []  # by id: the strings evidence names its terms with
        self.arrays = TokenArrays(0, EMPTY, EMPTY, EMPTY, np.zeros(1, dtype=np.int64), EMPTY, self.tokens)

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
        self.tokens.extend(new)  # before the new arrays are published: readers index it by ids below `size`
        cols = [space.token_cols(t) for t in new]
        lengths = np.fromiter(map(len, cols), dtype=np.int64, count=len(cols))
        packed = [(key, tid) for key, tid in zip(map(pack_token, new), tids, strict=True) if key is not None]
        keys = np.concatenate([old.packed_keys, np.array([k for k, _ in packed], dtype=np.int64)])
        key_tids = np.concatenate([old.packed_tids, np.array([t for _, t in packed], dtype=np.int64)])
        order = np.argsort(keys, kind="stable")
        self.arrays = TokenArrays(
            size=old.size + len(new),
            packed_keys=keys[order],
            packed_tids=key_tids[order],
            wid=np.concatenate([old.wid, np.array([space.word_index.get(t, -1) for t in new], dtype=np.int64)]),
            indptr=np.concatenate([old.indptr, old.indptr[-1] + np.cumsum(lengths)]),
            indices=np.concatenate([old.indices, *cols]),
            tokens=self.tokens,
        )
