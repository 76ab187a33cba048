"""`Predictor`: the one class the CLI, the service and the batch scorer use to score text.

It loads a verified model version (the pickle-free scorer) and turns probabilities into typed results
(`classifier.results`): `score_texts` scores each text as one passage, `score_documents` segments
texts into passages with offsets, labels, scores, evidence and a per-label alert summary.
`predict_texts` and `predict_documents` give the older dict shapes the service still uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from classifier.artifacts import load_scorer, resolve_version_dir
from classifier.config import models_dir as default_models_dir
from classifier.results import DocumentResult, Evidence, PassageMode, PassageResult, TextResult
from classifier.scorer import LinearScorer
from classifier.segment import Passage, segment

SCORE_DECIMALS = 6


class Predictor:
    """Scores texts and documents with one model version."""

    def __init__(self, scorer: LinearScorer, manifest: dict, version_dir: Path | None = None):
        self.scorer = scorer
        self.manifest = manifest
        self.version_dir = version_dir
        self._thresholds = dict(zip(scorer.labels, (float(t) for t in scorer.thresholds), strict=True))

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
        return dict(self._thresholds)

    # ------------------------------------------------------------------------------------- typed results

    def score_texts(self, texts: list[str], evidence_top_k: int = 0) -> list[TextResult]:
        """Score each text as one passage (no segmentation); evidence of each fired label when `evidence_top_k`."""
        texts = list(texts)
        rows = self.scorer.transform(texts)
        scores, decided = self._rows(self.scorer.proba_from_rows(rows))
        results = [self._text_result(row, on) for row, on in zip(scores, decided, strict=True)]
        if evidence_top_k:
            found = self._evidence(texts, rows, [r.labels for r in results], evidence_top_k)
            for result, evidence in zip(results, found, strict=True):
                result.evidence = evidence
        return results

    def score_documents(
        self, texts: list[str], mode: PassageMode | str = PassageMode.ALWAYS, evidence_top_k: int = 0
    ) -> list[TextResult] | list[DocumentResult]:
        """Segment and score texts: `DocumentResult`s listing every passage (modes always/auto), or
        `TextResult`s (mode never) whose scores are each label's highest passage score and whose evidence
        comes from the passage that scored highest for the label. An empty text has no passages, no
        labels and scores of 0."""
        mode = PassageMode(mode)
        segmented = [segment(text) for text in texts]
        flat: list[Passage] = [p for doc in segmented for p in doc]
        rows = self.scorer.transform([p.text for p in flat])  # kept: evidence explains these same rows
        scores, decided = self._rows(self.scorer.proba_from_rows(rows))
        offset = 0
        documents, offsets = [], []  # offsets[d]: row of document d's first passage
        for doc in segmented:
            n = len(doc)
            documents.append(self._document_result(doc, scores[offset : offset + n], decided[offset : offset + n]))
            offsets.append(offset)
            offset += n
        if mode.lists_passages:
            if evidence_top_k:
                self._add_passage_evidence(documents, offsets, rows, evidence_top_k)
            return documents
        return self._without_passages(documents, offsets, rows, evidence_top_k)

    # ---------------------------------------------------------------------------------- JSON renderings

    def predict_texts(self, texts: list[str], evidence_top_k: int = 0) -> list[dict]:
        """`score_texts` rendered as JSON-ready dicts (`TextResult.to_json`)."""
        return [result.to_json() for result in self.score_texts(texts, evidence_top_k)]

    def predict_documents(self, texts: list[str], passages: str = "always", evidence_top_k: int = 5) -> list[dict]:
        """`score_documents` rendered as JSON-ready dicts (`DocumentResult.to_json` / `TextResult.to_json`):
        the one result shape of the CLI, the batch writers and the service."""
        return [result.to_json() for result in self.score_documents(texts, passages, evidence_top_k)]

    # ------------------------------------------------------------------------------------------ internals

    def _evidence(self, texts: list[str], rows, labels: list[list[str]], top_k: int) -> list[Evidence]:
        """Evidence terms of the given labels of each text, from its feature row already built for scoring
        (row i of `rows` for texts[i]); the one place evidence is computed."""
        index = {label: j for j, label in enumerate(self.labels)}
        label_ids = [[index[label] for label in names] for names in labels]
        explained = self.scorer.explain_rows(texts, rows, label_ids, top_k)
        return [{label: found[index[label]] for label in names} for names, found in zip(labels, explained, strict=True)]

    def _rows(self, probabilities: np.ndarray) -> tuple[list[list[float]], list[list[bool]]]:
        """Rounded scores and threshold decisions as Python lists (one numpy pass, not one per row)."""
        return np.round(probabilities, SCORE_DECIMALS).tolist(), self.scorer.decide(probabilities).tolist()

    def _text_result(self, scores: list[float], decided: list[bool]) -> TextResult:
        labels = self.labels  # as long as every row: zip needs no length check here (a hot path)
        return TextResult(
            [label for label, on in zip(labels, decided) if on],  # noqa: B905
            dict(zip(labels, scores)),  # noqa: B905
            self._thresholds,
        )

    def _document_result(self, doc: list[Passage], scores: list[list[float]], decided: list[list[bool]]):
        labels = self.labels
        if len(doc) == 1:  # most texts: the passage's labels and scores are the document's (shared objects)
            (p,), row, row_on = doc, scores[0], decided[0]
            fired = [label for label, on in zip(labels, row_on) if on]  # noqa: B905 (a hot path)
            by_label = dict(zip(labels, row))  # noqa: B905
            passage = PassageResult(0, p.start, p.end, p.kind, p.text, fired, by_label)
            return DocumentResult(fired, by_label, self._thresholds, [passage])
        passages = [
            PassageResult(
                i,
                p.start,
                p.end,
                p.kind,
                p.text,
                [label for label, on in zip(labels, row_on) if on],  # noqa: B905
                dict(zip(labels, row)),  # noqa: B905
            )
            for i, (p, row, row_on) in enumerate(zip(doc, scores, decided))  # noqa: B905
        ]
        fired = [label for j, label in enumerate(labels) if any(on[j] for on in decided)]
        best = {label: max((row[j] for row in scores), default=0.0) for j, label in enumerate(labels)}
        return DocumentResult(fired, best, self._thresholds, passages)

    def _add_passage_evidence(self, documents: list[DocumentResult], offsets: list[int], rows, top_k: int) -> None:
        """Give every passage the evidence of its labels (one batch for all documents)."""
        flagged, at = [], []
        for document, offset in zip(documents, offsets, strict=True):
            for passage in document.passages:
                passage.evidence = {}
                if passage.labels:
                    flagged.append(passage)
                    at.append(offset + passage.index)
        found = self._evidence([p.text for p in flagged], rows[at], [p.labels for p in flagged], top_k)
        for passage, evidence in zip(flagged, found, strict=True):
            passage.evidence = evidence

    def _without_passages(
        self, documents: list[DocumentResult], offsets: list[int], rows, top_k: int
    ) -> list[TextResult]:
        """`TextResult`s of segmented documents; each fired label's evidence comes from its best passage
        (one batch for all documents)."""
        results = [TextResult(d.labels, d.scores, self._thresholds) for d in documents]
        if not top_k:
            return results
        asked = []  # (result, label, passage that scored highest for the label, its row)
        for result, document, offset in zip(results, documents, offsets, strict=True):
            result.evidence = {}
            for label in document.labels:
                best = max(document.passages, key=lambda p, label=label: p.scores[label])
                asked.append((result, label, best, offset + best.index))
        found = self._evidence(
            [p.text for _, _, p, _ in asked], rows[[i for *_, i in asked]], [[label] for _, label, _, _ in asked], top_k
        )
        for (result, label, _, _), evidence in zip(asked, found, strict=True):
            result.evidence[label] = evidence[label]
        return results
