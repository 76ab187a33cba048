"""The language-identification benchmark's sentences (bench/langid_sentences.py) are well-formed: enough
languages, at least 25 sentences each with some short ones, no duplicates, and none taken from the corpus."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

from classifier.config import CORPUS_PATH
from classifier.language import is_language_code

ROOT = Path(__file__).resolve().parents[1]


def _sentences() -> dict[str, tuple[str, ...]]:
    spec = importlib.util.spec_from_file_location("langid_sentences", ROOT / "bench" / "langid_sentences.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SENTENCES


SENTENCES = _sentences()


def test_languages_are_iso_codes_and_enough_of_them():
    assert len(SENTENCES) >= 16
    assert [code for code in SENTENCES if not is_language_code(code)] == []
    assert {"en", "de", "uk", "ru", "pl", "lt", "lv", "et"} <= set(SENTENCES)


def test_every_language_has_25_sentences_with_short_items():
    assert {code: len(items) for code, items in SENTENCES.items() if len(items) < 25} == {}
    # the benchmark's short-text figure needs short items in every language
    assert {code for code, items in SENTENCES.items() if sum(len(s) <= 40 for s in items) < 5} == set()


def test_sentences_are_clean_single_lines():
    bad = [s for items in SENTENCES.values() for s in items if not s or s != s.strip() or "\n" in s]
    assert bad == []


def test_no_duplicates_across_languages():
    counts = Counter(s.casefold() for items in SENTENCES.values() for s in items)
    assert [s for s, n in counts.items() if n > 1] == []


def test_no_sentence_is_in_the_corpus():
    ours = {s.casefold() for items in SENTENCES.values() for s in items}
    with CORPUS_PATH.open(encoding="utf-8") as handle:
        found = [text for line in handle if (text := json.loads(line)["text"].strip()).casefold() in ours]
    assert found == []
