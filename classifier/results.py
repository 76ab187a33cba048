"""Typed scoring results and their one JSON rendering, shared by the CLI and the batch writers.

Shapes (what `to_json()` returns; the keys depend on the passage mode only, never on how many
passages a text has):

- `TextResult` (passage mode ``never``): ``labels`` (labels that fired), ``scores`` (label -> score;
  the highest passage score when the text was segmented), ``alerts`` (label -> ``{"alert",
  "max_score", "threshold"}``) and, when evidence was asked for, ``evidence`` (label -> terms, for each
  label that fired).
- `DocumentResult` (passage modes ``always`` and ``auto``): ``labels``, ``scores``, ``alerts`` (label ->
  ``{"alert", "max_score", "threshold", "passages"}``, the indices of the passages that fired it) and
  ``passages``: every passage (or only those with a label) as `PassageResult`, each with ``index``,
  ``start``/``end`` offsets into the text, ``kind``, ``text``, ``labels``, ``scores`` and, when evidence
  was asked for, ``evidence`` (label -> terms, for each label that fired on the passage).

An evidence term is ``{"term": str, "weight": float}``.

Languages (`classifier.language`): every passage carries ``language`` (ISO 639-1, or null when it cannot
be told: no letters, or a name or heading too short to tell and a document that does not tell either) and
``supported`` (whether the model was trained on that language; a passage of undetermined language counts
as supported). An unsupported passage is not given scores the model cannot back: its ``labels`` are empty
and each of its ``scores`` is null. Every result carries ``language`` (the language covering most of its
text) and ``unsupported_languages`` (sorted codes of its unsupported passages). A label's alert is true when
a supported passage fires it, false when no passage fires it and every passage is supported, and null with
a ``reason`` when none of the supported passages fires it but some passages could not be read — never a
false "no" for text the model cannot read. ``max_score`` is the highest score of the scored passages (null
when none was scored). An operator who wants unsupported passages scored anyway (`HTA_SCORE_UNSUPPORTED`)
gets real scores and true/false alerts for them, still marked ``supported: false``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PassageMode(StrEnum):
    """Whether a result lists its passages.

    ``always`` and ``auto`` give a `DocumentResult` for every text, with its passages listed, whether it
    has one passage or many: ``auto`` is kept as an accepted name (it once listed passages only for texts
    of more than one passage, which made the shape depend on the passage count). ``never`` gives a
    `TextResult`.
    """

    ALWAYS = "always"
    AUTO = "auto"
    NEVER = "never"

    @property
    def lists_passages(self) -> bool:
        """Whether results in this mode are `DocumentResult`s (with passages)."""
        return self is not PassageMode.NEVER


Evidence = dict[str, list[dict]]


@dataclass(frozen=True, slots=True)
class Coverage:
    """Which languages a result's passages are in and whether the model could read them all (shared by
    the results of a model when a text is in one supported language, the common case)."""

    language: str | None
    unsupported: list[str]  # sorted codes of the passages the model does not read
    reason: str | None = None  # why an unfired label's alert is unknown (None when every passage was read)


READ_ALL = Coverage(None, [])


def unknown_alert(max_score, threshold: float, reason: str, passages: list[int] | None = None) -> dict:
    """The JSON of a label's alert that cannot be decided: fired nowhere the model could read."""
    out = {"alert": None, "max_score": max_score, "threshold": threshold}
    if passages is not None:
        out["passages"] = passages
    out["reason"] = reason
    return out


@dataclass(slots=True)
class Alert:
    """One label's verdict on a text: fired or not, the highest score, the threshold, and (for a document)
    the indices of the passages at or above the threshold."""

    alert: bool | None  # None: not fired where the model could read, and some passages it could not
    max_score: float | None
    threshold: float
    passages: list[int] | None = None
    reason: str | None = None

    def to_json(self) -> dict:
        """JSON-ready dict: alert, max_score, threshold (and passages for a document, reason when unknown)."""
        out = {"alert": self.alert, "max_score": self.max_score, "threshold": self.threshold}
        if self.passages is not None:
            out["passages"] = self.passages
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(slots=True)
class PassageResult:
    """One scored passage of a document: offsets into the document's text, kind, labels, scores, evidence."""

    index: int
    start: int
    end: int
    kind: str
    text: str
    labels: list[str]
    scores: dict[str, float | None]  # every value None when the passage was not scored (unsupported)
    language: str | None = None
    supported: bool = True
    evidence: Evidence | None = None  # None: not asked for; {} when asked for and no label fired

    def to_json(self) -> dict:
        """JSON-ready dict of the passage (``evidence`` only when it was asked for)."""
        out = {
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "kind": self.kind,
            "text": self.text,
            "language": self.language,
            "supported": self.supported,
            "labels": self.labels,
            "scores": self.scores,
        }
        if self.evidence is not None:
            out["evidence"] = self.evidence
        return out


