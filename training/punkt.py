"""Learn the Punkt sentence-boundary parameters that `classifier.segment` ships with.

NLTK's pretrained Punkt models are a download (`nltk.download("punkt_tab")`), which is not reachable
offline, so the project trains its own with `PunktTrainer` on the running text of the bundled corpus
(its sentences joined back per document, in corpus order) and adds a short list of common English
abbreviations of titles, ranks, months and countries that a corpus of this size sees too rarely.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from nltk.tabdata import TabEncoder
from nltk.tokenize.punkt import PunktParameters, PunktTrainer

from classifier.artifacts import write_text_atomic
from classifier.config import PUNKT_DIR

# Lower-case, without the final period, as Punkt stores them.
EXTRA_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "gen", "lt", "col", "maj", "capt", "cpt", "sgt", "adm", "cmdr",
    "gov", "sen", "rep", "pres", "amb", "hon", "rev", "st", "jr", "sr", "no", "nos", "vol", "art",
    "para", "fig", "approx", "etc", "e.g", "i.e", "vs", "cf", "inc", "ltd", "co", "corp", "dept",
    "u.s", "u.k", "u.n", "e.u", "u.s.a", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec",
}  # fmt: skip


def corpus_running_text(rows: list[dict]) -> str:
    """The corpus's sentences joined back into one running text per document, documents apart."""
    by_doc: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_doc[str(row.get("doc") or row.get("id"))].append(row["text"])
    return "\n\n".join(" ".join(sentences) for sentences in by_doc.values())


def train_punkt_params(text: str) -> PunktParameters:
    """Train Punkt on `text` and add `EXTRA_ABBREVIATIONS`."""
    trainer = PunktTrainer()
    trainer.INCLUDE_ALL_COLLOCS = True
    trainer.train(text, finalize=True)
    params = trainer.get_params()
    params.abbrev_types.update(EXTRA_ABBREVIATIONS)
    return params


def write_punkt_params(params: PunktParameters, directory: Path = PUNKT_DIR) -> Path:
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
