"""Languages: identification, per-language segmentation, the training data's `lang` field, per-language
training figures and thresholds. The sentences here are written for the tests (never training data)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from classifier import language
from classifier.language import (
    ISO_639_1,
    UNDETERMINED,
    document_language,
    fill_undetermined,
    identify,
    identify_many,
    is_language_code,
)
from classifier.records import RecordError
from classifier.segment import _punkt, punkt_languages, segment
from classifier.served_thresholds import threshold_matrix
from training.data import load_dataset
from training.languages import language_table, language_thresholds, metrics_by_language
from training.punkt import train_per_language

RUSSIAN = "Россия усилила гибридные атаки против Европы: диверсии на железных дорогах и кибератаки."
UKRAINIAN = "Ми дякуємо всім партнерам, які підтримують Україну в цій війні."
GERMAN = "Die Bundesregierung warnt vor gezielter Desinformation aus Russland."
ENGLISH = "Saboteurs cut the undersea cable near the coast last night."


@pytest.mark.parametrize(
    ("text", "code"),
    [(RUSSIAN, "ru"), (UKRAINIAN, "uk"), (GERMAN, "de"), (ENGLISH, "en"),
     ("Polska wzmacnia ochronę infrastruktury krytycznej na Bałtyku.", "pl"),
     ("Les autorités françaises dénoncent une campagne de désinformation.", "fr")],
)  # fmt: skip
def test_identifies_sentences(text, code):
    guess = identify(text)
    assert guess.code == code and 0.5 <= guess.confidence <= 1.0


@pytest.mark.parametrize("text", ["", "   ", "12:30 — 4.5%", "2024-05-01", "!!!", "— — —"])
def test_text_without_letters_is_undetermined(text):
    assert identify(text) == UNDETERMINED


def test_a_bare_name_is_undetermined_and_takes_its_document_language():
    guesses = identify_many(["Olaf Scholz", GERMAN, "Die Lage bleibt angespannt, sagte er am Montag."])
    assert guesses[0] == UNDETERMINED  # too short to tell
    texts = ["Olaf Scholz", GERMAN, "Die Lage bleibt angespannt, sagte er am Montag."]
    codes = [g.code for g in guesses]
    assert document_language(texts, codes) == "de"
    assert fill_undetermined([g.code for g in guesses], "de") == ["de", "de", "de"]


def test_mixed_script_text_gets_the_language_of_its_words():
    # Latin names inside Ukrainian text, Cyrillic inside English: the sentence's language wins
    assert identify("Зеленський заявив, що NATO і EU мають діяти швидше.").code == "uk"
    # a Cyrillic word inside an English sentence: with the model's languages preferred (as it identifies
    # passages) it is English, never flagged as a language the model does not read
    reads = frozenset({"de", "en", "uk"})
    assert identify("The minister said the word «диверсія» three times in his speech today.", reads).code == "en"


def test_line_breaks_and_long_text_are_read():
    assert identify(GERMAN + "\n" + GERMAN + "\r\n" + GERMAN * 50).code == "de"


def test_iso_codes():
    assert {"en", "de", "uk", "ru", "lt", "cs"} <= ISO_639_1 and len(ISO_639_1) == 183
    assert is_language_code("uk") and not is_language_code("xx") and not is_language_code("eng")


# ------------------------------------------------------------------------------------------ segmentation


def test_each_language_has_its_own_punkt_parameters():
    assert punkt_languages() == ["de", "en", "uk"]


def test_german_dates_and_abbreviations_do_not_end_sentences():
    text = "Der Bundestag hat am 3. Mai entschieden. Das betrifft z. B. die Kabel. Dr. Müller sprach."
    passages = segment(text)
    assert [p.text for p in passages] == [
        "Der Bundestag hat am 3. Mai entschieden.",
        "Das betrifft z. B. die Kabel.",
        "Dr. Müller sprach.",
    ]


def test_cyrillic_offsets_are_character_offsets():
    text = f"{UKRAINIAN} Росія продовжує атаки. {RUSSIAN}"
    passages = segment(text)
    assert len(passages) == 3
    for p in passages:
        assert text[p.start : p.end] == p.text
    assert passages[2].text == RUSSIAN


def test_a_language_without_parameters_falls_back_to_plain_punkt():
    # Russian has too few corpus sentences for parameters of its own: Punkt without learned ones
    assert not _punkt("ru")._params.abbrev_types and not _punkt("xx")._params.abbrev_types
    assert "z.b" in _punkt("de")._params.abbrev_types and "mr" in _punkt("en")._params.abbrev_types
    assert [p.text for p in segment("Это диверсия. Мы ответим.", language="ru")] == ["Это диверсия.", "Мы ответим."]


def test_punkt_training_per_language_skips_languages_with_too_little_text(tmp_path):
    rows = [{"text": f"Sentence number {i} is here.", "doc": f"d{i // 5}", "lang": "en"} for i in range(40)]
    rows += [{"text": "Это предложение.", "doc": "r", "lang": "ru"}] * 3
    (tmp_path / "ru").mkdir()
    (tmp_path / "ru" / "abbrev_types.txt").write_text("old\n")  # a language that no longer qualifies
    trained = train_per_language(rows, tmp_path, min_sentences=10)
    assert trained == {"en": 40, "ru": None}
    assert (tmp_path / "en" / "abbrev_types.txt").is_file() and not (tmp_path / "ru").exists()


# ------------------------------------------------------------------------------------- training data


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_lang_field_is_validated(tmp_path):
    bad = write_jsonl(
        tmp_path / "bad.jsonl", [{"text": ENGLISH, "labels": []}, {"text": GERMAN, "labels": [], "lang": "xx"}]
    )
    with pytest.raises(
        RecordError, match=r"bad.jsonl:2: 'lang' must be an ISO 639-1 code such as 'en' or 'uk', got 'xx'"
    ):
        load_dataset(bad, labels=["a"], min_label_count=0)
    also_bad = write_jsonl(tmp_path / "b2.jsonl", [{"text": GERMAN, "labels": [], "lang": 7}])
    with pytest.raises(RecordError, match=r"b2.jsonl:1: 'lang' must be an ISO 639-1 code"):
        load_dataset(also_bad, labels=["a"], min_label_count=0)


def test_lang_is_identified_when_absent_and_kept_when_given(tmp_path):
    rows = [
        {"text": ENGLISH, "labels": [], "doc": "a"},
        {"text": GERMAN, "labels": [], "lang": "DE", "doc": "b"},  # any case, stored lower-case
        {"text": "Olaf Scholz", "labels": [], "doc": "b"},  # undetermined: its document's language
        {"text": RUSSIAN, "labels": [], "lang": "uk", "doc": "c"},  # contradicted: kept, reported
    ]
    dataset = load_dataset(write_jsonl(tmp_path / "d.jsonl", rows), labels=["a"], min_label_count=0)
    assert dataset.langs.tolist() == ["en", "de", "de", "uk"]
    (disagreement,) = dataset.lang_disagreements
    assert (disagreement.line, disagreement.given, disagreement.identified) == (4, "uk", "ru")
    assert str(disagreement).startswith(f"{tmp_path / 'd.jsonl'}:4: 'lang' is 'uk', but the text reads as 'ru'")
    summary = dataset.summary()
    assert summary["languages"] == {"de": 2, "en": 1, "uk": 1} and summary["lang_disagreements"] == 1


# -------------------------------------------------------------------------- per-language figures


def test_language_table_support_and_thresholds():
    langs = np.array(["en"] * 6 + ["de"] * 4 + ["ru"], dtype=object)
    Y = np.array([[1], [0], [1], [0], [1], [0], [1], [0], [1], [0], [1]])
    table = language_table(langs, Y, ["a"], min_rows=4)
    assert table == {
        "en": {"rows": 6, "label_counts": {"a": 3}, "supported": True},
        "de": {"rows": 4, "label_counts": {"a": 2}, "supported": True},
        "ru": {"rows": 1, "label_counts": {"a": 1}, "supported": False},
    }
    P = np.array([[0.9], [0.1], [0.8], [0.3], [0.7], [0.2], [0.4], [0.1], [0.35], [0.05], [0.9]])
    own = language_thresholds(Y, P, langs, ["a"], ["de", "en"], {}, min_positives=2)
    assert set(own) == {"de", "en"} and own["de"]["a"]["threshold"] == pytest.approx(0.35)
    by_lang = {code: {"a": entry["a"]["threshold"]} for code, entry in own.items()}
    matrix = threshold_matrix(["a"], [0.5], by_lang, {}, langs)
    assert matrix[6, 0] == pytest.approx(0.35) and matrix[10, 0] == 0.5  # ru: the global threshold
    figures = metrics_by_language(Y, P, matrix, langs, ["a"], min_rows=4)
    assert set(figures) == {"en", "de"} and figures["de"]["labels"]["a"]["f1"] == 1.0
    assert figures["de"]["macro_f1_with_positives"] == 1.0


def test_one_language_has_no_thresholds_of_its_own():
    langs = np.array(["en"] * 4, dtype=object)
    Y, P = np.array([[1], [0], [1], [0]]), np.array([[0.9], [0.1], [0.8], [0.2]])
    assert language_thresholds(Y, P, langs, ["a"], ["en"], {}, min_positives=1) == {}


def test_a_hesitant_guess_prefers_the_languages_the_model_reads():
    reads = frozenset({"de", "en", "uk"})
    hesitant = "Saboteurs cut the undersea cable."  # the identifier: French 0.49, English 0.34
    assert identify(hesitant).code is None and identify(hesitant, reads).code == "en"
    # clearly another language: still that language, whatever the model reads
    assert identify(RUSSIAN, reads).code == "ru" and identify("Это диверсия.", reads).code == "ru"
    assert identify("Merci beaucoup à nos partenaires pour leur aide.", reads).code == "fr"


def test_extra_files_bring_their_languages(tmp_path):
    base = write_jsonl(tmp_path / "base.jsonl", [{"text": ENGLISH, "labels": ["a"], "doc": "a"}])
    rows = [{"text": RUSSIAN, "labels": ["a"], "doc": "r"}, {"text": "Хакеры атаковали энергосистему.", "labels": []}]
    extra = write_jsonl(tmp_path / "extra.jsonl", rows)
    dataset = load_dataset(base, labels=["a"], min_label_count=0, extra=[extra])
    assert dataset.langs.tolist() == ["en", "ru", "ru"] and dataset.added.tolist() == [False, True, True]


def test_min_language_rows_must_be_a_positive_whole_number(tmp_path):
    from training.train import train_model

    data = write_jsonl(tmp_path / "d.jsonl", [{"text": ENGLISH, "labels": ["a"]}])
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match=f"min_language_rows must be a whole number of at least 1, got {bad!r}"):
            train_model(data, models_dir=tmp_path / "m", min_language_rows=bad, make_current=False, progress=None)


# ------------------------------------------------------------------------- batch identification, shared answers


def _identification_texts() -> list[str]:
    """Corpus text in every language it holds (every 50th row, and the paragraphs of a few joined, as
    documents), the test sentences, copies, text without letters, line breaks and long text."""
    from classifier.config import CORPUS_PATH

    with open(CORPUS_PATH, encoding="utf-8") as handle:
        rows = [json.loads(line)["text"] for i, line in enumerate(handle) if i % 50 == 0]
    joined = ["\n\n".join(rows[i : i + 4]) + "\nOlaf Scholz\n- Erstens. Zweitens." for i in range(0, 40, 4)]
    sentences = [RUSSIAN, UKRAINIAN, GERMAN, ENGLISH, "Olaf Scholz", "12:30 — 4.5%", "", GERMAN + "\n" + ENGLISH]
    return [*rows, *joined, *sentences, *rows[:30], ENGLISH * 40]


def test_a_batch_identifies_as_each_text_alone():
    # the batch path reads each distinct line once and shares fastText's answers between callers and `prefer`
    # (segmentation's blocks and the passages); each text identified alone with nothing remembered is the plain path
    texts = _identification_texts()
    reads = frozenset({"de", "en", "uk"})
    memo: dict = {}
    for prefer in (None, reads):
        plain = []
        for text in texts:
            language.forget_recent()
            plain.append(identify(text, prefer))
        assert identify_many(texts, prefer, memo=memo) == plain
        assert identify_many(texts, prefer) == plain
    assert len(memo) < len(texts)  # copies and the other `prefer` were answered from the memo


def _assert_codes_are_the_guesses_codes(texts: list[str]) -> None:
    # identify_codes reads a batch in one call of fastText and asks for candidates only where the best label is
    # not preferred or below MIN_CONFIDENCE; its codes must be identify_many's, for every `prefer` and cut
    texts = [*texts, *(text[: 3 + i % 37] for i, text in enumerate(texts))]  # short texts hesitate most
    for prefer in (None, frozenset({"de", "en", "uk"}), frozenset({"en"}), frozenset({"fr", "ru"})):
        for max_chars in (language.MAX_CHARS, language.WHOLE_TEXT):
            expected = [guess.code for guess in identify_many(texts, prefer, max_chars, memo={})]
            assert language.identify_codes(texts, prefer, max_chars, memo={}) == expected
            language.forget_recent()
            assert language.identify_codes(texts, prefer, max_chars) == expected  # through the recent lines


# fastText gives French 0.5000051 to this line: its own threshold and the probability it returns part at the cut
AT_THE_CUT = "Saboteurs cut the undersea cable yhjh"


def test_codes_are_the_guesses_codes():
    _assert_codes_are_the_guesses_codes([*_identification_texts(), AT_THE_CUT])


def test_the_cut_is_fasttexts_own_threshold():
    # both paths ask fastText for the best label at MIN_CONFIDENCE, so a probability at the cut reads alike
    guess = identify(AT_THE_CUT, memo={})
    assert language.identify_codes([AT_THE_CUT], memo={}) == [guess.code]
    assert guess.code is None or guess.confidence >= language.MIN_CONFIDENCE


def test_a_long_call_keeps_the_recent_lines_bounded():
    # a batch longer than the recent lines keeps its own answers instead of growing the shared memory
    language.forget_recent()
    language.identify_codes([ENGLISH, GERMAN])
    before = dict(language._RECENT_CODES)
    texts = [f"Report {i}: {ENGLISH}" for i in range(language._RECENT_LIMIT + 1)]
    assert language.identify_codes(texts) == [guess.code for guess in identify_many(texts, memo={})]
    assert before == language._RECENT_CODES


def test_codes_read_fasttexts_own_build_too(monkeypatch):
    # fastText's own build of fasttext_pybind answers multilinePredict with (labels, probabilities)
    model = language._model()

    class OwnBuild:
        def multilinePredict(self, lines, k, threshold, errors):
            labels = model.multilinePredict(lines, k, threshold, errors)
            return labels, [[0.9] * len(found) for found in labels]

        def predict(self, *args):
            return model.predict(*args)

    texts = [ENGLISH, GERMAN, RUSSIAN, "Olaf Scholz"]
    expected = language.identify_codes(texts, memo={})
    monkeypatch.setattr(language, "_MODEL", OwnBuild())
    assert language.identify_codes(texts, memo={}) == expected


@pytest.mark.slow
def test_codes_are_the_guesses_codes_over_the_corpus():
    from classifier.config import CORPUS_PATH

    with open(CORPUS_PATH, encoding="utf-8") as handle:
        _assert_codes_are_the_guesses_codes([json.loads(line)["text"] for i, line in enumerate(handle) if i % 5 == 0])


@pytest.mark.slow
def test_codes_survive_other_threads_clearing_the_recent_lines(monkeypatch):
    # the service's threads share the recent lines; one call's answers must not be read back from them
    import sys
    import threading

    monkeypatch.setattr(language, "_RECENT_LIMIT", 1)  # every call clears what the others stored
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns within a call, not only between calls
    texts = [f"Sentence number {i} of this test, about the weather in town." for i in range(40)]
    expected = [guess.code for guess in identify_many(texts, memo={})]
    failures: list[BaseException] = []

    def hammer() -> None:
        try:
            for _ in range(200):
                assert language.identify_codes(texts) == expected
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []


def test_documents_scored_in_one_batch_as_each_alone(shipped_predictor):
    # one batch shares the identifier's answers and decides every row with its language's thresholds at once
    texts = _identification_texts()
    alone = []
    for text in texts:
        language.forget_recent()
        alone.extend(shipped_predictor.score_documents([text], "always", evidence_top_k=2))
    batch = shipped_predictor.score_documents(texts, "always", evidence_top_k=2)
    assert [r.to_json() for r in batch] == [r.to_json() for r in alone]
    assert {r.coverage.language for r in batch} >= {"de", "en", "uk"}


def test_rows_take_their_languages_thresholds(shipped_predictor):
    # `_rows` indexes one stacked table; the plain path builds each row's thresholds from its language's own
    codes = ["en", "de", None, "uk", "ru", "en"]
    probabilities = np.random.default_rng(0).random((len(codes), len(shipped_predictor.labels)))
    own = shipped_predictor._by_language
    plain = probabilities >= np.array([own[c][1] if c in own else shipped_predictor.scorer.thresholds for c in codes])
    expected = plain.tolist()
    expected[4] = [False] * len(shipped_predictor.labels)  # Russian: not read, so not decided
    _, decided, read = shipped_predictor._rows(probabilities, codes)
    assert own and decided == expected and read == [True, True, True, True, False, True]
