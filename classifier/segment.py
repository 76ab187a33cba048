"""Split a document into passages with exact character offsets into the original text.

A passage is a sentence of running text, a heading or a bullet/numbered line. Blocks of text are found
line by line; sentences inside a block come from NLTK's Punkt tokenizer with parameters the project
trained itself per language (`classifier/resources/punkt/<lang>/`, written by `python -m training punkt`),
so nothing is downloaded. A block is split with the parameters of its language (the caller's, else
identified by `classifier.language`); a language without parameters of its own (too little text to learn
them) is split by Punkt without learned parameters: a break after every sentence-end mark before a capital.
NLTK is imported only when a block has a possible sentence break inside it: most short inputs are one
sentence. NLTK's package import also loads scipy.stats and scikit-learn when they are
installed, for features Punkt never uses (collocation tests, classifier wrappers); NLTK guards those
imports and works without them, so they are held back while NLTK loads: 0.12 s instead of 0.7 s.
"""

from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

from classifier.config import MAX_PASSAGE_CHARS, PUNKT_DIR

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")
_BULLET = re.compile(r"\s*(?:[-*\u2022\u2023\u25e6\u2043\u00b7\u25aa\u25cf]|\(?\d{1,3}[.)]|\(?[a-zA-Z][)])\s+\S")
# Optional dependencies of NLTK that Punkt does not use (see the module docstring).
_NOT_FOR_PUNKT = ("scipy.stats", "sklearn")
# A sentence-end character followed, after any closing marks, by whitespace and more text: the only
# places Punkt can break. A block without one is a single sentence, with no need to run Punkt.
_INTERIOR_BREAK = re.compile(r"[.?!][^\s]*\s+\S")
# A line ending in one of these (before trailing whitespace) is prose, not a heading.
_TERMINAL_CHARS = frozenset(".?!:;,\"'\u201d\u2019)]\u3002\uff01\uff1f")
_MAX_HEADING_WORDS = 14


@dataclass(frozen=True, slots=True)
class Passage:
    """A span of the original text: ``text == original[start:end]``.

    `kind` is ``"sentence"``, ``"heading"`` or ``"bullet"``.
    """

    start: int
    end: int
    text: str
    kind: str


def punkt_languages() -> list[str]:
    """The languages with Punkt parameters of their own."""
    if not PUNKT_DIR.is_dir():
        return []
    return sorted(child.name for child in PUNKT_DIR.iterdir() if (child / "abbrev_types.txt").is_file())


@lru_cache(maxsize=32)
def _punkt(language: str | None = "en"):
    """The Punkt tokenizer with the project's parameters for `language` (imported and loaded on first use),
    or without learned parameters for a language that has none.

    The files are NLTK's punkt_tab format; they are read here rather than with `load_punkt_params`,
    whose path sandbox admits only NLTK's data directories.
    """
    with _modules_held_back(_NOT_FOR_PUNKT if "nltk" not in sys.modules else ()):
        from nltk.tabdata import PunktDecoder
        from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    directory = PUNKT_DIR / language if language else None
    if not (PUNKT_DIR / "en" / "abbrev_types.txt").is_file():
        raise FileNotFoundError(f"Punkt parameters missing in {PUNKT_DIR}: run `python -m training punkt`")
    params = PunktParameters()
    if directory is None or not (directory / "abbrev_types.txt").is_file():
        return PunktSentenceTokenizer(params)
    decoder = PunktDecoder()

    def read(name: str) -> list[str]:
        return (directory / name).read_text(encoding="utf-8").splitlines(keepends=True)

    params.collocations = set(decoder.tab2tups(read("collocations.tab")))
    params.sent_starters = decoder.txt2set(read("sent_starters.txt"))
    params.abbrev_types = decoder.txt2set(read("abbrev_types.txt"))
    params.ortho_context = decoder.tab2intdict(read("ortho_context.tab"))
    return PunktSentenceTokenizer(params)


@contextmanager
def _modules_held_back(names: tuple[str, ...]):
    """Within the block, ``import name`` raises ImportError for each of `names` not yet imported.

    A None entry in `sys.modules` is Python's documented way to make an import fail; the entries
    are removed afterwards, so later imports of these modules work as usual.
    """
    held = [name for name in names if name not in sys.modules]
    for name in held:
        sys.modules[name] = None
    try:
        yield
    finally:
        for name in held:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def _lines(text: str):
    """Yield (start, end) of every line's content, without its line break."""
    for match in _LINE.finditer(text):
        if match.start() == len(text) and match.end() == match.start():
            break
        line = match.group()
        yield match.start(), match.start() + len(line.rstrip("\r\n"))


def _is_heading(line: str, prev_line: str | None, next_line: str | None) -> bool:
    """A short line without sentence punctuation that does not continue or get continued as prose."""
    stripped = line.strip()
    if not stripped or stripped[-1] in _TERMINAL_CHARS or len(stripped.split()) > _MAX_HEADING_WORDS:
        return False
    prev = prev_line.strip() if prev_line is not None else ""
    if prev and prev[-1] not in _TERMINAL_CHARS:
        return False  # the previous line runs on into this one: a wrapped paragraph
    if next_line is None or not next_line.strip():
        return True
    first = next_line.strip()[0]
    return first.isupper() or first.isdigit() or not first.isalpha()


