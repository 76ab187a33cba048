"""Tokenising lower-case ASCII text with numpy, and packing short tokens exactly into one int64 each."""

from __future__ import annotations

import numpy as np

# Lower-case ASCII tokens of up to PACK_LEN characters are packed exactly into one int64: one base-38
# digit per character (1-26 letters, 27-36 digits, 37 apostrophe; 38**12 < 2**63). Packed tokens are
# found and looked up with numpy over a whole batch, without making a Python string per token.
PACK_LEN = 12
_PACK_BASE = 38
_PACK_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789'"
_PACK_CODE = np.zeros(256, dtype=np.uint8)  # one byte per character of a batch
_PACK_CODE[np.frombuffer(_PACK_ALPHABET.encode(), dtype=np.uint8)] = np.arange(1, len(_PACK_ALPHABET) + 1)
_APOSTROPHE = _PACK_ALPHABET.index("'") + 1


def pack_token(token: str) -> int | None:
    """The packed int64 key of `token`, or None if it is longer than 12 or not lower-case ASCII."""
    if len(token) > PACK_LEN or not token.isascii():
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
    short = np.flatnonzero(lengths <= PACK_LEN)
    # Longest first, so the tokens still being packed are always a prefix (a radix sort on int8).
    by_length = short[np.argsort((PACK_LEN - lengths[short]).astype(np.int8), kind="stable")]
    active_starts = starts[by_length]
    # longer[i]: how many tokens have more than i characters, i.e. the active prefix at character i.
    longer = (len(by_length) - np.cumsum(np.bincount(lengths[by_length], minlength=PACK_LEN + 1))).tolist()
    packed = np.zeros(len(by_length), dtype=np.int64)
    for i in range(PACK_LEN):
        n = longer[i]
        if not n:
            break
        packed[:n] = packed[:n] * _PACK_BASE + codes[active_starts[:n] + i]
    keys[by_length] = packed
    return keys
