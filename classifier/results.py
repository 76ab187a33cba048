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


def _alerts_json(alerts: dict[str, Alert]) -> dict:
    # Inlined `Alert.to_json` (three alerts per record: a hot path of batch output).
    return {
        label: {"alert": a.alert, "max_score": a.max_score, "threshold": a.threshold}
        if a.passages is None
        else {"alert": a.alert, "max_score": a.max_score, "threshold": a.threshold, "passages": a.passages}
        for label, a in alerts.items()
    }


@dataclass(slots=True)
class TextResult:
    """A text scored without listing passages (passage mode ``never``)."""

    labels: list[str]
    scores: dict[str, float]
    alerts: dict[str, Alert]
    evidence: Evidence | None = None  # None: not asked for

    @property
    def passage_count(self) -> int:
        """Passages scored (a text without listed passages counts as one)."""
        return 1

    def to_json(self) -> dict:
        """JSON-ready dict: labels, scores, alerts (and evidence when asked for)."""
        out = {"labels": self.labels, "scores": self.scores, "alerts": _alerts_json(self.alerts)}
        if self.evidence is not None:
            out["evidence"] = self.evidence
        return out


@dataclass(slots=True)
class DocumentResult:
    """A segmented text with its passages (passage modes ``always`` and ``auto``)."""

    labels: list[str]
    scores: dict[str, float]
    alerts: dict[str, Alert]
    passages: list[PassageResult]

    @property
    def passage_count(self) -> int:
        """Passages scored."""
        return len(self.passages)

    def to_json(self, all_passages: bool = True) -> dict:
        """JSON-ready dict: labels, scores, alerts, passages (every passage, or only those with a label)."""
        listed = self.passages if all_passages else [p for p in self.passages if p.labels]
        return {
            "labels": self.labels,
            "scores": self.scores,
            "alerts": _alerts_json(self.alerts),
            "passages": [p.to_json() for p in listed],
        }


Result = TextResult | DocumentResult
