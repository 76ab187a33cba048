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


@dataclass(slots=True)
class Alert:
    """One label's verdict on a text: fired or not, the highest score, the threshold, and (for a document)
    the indices of the passages at or above the threshold."""

    alert: bool
    max_score: float
    threshold: float
    passages: list[int] | None = None

    def to_json(self) -> dict:
        """JSON-ready dict: alert, max_score, threshold (and passages for a document)."""
        out = {"alert": self.alert, "max_score": self.max_score, "threshold": self.threshold}
        if self.passages is not None:
            out["passages"] = self.passages
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
    scores: dict[str, float]
    evidence: Evidence | None = None  # None: not asked for; {} when asked for and no label fired

    def to_json(self) -> dict:
        """JSON-ready dict of the passage (``evidence`` only when it was asked for)."""
        out = {
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "kind": self.kind,
            "text": self.text,
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
    scores: dict[str, float]
    thresholds: dict[str, float]  # the model's, shared by all its results
    evidence: Evidence | None = None  # None: not asked for

    @property
    def alerts(self) -> dict[str, Alert]:
        """Each label's verdict (built on demand: most callers only render it)."""
        fired = set(self.labels)
        return {label: Alert(label in fired, score, self.thresholds[label]) for label, score in self.scores.items()}

    @property
    def passage_count(self) -> int:
        """Passages scored (a text without listed passages counts as one)."""
        return 1

    def to_json(self) -> dict:
        """JSON-ready dict: labels, scores, alerts (and evidence when asked for)."""
        fired, thresholds = self.labels, self.thresholds
        out = {
            "labels": fired,
            "scores": self.scores,
            "alerts": {
                label: {"alert": label in fired, "max_score": score, "threshold": thresholds[label]}
                for label, score in self.scores.items()
            },
        }
        if self.evidence is not None:
            out["evidence"] = self.evidence
        return out


@dataclass(slots=True)
class DocumentResult:
    """A segmented text with its passages (passage modes ``always`` and ``auto``)."""

    labels: list[str]
    scores: dict[str, float]  # label -> highest passage score
    thresholds: dict[str, float]  # the model's, shared by all its results
    passages: list[PassageResult]

    @property
    def alerts(self) -> dict[str, Alert]:
        """Each label's verdict with the indices of the passages that fired it (built on demand)."""
        fired = set(self.labels)
        return {
            label: Alert(
                label in fired,
                score,
                self.thresholds[label],
                [p.index for p in self.passages if label in p.labels] if label in fired else [],
            )
            for label, score in self.scores.items()
        }

    @property
    def passage_count(self) -> int:
        """Passages scored."""
        return len(self.passages)

    def to_json(self, all_passages: bool = True) -> dict:
        """JSON-ready dict: labels, scores, alerts, passages (every passage, or only those with a label)."""
        fired, thresholds, passages = self.labels, self.thresholds, self.passages
        alerts = {}  # the `alerts` property, inlined: this runs for every record of a batch
        for label, score in self.scores.items():
            hits = [p.index for p in passages if label in p.labels] if label in fired else []
            alerts[label] = {"alert": bool(hits), "max_score": score, "threshold": thresholds[label], "passages": hits}
        listed = passages if all_passages else [p for p in passages if p.labels]
        return {
            "labels": fired,
            "scores": self.scores,
            "alerts": alerts,
            "passages": [p.to_json() for p in listed],
        }


Result = TextResult | DocumentResult
