"""Segmentation: exact passages (text, kind, offsets) for the edge cases of the issue."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from classifier.config import CORPUS_PATH, MAX_PASSAGE_CHARS, PROJECT_ROOT
from classifier.segment import Passage, _segment_blocks, segment


def spans(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, text, kind) of every passage, after checking each offset pair against `text`."""
    passages = segment(text)
    for p in passages:
        assert text[p.start : p.end] == p.text
    return [(p.start, p.end, p.text, p.kind) for p in passages]


def texts_and_kinds(text: str) -> list[tuple[str, str]]:
    return [(t, k) for _, _, t, k in spans(text)]


def test_abbreviations_do_not_end_sentences():
    text = "The U.S. and the U.K. signed the deal. Gen. Smith spoke to Mr. Jones on Monday. Then they left."
    assert spans(text) == [
        (0, 38, "The U.S. and the U.K. signed the deal.", "sentence"),
        (39, 79, "Gen. Smith spoke to Mr. Jones on Monday.", "sentence"),
        (80, 95, "Then they left.", "sentence"),
    ]


def test_abbreviations_mr_mrs_and_month():
    assert texts_and_kinds("Mr. and Mrs. Smith arrived. They left.") == [
        ("Mr. and Mrs. Smith arrived.", "sentence"),
        ("They left.", "sentence"),
    ]
    assert texts_and_kinds("The cable was cut on Jan. 5 by unknown persons. Police arrived.") == [
        ("The cable was cut on Jan. 5 by unknown persons.", "sentence"),
        ("Police arrived.", "sentence"),
    ]


def test_sentence_ending_in_closing_quote_keeps_the_quote():
    assert spans('He said, "We will not give up." The crowd cheered.') == [
        (0, 31, 'He said, "We will not give up."', "sentence"),
        (32, 50, "The crowd cheered.", "sentence"),
    ]
    assert spans("“We stand with Ukraine.” The minister repeated it.") == [
        (0, 24, "“We stand with Ukraine.”", "sentence"),
        (25, 50, "The minister repeated it.", "sentence"),
    ]
    assert texts_and_kinds('He asked, "Is it over?" She said no.') == [
        ('He asked, "Is it over?"', "sentence"),
        ("She said no.", "sentence"),
    ]


def test_question_and_exclamation_marks_end_sentences():
    assert texts_and_kinds("He asked: is it over? No. It isn't!") == [
        ("He asked: is it over?", "sentence"),
        ("No.", "sentence"),
        ("It isn't!", "sentence"),
    ]


def test_heading_without_full_stop_followed_by_paragraph():
    text = "Security update\nThe ministry reported new attacks on the grid. Officials are investigating."
    assert spans(text) == [
        (0, 15, "Security update", "heading"),
        (16, 62, "The ministry reported new attacks on the grid.", "sentence"),
        (63, 91, "Officials are investigating.", "sentence"),
    ]


def test_heading_separated_by_blank_line():
    assert spans("Title Case Heading\n\nBody text follows here.") == [
        (0, 18, "Title Case Heading", "heading"),
        (20, 43, "Body text follows here.", "sentence"),
    ]


def test_short_line_continued_in_lower_case_is_not_a_heading():
    assert spans("Heading here\nlowercase continuation of text.") == [
        (0, 44, "Heading here\nlowercase continuation of text.", "sentence"),
    ]


def test_bullets_dashes_stars_numbers_and_letters():
    text = "Key points:\n- Cable cut near Gotland\n- Rail depot fire\n* Drone sightings\n1. First item\n(a) lettered"
    assert spans(text) == [
        (0, 11, "Key points:", "sentence"),
        (12, 36, "- Cable cut near Gotland", "bullet"),
        (37, 54, "- Rail depot fire", "bullet"),
        (55, 72, "* Drone sightings", "bullet"),
        (73, 86, "1. First item", "bullet"),
        (87, 99, "(a) lettered", "bullet"),
    ]


