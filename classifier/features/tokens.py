"""The model's tokens and n-grams, defined plainly: the reference every faster path must equal."""

from __future__ import annotations

import re

from classifier.features.fold import feature_text

TOKEN_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")

# Tokens longer than this are dropped before they reach the vocabulary, in fitting and in scoring alike.
# The longest token of the corpus (versions 3 and 4) has 23 characters ("nizhneangarsktransstroy"); the
# longest words of the corpus languages stay under 64 (the famous German 63-letter statute name). A
# longer "token" is a pasted blob, hash or URL-like run that says nothing a word says, and without a
# bound two 100,000-character feedback items made the vocabulary array 400 kB per entry (issue 9).
MAX_TOKEN_CHARS = 64


def tokenize(text: str) -> list[str]:
    """The word tokens the model sees in `text`: `TOKEN_RE` over the folded text, without tokens longer
    than `MAX_TOKEN_CHARS`."""
    return bounded(TOKEN_RE.findall(feature_text(text)))


def bounded(tokens: list[str]) -> list[str]:
    """`tokens` without those longer than `MAX_TOKEN_CHARS` (the same list when none is)."""
    if max(map(len, tokens), default=0) <= MAX_TOKEN_CHARS:
        return tokens
    return [t for t in tokens if len(t) <= MAX_TOKEN_CHARS]


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
