"""`Predictor`: the one class the CLI, the service and the batch scorer use to score text.

It loads a verified model version (the pickle-free scorer) and turns probabilities into results:
labels and scores per text, and for documents the passages with offsets, labels, scores and evidence
plus a document-level alert summary per label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from classifier.artifacts import load_scorer, resolve_version_dir
from classifier.config import models_dir as default_models_dir
from classifier.scorer import LinearScorer
from classifier.segment import Passage, segment

SCORE_DECIMALS = 6


class Predictor:
    """Scores texts and documents with one model version."""

    def __init__(self, scorer: LinearScorer, manifest: dict, version_dir: Path | None = None):
        self.scorer = scorer
        self.manifest = manifest
        self.version_dir = version_dir

    @classmethod
    def load(cls, version_dir: Path | str | None = None, models_dir: Path | str | None = None) -> Predictor:
        """Load `version_dir`, or the current version of `models_dir` (default: the configured one)."""
        if version_dir is None:
            version_dir = resolve_version_dir(Path(models_dir or default_models_dir()))
        scorer, manifest = load_scorer(Path(version_dir))
        return cls(scorer, manifest, Path(version_dir))

    @property
    def version(self) -> str:
        """The model version's name."""
        return self.manifest["version"]

    @property
    def labels(self) -> tuple[str, ...]:
        """Label names, in score order."""
        return self.scorer.labels

    @property
    def thresholds(self) -> dict[str, float]:
        """Decision threshold of each label."""
        return {label: float(t) for label, t in zip(self.labels, self.scorer.thresholds, strict=True)}

    def _scores(self, row: np.ndarray) -> dict[str, float]:
        return {label: round(float(p), SCORE_DECIMALS) for label, p in zip(self.labels, row, strict=True)}

    def _flagged(self, row: np.ndarray) -> list[str]:
        return [label for label, on in zip(self.labels, self.scorer.decide(row), strict=True) if on]

    def _evidence(self, text: str, labels: list[str], top_k: int) -> dict[str, list[dict]]:
        index = {label: j for j, label in enumerate(self.labels)}
        return {label: self.scorer.evidence(text, index[label], top_k) for label in labels}

    def predict_texts(self, texts: list[str], evidence_top_k: int = 0) -> list[dict]:
        """Score each text as one passage: ``{"labels": [...], "scores": {label: p}}`` (+ "evidence")."""
        probabilities = self.scorer.predict_proba(list(texts))
        results = []
        for text, row in zip(texts, probabilities, strict=True):
            result = {"labels": self._flagged(row), "scores": self._scores(row)}
            if evidence_top_k:
                result["evidence"] = self._evidence(text, result["labels"], evidence_top_k)
            results.append(result)
        return results

    def predict_documents(
        self, texts: list[str], passages: str = "always", evidence_top_k: int = 5
    ) -> list[dict]:
        """Segment and score documents.

        Each result has ``labels`` (labels with an alert), ``scores`` (label -> highest passage score),
        ``alerts`` (label -> alert, max_score, indices of the passages that triggered it) and, when
        `passages` is ``"always"`` (or ``"auto"`` and the document has more than one passage),
        ``passages``: start/end offsets into the text, kind, text, labels, scores and the evidence
        terms of each label flagged on it.
        """
        segmented = [segment(text) for text in texts]
        flat: list[Passage] = [p for doc in segmented for p in doc]
        probabilities = self.scorer.predict_proba([p.text for p in flat])
        results, offset = [], 0
        for doc in segmented:
            rows = probabilities[offset : offset + len(doc)]
            offset += len(doc)
            results.append(self._document_result(doc, rows, passages, evidence_top_k))
        return results

    def _document_result(self, doc: list[Passage], rows: np.ndarray, passages: str, top_k: int) -> dict:
        n_labels = len(self.labels)
        decided = self.scorer.decide(rows) if len(doc) else np.zeros((0, n_labels), dtype=bool)
        max_scores = rows.max(axis=0) if len(doc) else np.zeros(n_labels)
        alerts = {
            label: {
                "alert": bool(decided[:, j].any()),
                "max_score": round(float(max_scores[j]), SCORE_DECIMALS),
                "passages": np.flatnonzero(decided[:, j]).tolist(),
            }
            for j, label in enumerate(self.labels)
        }
        result = {
            "labels": [label for label in self.labels if alerts[label]["alert"]],
            "scores": {label: alerts[label]["max_score"] for label in self.labels},
            "alerts": alerts,
        }
        if passages == "always" or (passages == "auto" and len(doc) > 1):
            result["passages"] = [
                self._passage_result(i, passage, row, top_k) for i, (passage, row) in enumerate(zip(doc, rows, strict=True))
            ]
        return result

    def _passage_result(self, index: int, passage: Passage, row: np.ndarray, top_k: int) -> dict:
        labels = self._flagged(row)
        item = {
            "index": index,
            "start": passage.start,
            "end": passage.end,
            "kind": passage.kind,
            "text": passage.text,
            "labels": labels,
            "scores": self._scores(row),
        }
        if top_k:
            item["evidence"] = self._evidence(passage.text, labels, top_k)
        return item