@dataclass(slots=True)
class TextResult:
    """A text scored without listing passages (passage mode ``never``)."""

    labels: list[str]
    scores: dict[str, float | None]  # None: no passage of the text was scored
    thresholds: dict[str, float]  # the model's for the text's language, shared by all its results
    evidence: Evidence | None = None  # None: not asked for
    coverage: Coverage = READ_ALL
    unsupported_counts: dict[str, int] | None = None  # passages in a language the model does not read, by language

    @property
    def alerts(self) -> dict[str, Alert]:
        """Each label's verdict (built on demand: most callers only render it)."""
        fired, reason = set(self.labels), self.coverage.reason
        return {
            label: Alert(label in fired, score, self.thresholds[label])
            if label in fired or reason is None
            else Alert(None, score, self.thresholds[label], reason=reason)
            for label, score in self.scores.items()
        }

    @property
    def passage_count(self) -> int:
        """Passages scored (a text without listed passages counts as one)."""
        return 1

    @property
    def unsupported_passages(self) -> int:
        """Passages of the text in a language the model does not read."""
        return sum(self.unsupported_counts.values()) if self.unsupported_counts else 0

    def unsupported_by_language(self) -> dict[str, int]:
        """Passages in a language the model does not read, per language (empty for most texts)."""
        return dict(self.unsupported_counts or {})

    def to_json(self) -> dict:
        """JSON-ready dict: labels, scores, alerts, language, unsupported languages (and evidence when asked for)."""
        fired, thresholds, coverage = self.labels, self.thresholds, self.coverage
        reason = coverage.reason
        if reason is None:
            alerts = {
                label: {"alert": label in fired, "max_score": score, "threshold": thresholds[label]}
                for label, score in self.scores.items()
            }
        else:
            alerts = {
                label: {"alert": True, "max_score": score, "threshold": thresholds[label]}
                if label in fired
                else unknown_alert(score, thresholds[label], reason)
                for label, score in self.scores.items()
            }
        out = {
            "labels": fired,
            "scores": self.scores,
            "alerts": alerts,
            "language": coverage.language,
            "unsupported_languages": coverage.unsupported,
        }
        if self.evidence is not None:
            out["evidence"] = self.evidence
        return out


@dataclass(slots=True)
class DocumentResult:
    """A segmented text with its passages (passage modes ``always`` and ``auto``)."""

    labels: list[str]
    scores: dict[str, float | None]  # label -> highest score of the scored passages (None: none scored)
    thresholds: dict[str, float]  # the model's for the document's language, shared by all its results
    passages: list[PassageResult]
    coverage: Coverage = READ_ALL

    @property
    def alerts(self) -> dict[str, Alert]:
        """Each label's verdict with the indices of the passages that fired it (built on demand)."""
        fired, reason = set(self.labels), self.coverage.reason
        alerts = {}
        for label, score in self.scores.items():
            hits = [p.index for p in self.passages if label in p.labels] if label in fired else []
            if hits or reason is None:
                alerts[label] = Alert(bool(hits), score, self.thresholds[label], hits)
            else:
                alerts[label] = Alert(None, score, self.thresholds[label], hits, reason)
        return alerts

    @property
    def passage_count(self) -> int:
        """Passages scored or flagged."""
        return len(self.passages)

    @property
    def unsupported_passages(self) -> int:
        """Passages in a language the model does not read."""
        return sum(1 for p in self.passages if not p.supported) if self.coverage.unsupported else 0

    def unsupported_by_language(self) -> dict[str, int]:
        """Passages in a language the model does not read, per language (empty for most documents)."""
        counts: dict[str, int] = {}
        if self.coverage.unsupported:
            for p in self.passages:
                if not p.supported:
                    counts[p.language] = counts.get(p.language, 0) + 1
        return counts

    def to_json(self, all_passages: bool = True) -> dict:
        """JSON-ready dict: labels, scores, alerts, language, unsupported languages, passages (every passage,
        or only those with a label or unread)."""
        fired, thresholds, passages, coverage = self.labels, self.thresholds, self.passages, self.coverage
        reason = coverage.reason
        alerts = {}  # the `alerts` property, inlined: this runs for every record of a batch
        for label, score in self.scores.items():
            hits = [p.index for p in passages if label in p.labels] if label in fired else []
            if hits or reason is None:
                alerts[label] = {
                    "alert": bool(hits),
                    "max_score": score,
                    "threshold": thresholds[label],
                    "passages": hits,
                }
            else:
                alerts[label] = unknown_alert(score, thresholds[label], reason, hits)
        if all_passages:
            listed = passages
        else:  # flagged passages, and those the model could not read (an analyst must see them)
            listed = [p for p in passages if p.labels or (reason is not None and not p.supported)]
        return {
            "labels": fired,
            "scores": self.scores,
            "alerts": alerts,
            "language": coverage.language,
            "unsupported_languages": coverage.unsupported,
            "passages": [p.to_json() for p in listed],
        }


Result = TextResult | DocumentResult
