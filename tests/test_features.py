"""Features: normalisation, featurize against a naive reimplementation, scorer == sklearn pipeline, evidence."""

from __future__ import annotations

import json
import math
import random
import threading
import unicodedata
from collections import Counter

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from classifier.artifacts import load_estimator, load_scorer
from classifier.config import CORPUS_PATH
from classifier.features import counting as counting_module
from classifier.features import space as space_module
from classifier.features.ascii_tokens import ascii_codes, pack_spans, pack_token, token_spans, unpack_token
from classifier.features.fitting import fit_feature_space
from classifier.features.fold import FOLD, feature_text, normalize_for_features
from classifier.features.tfidf import featurize
from classifier.features.tokens import TOKEN_RE, char_ngrams, tokenize, word_ngrams
from classifier.features.transformer import NgramTfidf
from classifier.scorer import LinearScorer

TEXTS = [
    "Saboteurs cut the undersea cable. The cable was cut again!",
    "Russia’s “hybrid” war: disinformation\u00a0and sabotage — again and again.",
    "We stand with Ukraine; we stand with its people.",
    "Ukraine's allies don't waver.",
    "ﬁnal ＦＵＬＬＷＩＤＴＨ text_with_underscores and 2024 numbers",
    "Die Bürger über Änderungen informiert.",
]


def test_normalize_folds_curly_quotes_dashes_and_odd_spaces():
    assert normalize_for_features("“Don’t”\u00a0stop — now\u2009–\u202fthen") == '"don\'t" stop - now - then'
    assert normalize_for_features("It‘s «quoted» „here‟ ′x´") == 'it\'s "quoted" "here" \'x\''
    assert normalize_for_features("zero\u200bwidth\ufeff") == "zerowidth"


def test_normalize_nfkc_whitespace_and_case():
    assert normalize_for_features("ﬁnal ＦＵＬＬ") == "final full"
    assert normalize_for_features("  Hello\tWORLD \n\n again ") == "hello world again"
    assert normalize_for_features("  Grüße\u00a0\u00a0AUS Köln ") == "grüsse aus köln"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Straße", "STRASSE"),  # case folding, not lower-casing: ß folds to ss
        ("м'ясо", "м\u2019ясо"),  # Ukrainian apostrophe: ASCII, right single quote...
        ("м'ясо", "мʼясо"),  # ... and the modifier letter apostrophe U+02BC are one token
        ("диверсія", "диве\u0301рсія"),  # a stress mark (no precomposed Cyrillic letter) is dropped
        ("й", "\u0438\u0306"),  # a letter typed as base + combining breve composes (NFKC)
        ("ДИВЕРСІЯ", "диверсія"),  # Cyrillic case
        ("Ölpipeline", "ölpipeline"),  # Latin with diacritics keeps them
        ("ﬁnal", "final"),  # compatibility forms (NFKC, not NFC)
    ],
)
def test_scripts_fold_to_the_same_tokens(a, b):
    assert tokenize(a) == tokenize(b) and len(tokenize(a)) == 1


def test_diacritics_are_kept_apart():
    # folding never strips a letter's accent: German "schön" and "schon" are different words
    assert tokenize("schön") != tokenize("schon") and tokenize("Київ") != tokenize("Киів")


def test_folding_equals_translate_then_nfkc_then_translate():
    def reference(text: str) -> str:
        return unicodedata.normalize("NFKC", text.translate(FOLD)).translate(FOLD).replace("\u0301", "").casefold()

    rng = random.Random(0)
    alphabet = [chr(c) for c in FOLD] + [
        "\u2033",
        "\uff02",
        "\ufb01",
        "a",
        "A",
        " ",
        "\u00e9",
        "e\u0301",
        "\u0130",
        "\u00df",
    ]
    fuzz = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(20000)]
    for text in [*fuzz, *corpus_texts(3000), *TEXTS]:
        assert feature_text(text) == reference(text), text


def test_tokenize():
    assert tokenize("Ukraine’s allies—don't  WAVER, 2024_x!") == ["ukraine's", "allies", "don't", "waver", "2024", "x"]
    assert tokenize("   ") == []
    assert tokenize("Россия: гибридная война") == ["россия", "гибридная", "война"]


def test_word_and_char_ngrams():
    assert word_ngrams(["a", "b", "c"], (1, 2)) == ["a", "b", "c", "a b", "b c"]
    assert word_ngrams(["a", "b", "c"], (2, 3)) == ["a b", "b c", "a b c"]
    assert char_ngrams("ab", (2, 3)) == [" a", "ab", "b ", " ab", "ab "]


