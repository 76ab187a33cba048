"""Labelled training data: loading JSONL or CSV, validating it, and summarising it.

Every problem stops loading with a `classifier.records.RecordError` that names the file and the line;
files are read by `classifier.batch.readers.read_records`, as `score` reads them.

Languages: a row's optional `lang` field is an ISO 639-1 code (any case; stored lower-case; anything else
is refused naming the line). A row without one has its language identified (`classifier.language`); a row
whose language cannot be identified (a name, a number) takes the language most of its document's rows
have, else the file's. A `lang` the identifier confidently contradicts (probability at least
`LANG_DISAGREEMENT_CONFIDENCE`) is kept — the annotator's word wins: quotations and code-switching are real —
and listed in `Dataset.lang_disagreements`, which training reports.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from classifier.batch.readers import read_records
from classifier.config import DEFAULT_LABELS
from classifier.language import is_language_code
from classifier.records import RecordError

DEFAULT_MIN_LABEL_COUNT = 10
CSV_LABEL_SEPARATOR = "|"
# A given `lang` contradicted by the identifier at this probability or above is reported.
LANG_DISAGREEMENT_CONFIDENCE = 0.9


@dataclass
class Example:
    """One labelled text."""

    text: str
    labels: list[str]
    id: str
    group: str
    source: str = ""
    unsure: bool = False
    line: int = 0
    added: bool = False  # from an `extra` file (e.g. feedback): always trains, never held out
    lang: str | None = None  # ISO 639-1 code: the row's `lang`, else identified (see the module docstring)
    lang_given: bool = False  # whether `lang` came from the row rather than the identifier


@dataclass(frozen=True)
class LangDisagreement:
    """A row whose `lang` field the identifier confidently contradicts."""

    path: str
    line: int
    given: str
    identified: str
    confidence: float

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: 'lang' is {self.given!r}, but the text reads as {self.identified!r} "
            f"(probability {self.confidence:.2f}); kept as {self.given!r}"
        )


@dataclass
class Dataset:
    """Validated examples with their label set, as arrays ready for training."""

    examples: list[Example]
    labels: list[str]
    sha256: str
    path: str
    extra_sha256: list[str] = field(default_factory=list)
    base_sha256: str = ""
    lang_disagreements: list[LangDisagreement] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        """The texts, in file order."""
        return [e.text for e in self.examples]

    @property
    def groups(self) -> np.ndarray:
        """The group (document) of every example: folds never split a group."""
        return np.array([e.group for e in self.examples], dtype=object)

    @property
    def sources(self) -> np.ndarray:
        """The `source` of every example (for feedback: the register its document comes from)."""
        return np.array([e.source for e in self.examples], dtype=object)

    @property
    def langs(self) -> np.ndarray:
        """The language code of every example."""
        return np.array([e.lang for e in self.examples], dtype=object)

    def language_counts(self) -> dict[str, int]:
        """Rows per language, most first."""
        return dict(Counter(e.lang for e in self.examples).most_common())

    @property
    def unsure(self) -> np.ndarray:
        """True for the rows an annotator flagged `unsure`."""
        return np.array([e.unsure for e in self.examples], dtype=bool)

    @property
    def added(self) -> np.ndarray:
        """True for the rows that came from `extra` files rather than the base data."""
        return np.array([e.added for e in self.examples], dtype=bool)

    @property
    def Y(self) -> np.ndarray:
        """0/1 indicator matrix (n_examples, n_labels) in `labels` order."""
        index = {label: j for j, label in enumerate(self.labels)}
        Y = np.zeros((len(self.examples), len(self.labels)), dtype=int)
        for i, example in enumerate(self.examples):
            for label in example.labels:
                Y[i, index[label]] = 1
        return Y

    def summary(self) -> dict:
        """Row count, label counts, unsure count, groups and sources, for manifests and model cards."""
        counts = Counter(label for e in self.examples for label in e.labels)
        return {
            "rows": len(self.examples),
            "groups": len({e.group for e in self.examples}),
            "label_counts": {label: counts[label] for label in self.labels},
            "no_label": sum(1 for e in self.examples if not e.labels),
            "unsure": sum(1 for e in self.examples if e.unsure),
            "sources": dict(Counter(e.source or "unknown" for e in self.examples).most_common()),
            "languages": self.language_counts(),
            "lang_given": sum(1 for e in self.examples if e.lang_given),
            "lang_disagreements": len(self.lang_disagreements),
            "sha256": self.sha256,
            "path": _display_path(self.path),
        }


def _as_labels(value, path, line: int) -> list[str]:
    if not isinstance(value, list):
        raise RecordError(path, line, f"'labels' must be a list of strings, got {type(value).__name__}")
    for label in value:
        if not isinstance(label, str) or not label.strip():
            raise RecordError(path, line, f"'labels' must hold non-empty strings, got {label!r}")
    return sorted(set(label.strip() for label in value))


def _example(record: dict, path, line: int) -> Example:
    text = record.get("text")
    if text is None:
        raise RecordError(path, line, "missing 'text'")
    if not isinstance(text, str):
        raise RecordError(path, line, f"'text' must be a string, got {type(text).__name__}")
    if not text.strip():
        raise RecordError(path, line, "'text' is empty")
    if "labels" not in record:
        raise RecordError(path, line, "missing 'labels' (use [] for a text with no label)")
    labels = _as_labels(record["labels"], path, line)
    raw_id = record.get("id")
    if raw_id is not None and not isinstance(raw_id, (str, int)):
        raise RecordError(path, line, f"'id' must be a string or integer, got {type(raw_id).__name__}")
    example_id = str(raw_id) if raw_id not in (None, "") else f"line-{line}"
    group = record.get("doc") or record.get("group") or example_id
    unsure = record.get("unsure", False)
    if not isinstance(unsure, bool):
        raise RecordError(path, line, f"'unsure' must be true or false, got {unsure!r}")
    lang = record.get("lang")
    if lang in (None, ""):
        lang = None
    elif not isinstance(lang, str) or not is_language_code(lang.strip().lower()):
        raise RecordError(path, line, f"'lang' must be an ISO 639-1 code such as 'en' or 'uk', got {lang!r}")
    else:
        lang = lang.strip().lower()
    return Example(text, labels, example_id, str(group), str(record.get("source") or ""), unsure, line,
                   lang=lang, lang_given=lang is not None)  # fmt: skip


def _read_csv(path: Path):
    """(line, record) of a CSV file: ``labels`` split on `CSV_LABEL_SEPARATOR`, ``unsure`` a boolean."""
    for line_no, record in read_records(str(path), "csv", None, columns=("text", "labels")):
        record["labels"] = [x.strip() for x in record["labels"].split(CSV_LABEL_SEPARATOR) if x.strip()]
        if "unsure" in record:
            record["unsure"] = str(record["unsure"]).strip().lower() in {"1", "true", "yes"}
        yield line_no, record


def read_examples(path: Path) -> list[Example]:
    """Read and validate every example of a JSONL (``.jsonl``/``.json``) or CSV (``.csv``) file."""
    path = Path(path)
    records = _read_csv(path) if path.suffix.lower() == ".csv" else read_records(str(path), "jsonl", None)
    examples = [_example(record, path, line) for line, record in records]
    if not examples:
        raise RecordError(path, None, "no examples: the file is empty")
    return examples


def assign_languages(examples: list[Example], path) -> list[LangDisagreement]:
    """Identify the language of every example (see the module docstring); returns the disagreements with
    a given `lang`. Examples without one get a code (or None when neither they, their document nor the
    file has an identifiable language)."""
    from classifier.language import WHOLE_TEXT, identify_many

    guesses = identify_many([e.text for e in examples], max_chars=WHOLE_TEXT)
    disagreements = []
    for e, guess in zip(examples, guesses, strict=True):
        if e.lang_given:
            if guess.code not in (None, e.lang) and guess.confidence >= LANG_DISAGREEMENT_CONFIDENCE:
                disagreements.append(LangDisagreement(str(path), e.line, e.lang, guess.code, guess.confidence))
        else:
            e.lang = guess.code
    undetermined = [e for e in examples if e.lang is None]
    if undetermined:
        by_group: dict[str, Counter] = {}
        for e in examples:
            if e.lang is not None:
                by_group.setdefault(e.group, Counter())[e.lang] += 1
        known = Counter(e.lang for e in examples if e.lang is not None)
        file_lang = known.most_common(1)[0][0] if known else None
        for e in undetermined:
            in_group = by_group.get(e.group)
            e.lang = in_group.most_common(1)[0][0] if in_group else file_lang
    return disagreements


def check_examples(examples: list[Example], path, labels: list[str] | None, min_label_count: int) -> list[str]:
    """Check ids are unique and every label is known and frequent enough; return the label set."""
    seen: dict[str, int] = {}
    for e in examples:
        if e.id in seen:
            raise RecordError(path, e.line, f"duplicate id {e.id!r} (first on line {seen[e.id]})")
        seen[e.id] = e.line
    counts = Counter(label for e in examples for label in e.labels)
    if labels is None:
        labels = list(DEFAULT_LABELS) if set(counts) <= set(DEFAULT_LABELS) else sorted(counts)
    else:
        for e in examples:
            unknown = sorted(set(e.labels) - set(labels))
            if unknown:
                raise RecordError(path, e.line, f"unknown label(s) {unknown}; the label set is {labels}")
    for label in labels:
        if counts[label] < min_label_count:
            first = next((e.line for e in examples if label in e.labels), None)
            raise RecordError(
                path, first, f"label {label!r} has {counts[label]} examples; at least {min_label_count} are needed"
            )
    return labels


def records_sha256(records: list[dict]) -> str:
    """The sha256 of records as the JSONL file `training.feedback.export_feedback` writes of them: rows
    added in memory hash as the same rows added from that file."""
    digest = hashlib.sha256()
    for record in records:
        digest.update((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
    return digest.hexdigest()


def load_dataset(
    path: Path,
    labels: list[str] | None = None,
    min_label_count: int = DEFAULT_MIN_LABEL_COUNT,
    extra: list[Path] | None = None,
    extra_records: tuple[str, list[dict]] | None = None,
) -> Dataset:
    """Load, validate and combine `path` with optional `extra` files (e.g. exported feedback) and
    `extra_records`, a (name, records) pair already in memory (the feedback a retrain job read from the
    store; errors name `name` and the record's 1-based position as its line). Both kinds are added rows.

    The label set is `labels` if given, else the bundled three when the data uses no others, else
    every label the data uses (sorted).
    """
    path = Path(path)
    examples = read_examples(path)
    disagreements = assign_languages(examples, path)
    digests = [_sha256(path)]
    added: list[tuple[str, list[Example], str]] = [
        (Path(p).name, read_examples(Path(p)), _sha256(Path(p))) for p in extra or []
    ]
    if extra_records is not None and extra_records[1]:
        name, records = extra_records
        for line, record in enumerate(records, start=1):
            if not isinstance(record, dict):
                raise RecordError(name, line, f"expected a JSON object, got {type(record).__name__}")
        more = [_example(record, name, line) for line, record in enumerate(records, start=1)]
        added.append((name, more, records_sha256(records)))
    for name, more, digest in added:
        disagreements += assign_languages(more, name)
        for e in more:
            e.id = f"{name}:{e.id}"
            e.added = True
        examples.extend(more)
        digests.append(digest)
    labels = check_examples(examples, path, labels, min_label_count)
    combined = digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()
    return Dataset(examples, labels, combined, str(path), digests[1:], digests[0], disagreements)


def _display_path(path: str) -> str:
    """`path` relative to the project when it lies inside it (manifests travel with the project), else as is."""
    from classifier.config import PROJECT_ROOT

    resolved = Path(path).resolve()
    return str(resolved.relative_to(PROJECT_ROOT)) if resolved.is_relative_to(PROJECT_ROOT) else str(path)


def _sha256(path: Path) -> str:
    from classifier.artifacts import sha256_file

    return sha256_file(path)