def test_numbered_bullet_with_two_sentences_and_indented_items():
    text = "1. First item. Second sentence here.\n2) Two\n  3. Indented item"
    assert spans(text) == [
        (0, 14, "1. First item.", "bullet"),
        (15, 36, "Second sentence here.", "bullet"),
        (37, 43, "2) Two", "bullet"),
        (46, 62, "3. Indented item", "bullet"),
    ]


def test_bullet_continues_only_on_indented_lines():
    assert spans("Report\n\n- A bullet that\n  continues indented.\n- Next bullet.") == [
        (0, 6, "Report", "heading"),
        (8, 45, "- A bullet that\n  continues indented.", "bullet"),
        (46, 60, "- Next bullet.", "bullet"),
    ]


def test_wrapped_paragraph_lines_join_into_sentences():
    text = "This paragraph is wrapped\nacross several lines of text\nand ends here. Next sentence."
    assert spans(text) == [
        (0, 69, "This paragraph is wrapped\nacross several lines of text\nand ends here.", "sentence"),
        (70, 84, "Next sentence.", "sentence"),
    ]


def test_crlf_line_endings():
    assert spans("First line.\r\nSecond line here.\r\n\r\nNew paragraph.") == [
        (0, 11, "First line.", "sentence"),
        (13, 30, "Second line here.", "sentence"),
        (34, 48, "New paragraph.", "sentence"),
    ]


def test_crlf_heading():
    assert spans("Security update\r\n\r\nThe grid was attacked.\r\n") == [
        (0, 15, "Security update", "heading"),
        (19, 41, "The grid was attacked.", "sentence"),
    ]


@pytest.mark.parametrize("text", ["", " ", "   \n\t \r\n ", "\n\n\n", "\u00a0\u2003"])
def test_empty_and_whitespace_only_text_gives_no_passages(text):
    assert segment(text) == []


def test_leading_and_trailing_whitespace_is_trimmed():
    assert spans("   Leading spaces. And trailing.   ") == [
        (3, 18, "Leading spaces.", "sentence"),
        (19, 32, "And trailing.", "sentence"),
    ]


def test_single_line_without_punctuation_is_a_heading():
    assert segment("One sentence only") == [Passage(0, 17, "One sentence only", "heading")]


def test_cyrillic():
    assert spans("Россия ведёт гибридную войну. Мы поддерживаем Украину.") == [
        (0, 29, "Россия ведёт гибридную войну.", "sentence"),
        (30, 54, "Мы поддерживаем Украину.", "sentence"),
    ]


def test_german_with_umlauts():
    assert spans("Die Bürger über Änderungen informiert. Größere Maßnahmen folgen.") == [
        (0, 38, "Die Bürger über Änderungen informiert.", "sentence"),
        (39, 64, "Größere Maßnahmen folgen.", "sentence"),
    ]


def test_german_decomposed_umlauts_keep_offsets_into_the_original():
    text = "Die Bu\u0308rger sind informiert. Gro\u0308ßere Maßnahmen folgen."
    assert spans(text) == [
        (0, 28, "Die Bu\u0308rger sind informiert.", "sentence"),
        (29, 55, "Gro\u0308ßere Maßnahmen folgen.", "sentence"),
    ]


def test_cjk_without_spaces_is_one_sentence():
    # Punkt breaks only at ".", "?" and "!": a CJK line stays one passage; "。" makes it a sentence, not a heading.
    text = "俄罗斯正在进行虚假信息宣传。我们支持乌克兰。"
    assert spans(text) == [(0, 22, text, "sentence")]


def test_cjk_after_english_sentence():
    text = "Officials responded. 我们支持乌克兰。"
    assert spans(text) == [(0, 20, "Officials responded.", "sentence"), (21, 29, "我们支持乌克兰。", "sentence")]


def test_emoji_and_non_bmp_characters_count_as_one_offset():
    text = "Alert 🚨 the cable 🔌 was cut. Officials 👮 responded. 𝐁old 𠀋 text."
    assert spans(text) == [
        (0, 28, "Alert 🚨 the cable 🔌 was cut.", "sentence"),
        (29, 51, "Officials 👮 responded.", "sentence"),
        (52, 64, "𝐁old 𠀋 text.", "sentence"),
    ]