def naive_featurize(text: str, space) -> dict[int, float]:
    """TF-IDF row of `text` computed the obvious way, as {column: value}."""
    index = {str(name): j for j, name in enumerate(space.feature_names)}
    tokens = tokenize(text)
    grams = ["w:" + g for g in word_ngrams(tokens, space.word_ngram_range)]
    if space.char_ngram_range is not None:
        grams += ["c:" + g for t in tokens for g in char_ngrams(t, space.char_ngram_range)]
    counts = Counter(g for g in grams if g in index)
    row = {index[g]: (1 + math.log(c)) * space.idf[index[g]] for g, c in counts.items()}
    norm = math.sqrt(sum(v * v for v in row.values()))
    return {j: v / norm for j, v in row.items()} if norm else {}


def as_dicts(rows) -> list[dict[int, float]]:
    coo = rows.tocoo()
    out = [{} for _ in range(rows.shape[0])]
    for r, c, v in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True):
        assert c not in out[r], "duplicate entry"
        out[r][c] = v
    return out


def assert_equals_naive(rows, queries: list[str], space) -> list[dict[int, float]]:
    got = as_dicts(rows)
    for text, row in zip(queries, got, strict=True):
        expected = naive_featurize(text, space)
        assert row.keys() == expected.keys(), text
        for j, value in expected.items():
            assert row[j] == pytest.approx(value, rel=1e-12, abs=1e-15), (text, space.feature_names[j])
    return got


# ASCII edge cases of the numpy tokenizer: apostrophes, underscores, digits, tokens around 12 characters.
TRICKY = [
    "rock'n'roll students' union 'quoted' a''b don't x' ' '' a'b'c'd",
    "snake_case_word __init__ abc123def 12.5% 3'4",
    "twelvechars1 thirteenchars1 abcdefghijkl abcdefghijklm supercalifragilistic",
    "MiXeD CaSe, tabs\tand\nnew lines",
    "Ukraine’s naïve café ünïcödé's test",
]


@pytest.fixture(
    params=[("numpy", "product"), ("numpy", "sort"), ("regex", "product"), ("regex", "sort"), ("regex", "plain")]
)
def feature_paths(request, monkeypatch):
    """Run a test through each way of tokenising (numpy for ASCII, or the regex for all text) and of
    counting (sparse product, sorting pairs, or a plain-Python `Counter` per text), whatever the batch
    size would pick."""
    tokens, counting = request.param
    monkeypatch.setattr(counting_module, "NUMPY_TOKENS_MIN_CHARS", 0 if tokens == "numpy" else 10**9)
    monkeypatch.setattr(counting_module, "SORT_COUNT_MAX_TOKENS", 10**9 if counting == "sort" else -1)
    monkeypatch.setattr(counting_module, "PLAIN_COUNT_MAX_CHARS", 10**9 if counting == "plain" else -1)
    return request.param


@pytest.mark.parametrize(
    ("word_range", "char_range"),
    [((1, 2), (2, 5)), ((1, 3), None), ((2, 2), (3, 3))],
)
def test_featurize_equals_naive_reimplementation(word_range, char_range, feature_paths):
    space = fit_feature_space(
        [*TEXTS[:4], *TRICKY[:3]], word_ngram_range=word_range, char_ngram_range=char_range, min_df=1
    )
    queries = [*TEXTS, "", "!!!", "cable cable cable", "the the", *TRICKY]
    got = assert_equals_naive(featurize(queries, space), queries, space)
    assert got[len(TEXTS)] == {} and got[len(TEXTS) + 1] == {}


def test_numpy_tokenizer_matches_the_regex():
    rng = random.Random(0)
    alphabet = "ab9'_ -.\"\t"
    fuzz = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    for text in [*(t.lower() for t in TRICKY[:4]), *fuzz]:
        starts, ends = token_spans(ascii_codes(text))
        assert list(zip(starts.tolist(), ends.tolist(), strict=True)) == [m.span() for m in TOKEN_RE.finditer(text)]


