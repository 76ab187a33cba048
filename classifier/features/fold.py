"""Unicode folding of text before tokenising: NFKC, quotes/dashes/odd spaces to ASCII, case folding.

Decided for every script the corpus holds (tests/test_features.py holds each to a case):

- NFKC, not NFC: it composes letters and accents (``"й"`` typed as ``"и" + U+0306`` is one letter, as a
  keyboard types it) and also folds compatibility forms (ligatures ``"ﬁ"``, full-width letters, superscripts)
  that NFC keeps apart;
- `str.casefold`, not `str.lower`: the same for ASCII and for Cyrillic, but German ``"ß"`` folds to ``"ss"``,
  so ``"Straße"`` and ``"STRASSE"`` share features;
- apostrophes inside words (Ukrainian ``"м'ясо"``, written with ``'``, ``’`` or the modifier letter ``ʼ``)
  fold to ASCII ``'``, and the combining acute that marks stress in Ukrainian and Russian text is dropped
  (no precomposed Cyrillic letter has one, so NFKC would leave it to split the word).
"""

from __future__ import annotations

import re
import unicodedata

# Unicode quotes, dashes and odd spaces folded to ASCII so "don’t" and "don't" share features. Folded before
# NFKC too, which would otherwise turn "´" into a space and a combining accent; and after, for what NFKC yields.
FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u00b4": "'",
        "\u02bc": "'",
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
_FOLD_CHARS = re.compile("[" + "".join(chr(c) for c in FOLD) + "]")
_SPACES = re.compile(r"\s+")
_STRESS = "\u0301"  # combining acute accent


def feature_text(text: str) -> str:
    """Case-folded `text` with Unicode folded (NFKC and `FOLD`); whitespace is left alone since tokens ignore it."""
    if text.isascii():
        return text.lower()
    folded = _fold(text)
    normalized = unicodedata.normalize("NFKC", folded)
    if normalized != folded:  # NFKC can yield characters to fold ("″" -> "′′")
        normalized = _fold(normalized)
    if _STRESS in normalized:  # left by NFKC only where no precomposed letter exists (Cyrillic vowels)
        normalized = normalized.replace(_STRESS, "")
    return normalized.casefold()


def normalize_for_features(text: str) -> str:
    """Return `text` NFKC-normalised, quotes/dashes folded to ASCII, whitespace collapsed, lower-cased.

    Used for features only: passage offsets always refer to the caller's original text.
    """
    return _SPACES.sub(" ", feature_text(text)).strip()


def _fold(text: str) -> str:
    """`text` with the quotes, dashes and odd spaces of `FOLD` replaced."""
    return _FOLD_CHARS.sub(_fold_match, text) if _FOLD_CHARS.search(text) else text


def _fold_match(match: re.Match) -> str:
    return FOLD[ord(match.group())]