def test_over_long_run_is_cut_at_whitespace():
    text = "word " * 1000
    assert spans(text) == [
        (0, 1999, ("word " * 400).strip(), "sentence"),
        (2000, 3999, ("word " * 400).strip(), "sentence"),
        (4000, 4999, ("word " * 200).strip(), "sentence"),
    ]


def test_over_long_word_is_cut_hard():
    text = "x" * 4500
    assert [(s, e, k) for s, e, _, k in spans(text)] == [
        (0, 2000, "heading"),
        (2000, 4000, "heading"),
        (4000, 4500, "heading"),
    ]


def _long_document(chars: int) -> str:
    para = (
        "The U.S. Gen. Smith said on Jan. 5 that saboteurs cut the undersea cable. Officials in Finland "
        'responded quickly! Was it Russia? "Nobody knows." Всё спокойно. 🚨 Alarm. '
    )
    parts, size, i = [], 0, 0
    while size < chars:
        chunk = (f"Section {i}\n" if i % 5 == 0 else "") + para * 3 + "\n"
        chunk += ("- bullet item here\n2. numbered item\n" if i % 3 == 0 else "") + "\r\n"
        if i % 50 == 0:
            chunk += "y" * 2500 + " " + "z " * 1500 + "\n\n"
        parts.append(chunk)
        size += len(chunk)
        i += 1
    return "".join(parts)


@pytest.mark.parametrize(
    ("chars", "at_least"),
    [(100_000, 2_000), pytest.param(1_000_000, 20_000, marks=pytest.mark.slow)],  # 1 MB: seconds
)
def test_long_document(chars, at_least):
    text = _long_document(chars)
    assert len(text) >= chars
    passages = segment(text)
    assert len(passages) > at_least
    previous_end = 0
    for p in passages:
        assert text[p.start : p.end] == p.text
        assert p.start >= previous_end  # in order, not overlapping
        assert 0 < len(p.text) <= MAX_PASSAGE_CHARS
        assert p.text == p.text.strip()
        assert p.kind in {"sentence", "heading", "bullet"}
        previous_end = p.end
    kinds = {p.kind for p in passages}
    assert kinds == {"sentence", "heading", "bullet"}
    # every non-whitespace character is covered by exactly one passage
    covered = sum(len(p.text) - sum(c.isspace() for c in p.text) for p in passages)
    assert covered == sum(not c.isspace() for c in text)


@pytest.mark.slow  # a fresh interpreter: what a first request imports
def test_single_sentence_does_not_import_nltk():
    code = (
        "import sys\n"
        "from classifier.segment import segment\n"
        "passages = segment('One sentence only.')\n"
        "print(len(passages), 'nltk' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout == "1 False\n"


@pytest.mark.slow  # a fresh interpreter: what a first request imports
def test_two_sentences_do_import_nltk_without_its_unused_heavy_dependencies():
    code = (
        "import sys\n"
        "from classifier.segment import segment\n"
        "passages = segment('One sentence. Two sentences.')\n"
        "print(len(passages), 'nltk' in sys.modules, 'scipy.stats' in sys.modules, 'sklearn' in sys.modules)\n"
        "import scipy.stats, sklearn\n"  # held back only while NLTK loaded: importable afterwards
        "print(scipy.stats.fisher_exact([[1, 2], [3, 4]]).pvalue > 0, sklearn.__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout == "2 True False False\nTrue sklearn\n"


@pytest.mark.slow
def test_one_line_fast_path_equals_the_general_path():
    with open(CORPUS_PATH, encoding="utf-8") as handle:
        corpus = [json.loads(line)["text"] for line in handle]
    edge = ["", "   ", " Title Without Stop ", "- a bullet line", "1) numbered", "Two. Sentences here.", "x" * 2500]
    for text in [*corpus, *edge, *(f"  {t}\t" for t in corpus[:500])]:
        assert segment(text) == _segment_blocks(text), text
