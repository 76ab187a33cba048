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

    def _evidence(self, texts: list[str], labels: list[list[str]], top_k: int) -> list[dict[str, list[dict]]]:
        """Evidence terms of the given labels of each text, computed in one batch."""
        index = {label: j for j, label in enumerate(self.labels)}
        explained = self.scorer.explain(texts, [[index[label] for label in names] for names in labels], top_k)
        return [{label: found[index[label]] for label in names} for names, found in zip(labels, explained, strict=True)]

    def _rows(self, probabilities: np.ndarray) -> tuple[list[list[float]], list[list[bool]]]:
        """Rounded scores and threshold decisions as Python lists (one numpy pass, not one per row)."""
        return np.round(probabilities, SCORE_DECIMALS).tolist(), self.scorer.decide(probabilities).tolist()

    def predict_texts(self, texts: list[str], evidence_top_k: int = 0) -> list[dict]:
        """Score each text as one passage: ``{"labels": [...], "scores": {label: p}}`` (+ "evidence")."""
        scores, decided = self._rows(self.scorer.predict_proba(list(texts)))
        results = [self._single_result(row, on) for row, on in zip(scores, decided, strict=True)]
        if evidence_top_k:
            found = self._evidence(list(texts), [r["labels"] for r in results], evidence_top_k)
            for result, evidence in zip(results, found, strict=True):
                result["evidence"] = evidence
        return results

    def predict_documents(self, texts: list[str], passages: str = "always", evidence_top_k: int = 5) -> list[dict]:
        """Segment and score documents.

        Each result has ``labels`` (labels with an alert) and ``scores`` (label -> highest passage
        score). When `passages` is ``"always"``, or ``"auto"`` and the document has more than one
        passage, it also has ``alerts`` (label -> alert, max_score, indices of the passages that
        triggered it) and ``passages``: start/end offsets into the text, kind, text, labels, scores
        and the evidence terms of each label flagged on it. An empty document has no passages, no
        labels and scores of 0.
        """
        segmented = [segment(text) for text in texts]
        flat: list[Passage] = [p for doc in segmented for p in doc]
        scores, decided = self._rows(self.scorer.predict_proba([p.text for p in flat]))
        results, offset = [], 0
        for doc in segmented:
            n = len(doc)
            detailed = passages == "always" or (passages == "auto" and n > 1)
            doc_scores, doc_decided = scores[offset : offset + n], decided[offset : offset + n]
            offset += n
            if n == 1 and not detailed:
                results.append(self._single_result(doc_scores[0], doc_decided[0]))
            else:
                results.append(self._document_result(doc, doc_scores, doc_decided, detailed))
        if evidence_top_k:
            self._add_passage_evidence(results, evidence_top_k)
        return results

    def _add_passage_evidence(self, results: list[dict], top_k: int) -> None:
        """Give every listed passage the evidence of its labels (one batch for all documents)."""
        listed = [p for r in results for p in r.get("passages", ())]
        flagged = [p for p in listed if p["labels"]]
        found = self._evidence([p["text"] for p in flagged], [p["labels"] for p in flagged], top_k)
        for passage in listed:
            passage["evidence"] = {}
        for passage, evidence in zip(flagged, found, strict=True):
            passage["evidence"] = evidence

    def _single_result(self, scores: list[float], decided: list[bool]) -> dict:
        """``labels`` (those at or above their threshold) and ``scores`` of one scored passage."""
        labels = self.labels  # as long as every row: zip needs no length check here (a hot path)
        return {
            "labels": [label for label, on in zip(labels, decided) if on],  # noqa: B905
            "scores": dict(zip(labels, scores)),  # noqa: B905
        }

    def _document_result(
        self, doc: list[Passage], scores: list[list[float]], decided: list[list[bool]], detailed: bool
    ) -> dict:
        alerts = {}
        for j, label in enumerate(self.labels):
            hits = [i for i, on in enumerate(decided) if on[j]]
            alerts[label] = {
                "alert": bool(hits),
                "max_score": max((row[j] for row in scores), default=0.0),
                "passages": hits,
            }
        result = {
            "labels": [label for label in self.labels if alerts[label]["alert"]],
            "scores": {label: alerts[label]["max_score"] for label in self.labels},
        }
        if detailed:
            result["alerts"] = alerts
            result["passages"] = [
                self._passage_result(i, passage, scores[i], decided[i]) for i, passage in enumerate(doc)
            ]
        return result

    def _passage_result(self, index: int, passage: Passage, scores: list[float], decided: list[bool]) -> dict:
        return {
            "index": index,
            "start": passage.start,
            "end": passage.end,
            "kind": passage.kind,
            "text": passage.text,
            **self._single_result(scores, decided),
        }