def _line_kind(line: str, prev_line: str | None, next_line: str | None) -> str | None:
    """``"bullet"``, ``"heading"`` or None (running text) for a non-blank line between two others."""
    if _BULLET.match(line):
        return "bullet"
    if _is_heading(line, prev_line, next_line):
        return "heading"
    return None


def _block_language(block: str, language: str | None, memo: dict | None = None) -> str | None:
    """The language to split a block with: the caller's, else the block's own (identified; `memo` as in
    `classifier.language.identify_codes`)."""
    if language is not None:
        return language
    from classifier.language import identify_codes

    return identify_codes([block.strip()], memo=memo)[0]  # stripped: a block of one sentence is that passage's text


def _blocks(text: str):
    """Yield (start, end, kind) of paragraphs, headings and bullet items."""
    # One line, the common case: skip the line scan.
    lines = [(0, len(text))] if "\n" not in text and "\r" not in text else list(_lines(text))
    block_start = block_end = None
    block_kind = "sentence"
    for i, (start, end) in enumerate(lines):
        line = text[start:end]
        if not line.strip():
            if block_start is not None:
                yield block_start, block_end, block_kind
                block_start = None
            continue
        prev_line = text[slice(*lines[i - 1])] if i > 0 else None
        next_line = text[slice(*lines[i + 1])] if i + 1 < len(lines) else None
        kind = _line_kind(line, prev_line, next_line)
        continues = (
            block_start is not None
            and kind is None
            and block_kind != "heading"
            and (block_kind != "bullet" or line[:1].isspace())  # a bullet continues only indented
        )
        if continues:
            block_end = end
            continue
        if block_start is not None:
            yield block_start, block_end, block_kind
        block_start, block_end, block_kind = start, end, kind or "sentence"
    if block_start is not None:
        yield block_start, block_end, block_kind


def _sentence_spans(text: str, start: int, end: int, language: str | None = None, memo: dict | None = None):
    """Sentence spans inside text[start:end], trimmed of surrounding whitespace."""
    block = text[start:end]
    if _INTERIOR_BREAK.search(block.rstrip()):
        spans = _punkt(_block_language(block, language, memo)).span_tokenize(block)
    else:
        spans = [(0, len(block))]
    for a, b in spans:
        yield from _trimmed(text, start + a, start + b)


def _bullet_spans(text: str, start: int, end: int, language: str | None = None, memo: dict | None = None):
    """Sentence spans of a bullet item; its marker ("1.", "a)", "-") never ends a sentence by itself."""
    body = _BULLET.match(text, start, end).end() - 1  # the first character after the marker
    spans = list(_sentence_spans(text, body, end, language, memo))
    if spans:
        lead = len(text[start:body]) - len(text[start:body].lstrip())
        spans[0] = (start + lead, spans[0][1])
    return spans


def _cut_long(text: str, start: int, end: int):
    """Split an over-long span at whitespace into pieces of at most MAX_PASSAGE_CHARS."""
    while end - start > MAX_PASSAGE_CHARS:
        cut = text.rfind(" ", start + 1, start + MAX_PASSAGE_CHARS)
        if cut <= start:
            cut = start + MAX_PASSAGE_CHARS
        piece_end = cut
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        yield start, piece_end
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        yield start, end


def _trimmed(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The span text[start:end] without leading and trailing whitespace (empty list if blank)."""
    piece = text[start:end]
    lead = len(piece) - len(piece.lstrip())
    trail = len(piece) - len(piece.rstrip())
    return [(start + lead, end - trail)] if end - start - lead - trail > 0 else []


def segment(text: str, language: str | None = None, memo: dict | None = None) -> list[Passage]:
    """Split `text` into passages (sentences, headings, bullet lines) with offsets into `text`.

    `language` (an ISO 639-1 code) chooses the sentence-boundary parameters; by default each block's
    own language, identified with `memo` (a batch's answers of the identifier, shared with the
    identification of its passages: `classifier.language.identify_codes`). Empty or whitespace-only text
    gives no passages.
    """
    if len(text) <= MAX_PASSAGE_CHARS and "\n" not in text and "\r" not in text:
        # One line of one sentence, the common case, without the general machinery (same result).
        stripped = text.strip()
        if not stripped:
            return []
        if _line_kind(text, None, None) is None and not _INTERIOR_BREAK.search(text.rstrip()):
            start = len(text) - len(text.lstrip())
            return [Passage(start, start + len(stripped), stripped, "sentence")]
    return _segment_blocks(text, language, memo)


def _segment_blocks(text: str, language: str | None = None, memo: dict | None = None) -> list[Passage]:
    """`segment` for any text: blocks, then the sentences or lines of each."""
    passages: list[Passage] = []
    for block_start, block_end, kind in _blocks(text):
        if kind == "heading":
            spans = _trimmed(text, block_start, block_end)
        elif kind == "bullet":
            spans = _bullet_spans(text, block_start, block_end, language, memo)
        else:
            spans = _sentence_spans(text, block_start, block_end, language, memo)
        for a, b in spans:
            for s, e in _cut_long(text, a, b):
                passages.append(Passage(s, e, text[s:e], kind))
    return passages