def test_packed_tokens_are_exact_up_to_twelve_characters():
    for token in ["a", "z", "0", "9", "don't", "abcdefghijkl", "''", "a'b", "000"]:
        assert unpack_token(pack_token(token)) == token
    assert pack_token("abcdefghijklm") is None  # 13 characters
    assert pack_token("é") is None and pack_token("A") is None and pack_token("a_b") is None
    assert len({pack_token(t) for t in ["a", "aa", "b", "ba", "ab", "0", "00"]}) == 7
    text = TRICKY[2].lower()
    codes = ascii_codes(text)
    starts, ends = token_spans(codes)
    spans = zip(starts.tolist(), ends.tolist(), strict=True)
    expected = [pack_token(text[a:b]) if b - a <= 12 else -1 for a, b in spans]
    assert pack_spans(codes, starts, ends).tolist() == expected and -1 in expected


def test_token_table_reset_keeps_features_exact(monkeypatch, feature_paths):
    space = fit_feature_space([*TEXTS, *TRICKY], min_df=1)
    queries = [*TRICKY, *TEXTS]
    monkeypatch.setattr(space_module, "TOKEN_TABLE_LIMIT", 3)  # a fresh table at nearly every call
    assert_equals_naive(featurize(queries, space), queries, space)
    assert_equals_naive(featurize(queries[::-1], space), queries[::-1], space)


@pytest.mark.slow
def test_featurize_from_many_threads_equals_one_thread():
    texts = corpus_texts(1200)
    space = fit_feature_space(texts[:300], min_df=1)
    expected = featurize(texts, space.subset(np.arange(space.n_features)))  # its own, cold token table
    results: dict[int, object] = {}

    def work(i: int) -> None:
        results[i] = featurize(texts[i * 100 :] + texts[: i * 100], space)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, rows in results.items():
        rotated = csr_matrix(rows)[np.r_[len(texts) - i * 100 : len(texts), : len(texts) - i * 100]]
        assert (rotated - expected).count_nonzero() == 0


def test_fit_feature_space_min_df_and_idf():
    space = fit_feature_space(["a b", "a c", "a b d"], word_ngram_range=(1, 1), char_ngram_range=None, min_df=2)
    assert space.feature_names.tolist() == ["w:a", "w:b"]
    assert space.idf.tolist() == pytest.approx([math.log(4 / 4) + 1, math.log(4 / 3) + 1])
    with pytest.raises(ValueError, match="no feature is frequent enough"):
        fit_feature_space(["a", "b"], char_ngram_range=None, min_df=2)


def test_featurize_batch_equals_one_by_one(feature_paths):
    space = fit_feature_space(TEXTS, min_df=1)
    batch = featurize(TEXTS, space).toarray()
    single = np.vstack([featurize([t], space).toarray() for t in TEXTS])
    np.testing.assert_array_equal(batch, single)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, rtol=1e-12)


def test_ngram_tfidf_transformer_wraps_featurize():
    transformer = NgramTfidf(char_ngram_range=(2, 3), min_df=1).fit(TEXTS)
    matrix = transformer.transform(TEXTS)
    assert matrix.shape == (len(TEXTS), transformer.space_.n_features)
    np.testing.assert_array_equal(matrix.toarray(), featurize(TEXTS, transformer.space_).toarray())
    names = transformer.get_feature_names_out()
    assert names.dtype == object and "w:cable" in set(names) and "c:ca" in set(names)


def corpus_texts(n: int) -> list[str]:
    with open(CORPUS_PATH, encoding="utf-8") as handle:
        return [json.loads(line)["text"] for _, line in zip(range(n), handle, strict=False)]


@pytest.fixture(scope="module")
def estimator(trained_version_dir):
    return load_estimator(trained_version_dir)[0]


@pytest.fixture(scope="module")
def scorer(trained_version_dir):
    return load_scorer(trained_version_dir)[0]


def test_scorer_matches_sklearn_pipeline(estimator, scorer):
    texts = [*corpus_texts(1500), *TEXTS, "", "!!!", "zzqx unknownword"]
    np.testing.assert_allclose(scorer.predict_proba(texts), estimator.predict_proba(texts), rtol=0, atol=1e-9)


def test_scorer_from_estimator_and_arrays_round_trip(estimator, scorer):
    rebuilt = LinearScorer.from_arrays(LinearScorer.from_estimator(estimator).to_arrays())
    assert rebuilt.labels == scorer.labels == tuple(estimator.labels_)
    np.testing.assert_array_equal(rebuilt.thresholds, estimator.thresholds_)
    np.testing.assert_array_equal(rebuilt.coef, scorer.coef)
    texts = corpus_texts(50)
    np.testing.assert_array_equal(rebuilt.predict_proba(texts), scorer.predict_proba(texts))
    np.testing.assert_array_equal(scorer.decide(scorer.predict_proba(texts)), estimator.predict(texts).astype(bool))


