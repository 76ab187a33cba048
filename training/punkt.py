"""Learn the Punkt sentence-boundary parameters that `classifier.segment` ships with, one set per language.

NLTK's pretrained Punkt models are a download (`nltk.download("punkt_tab")`), which is not reachable
offline, so the project trains its own with `PunktTrainer` on the running text of the bundled corpus
(its sentences joined back per document, in corpus order), one set per language
(`classifier/resources/punkt/<lang>/`) for every language with at least `MIN_PUNKT_SENTENCES` sentences,
and adds a short list of common abbreviations per language (titles, ranks, months, "z. B.", "т. д.") that
a corpus of this size sees too rarely. A language with fewer sentences gets no parameters of its own:
`classifier.segment` then uses Punkt without learned parameters (a break after every sentence-end mark
followed by a capital), which is NLTK's behaviour for an untrained language.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path

from nltk.tabdata import TabEncoder
from nltk.tokenize.punkt import PunktParameters, PunktTrainer

from classifier.artifacts import write_text_atomic
from classifier.config import PUNKT_DIR

# Fewer sentences than this teach Punkt too little (its abbreviation statistics need repeated types).
MIN_PUNKT_SENTENCES = 300

# Lower-case, without the final period, as Punkt stores them.
EXTRA_ABBREVIATIONS = {
    "en": {
        "mr", "mrs", "ms", "dr", "prof", "gen", "lt", "col", "maj", "capt", "cpt", "sgt", "adm", "cmdr",
        "gov", "sen", "rep", "pres", "amb", "hon", "rev", "st", "jr", "sr", "no", "nos", "vol", "art",
        "para", "fig", "approx", "etc", "e.g", "i.e", "vs", "cf", "inc", "ltd", "co", "corp", "dept",
        "u.s", "u.k", "u.n", "e.u", "u.s.a", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
        "sept", "oct", "nov", "dec",
    },
    "de": {
        "z.b", "bzw", "usw", "vgl", "d.h", "u.a", "ca", "nr", "abs", "art", "dr", "prof", "hr", "fr", "str",
        "bspw", "ggf", "evtl", "inkl", "sog", "mio", "mrd", "jan", "feb", "jun", "jul", "aug", "sep", "sept",
        "okt", "nov", "dez", "s", "z", "u", "d",
    }
    # German writes ordinals with a period ("am 3. Mai", "der 20. Wahlperiode"): Punkt checks a token before
    # a period against the abbreviations as written, so the numbers 1-99 are listed.
    | {str(n) for n in range(1, 100)},
    "uk": {
        "т.д", "т.п", "т.ч", "напр", "ст", "р", "рр", "грн", "млн", "млрд", "тис", "км", "див", "ім", "проф",
        "д", "с", "ч", "т", "пп", "вул", "обл", "м",
    },
}  # fmt: skip


def corpus_running_text(rows: list[dict]) -> str:
    """The corpus's sentences joined back into one running text per document, documents apart."""
    by_doc: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_doc[str(row.get("doc") or row.get("id"))].append(row["text"])
    return "\n\n".join(" ".join(sentences) for sentences in by_doc.values())


def train_punkt_params(text: str, language: str = "en") -> PunktParameters:
    """Train Punkt on `text` and add the `EXTRA_ABBREVIATIONS` of `language`."""
    trainer = PunktTrainer()
    trainer.INCLUDE_ALL_COLLOCS = True
    trainer.train(text, finalize=True)
    params = trainer.get_params()
    params.abbrev_types.update(EXTRA_ABBREVIATIONS.get(language, ()))
    return params


def write_punkt_params(params: PunktParameters, directory: Path) -> Path:
    """Write `params` in NLTK's punkt_tab format (as `save_punkt_params` does), atomically per file."""
    directory.mkdir(parents=True, exist_ok=True)
    enc = TabEncoder()
    # Sorted, so the same corpus always gives byte-identical files (sets iterate in hash order).
    files = {
        "collocations.tab": enc.tups2tab(sorted(params.collocations)),
        "sent_starters.txt": enc.list2txt(sorted(params.sent_starters)),
        "abbrev_types.txt": enc.list2txt(sorted(params.abbrev_types)),
        "ortho_context.tab": enc.ivdict2tab(dict(sorted(params.ortho_context.items()))),
    }
    for name, content in files.items():
        write_text_atomic(directory / name, content)
    return directory


def train_per_language(
    rows: list[dict], directory: Path = PUNKT_DIR, min_sentences: int = MIN_PUNKT_SENTENCES
) -> dict[str, int | None]:
    """Train and write one parameter set per language of `rows` (each with ``text``, ``doc`` and ``lang``)
    with at least `min_sentences` sentences; remove the sets of languages that no longer qualify.

    Returns each language's sentence count, None for those left without parameters of their own.
    """
    by_lang: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row.get("lang"):
            by_lang[row["lang"]].append(row)
    trained: dict[str, int | None] = {}
    for lang, lang_rows in sorted(by_lang.items(), key=lambda item: -len(item[1])):
        if len(lang_rows) < min_sentences:
            trained[lang] = None
            continue
        write_punkt_params(train_punkt_params(corpus_running_text(lang_rows), lang), directory / lang)
        trained[lang] = len(lang_rows)
    for child in directory.iterdir() if directory.is_dir() else []:
        if child.is_dir() and trained.get(child.name) is None:
            shutil.rmtree(child)
    return trained