def test_evidence_names_saboteurs_for_sabotage(scorer):
    label = scorer.labels.index("sabotage_mention")
    evidence = scorer.evidence("Saboteurs cut the undersea cable.", label, top_k=5)
    assert evidence[0]["term"] == "saboteurs"
    weights = [e["weight"] for e in evidence]
    assert all(w > 0 for w in weights)
    assert weights == sorted(weights, reverse=True)
    assert len({e["term"] for e in evidence}) == len(evidence) <= 5
    tokens = tokenize("Saboteurs cut the undersea cable.")
    assert {e["term"] for e in evidence} <= set(word_ngrams(tokens, (1, 2)))


def test_explain_batch_equals_evidence_one_by_one(scorer):
    texts = [*corpus_texts(40), "Saboteurs cut the undersea cable.", ""]
    asked = [[j for j in range(len(scorer.labels)) if (i + j) % 2] for i in range(len(texts))]
    explained = scorer.explain(texts, asked, top_k=4)
    assert explained == [{j: scorer.evidence(t, j, top_k=4) for j in js} for t, js in zip(texts, asked, strict=True)]
    assert any(terms for found in explained for terms in found.values())


def test_evidence_top_k_and_no_positive_terms(scorer):
    label = scorer.labels.index("sabotage_mention")
    assert len(scorer.evidence("Saboteurs cut the undersea cable.", label, top_k=1)) == 1
    assert scorer.evidence("", label) == []
    negative = LinearScorer(scorer.space, -np.abs(scorer.coef), scorer.intercept, scorer.labels, scorer.thresholds)
    assert negative.evidence("Saboteurs cut the undersea cable.", label) == []


def test_evidence_weights_sum_to_the_logit(scorer):
    # With all coefficients made positive every term's weight is positive, so evidence lists all of them
    # and, by the documented decomposition, weights + intercept == logit (up to the 4-decimal rounding).
    positive = LinearScorer(scorer.space, np.abs(scorer.coef), scorer.intercept, scorer.labels, scorer.thresholds)
    text = "The saboteurs cut the cable, the same cable the saboteurs cut before: sabotage, sabotage!"
    names = set(scorer.space.feature_names.tolist())
    for j in range(len(scorer.labels)):
        evidence = positive.evidence(text, j, top_k=1000)
        tokens = tokenize(text)
        in_vocabulary = {g for g in word_ngrams(tokens, (2, 2)) if "w:" + g in names}
        with_features = {t for t in tokens if featurize([t], positive.space).nnz}
        assert {e["term"] for e in evidence} == with_features | in_vocabulary
        logit = positive.logits(featurize([text], positive.space))[0, j]
        total = sum(e["weight"] for e in evidence) + positive.intercept[j]
        assert total == pytest.approx(logit, abs=5e-5 * len(evidence))


def test_scoring_and_evidence_from_rows_equal_the_text_functions(scorer):
    texts = [*corpus_texts(1100), "Saboteurs cut the undersea cable.", "", "x" * 100_000]  # > CHUNK_SIZE
    rows = scorer.transform(texts)
    assert rows.shape == (len(texts), scorer.space.n_features)
    np.testing.assert_array_equal(scorer.proba_from_rows(rows), scorer.predict_proba(texts))
    asked = [[j for j in range(len(scorer.labels)) if (i + j) % 3] for i in range(len(texts))]
    asked[1100] = asked[1101] = list(range(len(scorer.labels)))
    from_rows = scorer.explain_rows(texts, rows, asked, top_k=3)
    assert from_rows == scorer.explain(texts, asked, top_k=3)
    assert sum(len(terms) for found in from_rows for terms in found.values()) > 1000
    label = scorer.labels.index("sabotage_mention")
    assert from_rows[1100][label][0]["term"] == "saboteurs"
    assert from_rows[1101] == {j: [] for j in asked[1101]}


def test_explain_rows_refuses_rows_that_do_not_match_the_texts(scorer):
    rows = scorer.transform(["one text", "another"])
    with pytest.raises(ValueError, match=r"^1 texts, 1 label lists and rows of shape \(2, \d+\): need one row"):
        scorer.explain_rows(["one text"], rows, [[0]])
