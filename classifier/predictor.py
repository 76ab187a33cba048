"""`Predictor`: the one class the CLI, the service and the batch scorer use to score text.

It loads a verified model version (the pickle-free scorer) and turns probabilities into typed results
(`classifier.results`): `score_texts` scores each text as one passage, `score_documents` segments
texts into passages with offsets, labels, scores, evidence and a per-label alert summary.
`predict_texts` and `predict_documents` give the older dict shapes the service still uses.

Every passage's language is identified (`classifier.language`; an undetermined passage takes its
document's language). A passage in a language the version was not trained on (its manifest's
``supported_languages``; a version stored before languages were recorded reads English only) is flagged
and left unscored unless `score_unsupported` (`HTA_SCORE_UNSUPPORTED`); a passage in a language with
thresholds of its own (``thresholds_by_language``) is decided with them. A text or document whose
`source` (the register it comes from, named by the caller) has thresholds of its own
(``thresholds_by_source``, tuned on that source's feedback) is decided with those, over its language's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from classifier.artifacts import load_scorer
from classifier.config import models_dir as default_models_dir
from classifier.config import setting
from classifier.language import document_language, fill_undetermined, identify_codes
from classifier.results import (
    READ_ALL,
    Coverage,
    DocumentResult,
    Evidence,
    PassageMode,
    PassageResult,
    TextResult,
)
from classifier.scorer import LinearScorer
from classifier.segment import Passage, segment
from classifier.served_thresholds import threshold_map
from classifier.versions import resolve_version_dir

SCORE_DECIMALS = 6
# What a version stored before its manifest listed languages was trained on: the English corpus.
LEGACY_LANGUAGES = ("en",)


def manifest_languages(manifest: dict) -> tuple[str, ...]:
    """The languages a version was trained on and supports (sorted codes)."""
    return tuple(sorted(manifest.get("supported_languages") or LEGACY_LANGUAGES))


class Predictor:
    """Scores texts and documents with one model version."""

    def __init__(
        self,
        scorer: LinearScorer,
        manifest: dict,
        version_dir: Path | None = None,
        score_unsupported: bool | None = None,
    ):
        self.scorer = scorer
        self.manifest = manifest
        self.version_dir = version_dir
        self.score_unsupported = setting("SCORE_UNSUPPORTED") if score_unsupported is None else score_unsupported
        self.languages = manifest_languages(manifest)
        self._supported = frozenset(self.languages)
        self._thresholds = dict(zip(scorer.labels, (float(t) for t in scorer.thresholds), strict=True))
        # The rule is `classifier.served_thresholds.threshold_map`'s; what is kept here are its answers.
        self._language_thresholds = dict(manifest.get("thresholds_by_language") or {})
        self._by_source: dict[str, dict[str, float]] = dict(manifest.get("thresholds_by_source") or {})
        # Each language with thresholds of its own: (label -> threshold, the threshold row for `decide`).
        self._by_language: dict[str, tuple[dict[str, float], np.ndarray]] = {
            code: self._pair(code, None) for code in self._language_thresholds
        }
        # The same rows stacked under the global one, for one indexing per batch (`_rows`): row i + 1 is
        # the language at index i of `_language_rows`.
        self._language_rows = {code: i + 1 for i, code in enumerate(self._by_language)}
        self._language_table = np.array([scorer.thresholds, *(row for _, row in self._by_language.values())])
        # Each (source, language) of a source with thresholds of its own: the same pair.
        self._source_maps: dict[tuple, tuple[dict[str, float], np.ndarray]] = {}
        self._coverages: dict[tuple, Coverage] = {}

    @classmethod
    def load(
        cls,
        version_dir: Path | str | None = None,
        models_dir: Path | str | None = None,
        score_unsupported: bool | None = None,
    ) -> Predictor:
        """Load `version_dir`, or the current version of `models_dir` (default: the configured one)."""
        if version_dir is None:
            version_dir = resolve_version_dir(Path(models_dir or default_models_dir()))
        scorer, manifest = load_scorer(Path(version_dir))
        return cls(scorer, manifest, Path(version_dir), score_unsupported)

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
        """Decision threshold of each label (for languages without thresholds of their own)."""
        return dict(self._thresholds)

    def thresholds_for(self, language: str | None, source: str | None = None) -> dict[str, float]:
        """The thresholds passages in `language` (from `source`, when named) are decided with."""
        own = self._for(language, source)
        return dict(own[0] if own else self._thresholds)

    @property
    def sources_with_thresholds(self) -> list[str]:
        """The sources decided with thresholds of their own (sorted)."""
        return sorted(self._by_source)

    def _for(self, code: str | None, source: str | None) -> tuple[dict[str, float], np.ndarray] | None:
        """(label -> threshold, threshold row) of a passage in `code` from `source`, or None for the global ones."""
        own = self._by_source.get(source) if source is not None else None
        if not own:
            return self._by_language.get(code)
        key = (source, code)
        found = self._source_maps.get(key)
        if found is None:
            found = self._pair(code, source)
            if len(self._source_maps) < 1000:  # bounded: a few (source, language) pairs in practice
                self._source_maps[key] = found
        return found

    def _pair(self, code: str | None, source: str | None) -> tuple[dict[str, float], np.ndarray]:
        merged = threshold_map(self._thresholds, self._language_thresholds, self._by_source, code, source)
        return merged, np.array([merged[label] for label in self.scorer.labels])

    @property
    def languages_with_thresholds(self) -> list[str]:
        """The languages decided with thresholds of their own (sorted)."""
        return sorted(self._by_language)

    def supports(self, language: str | None) -> bool:
        """Whether the model reads `language` (an undetermined language, None, counts as read)."""
        return language is None or language in self._supported

    # ------------------------------------------------------------------------------------- typed results

    def score_texts(
        self, texts: list[str], evidence_top_k: int = 0, source: str | list[str | None] | None = None
    ) -> list[TextResult]:
        """Score each text as one passage (no segmentation); evidence of each fired label when `evidence_top_k`.
        `source` names the register of every text (a string) or of each (a list as long as `texts`)."""
        texts = list(texts)
        sources = _sources(source, len(texts))
        codes = identify_codes(texts, self._supported)
        rows = self.scorer.transform(texts)
        scores, decided, read = self._rows(self.scorer.proba_from_rows(rows), codes, sources)
        results = [
            self._text_result(row, on, code, ok, src)
            for row, on, code, ok, src in zip(scores, decided, codes, read, sources, strict=True)
        ]
        if evidence_top_k:
            found = self._evidence(texts, rows, [r.labels for r in results], evidence_top_k)
            for result, evidence in zip(results, found, strict=True):
                result.evidence = evidence
        return results

    def score_documents(
        self,
        texts: list[str],
        mode: PassageMode | str = PassageMode.ALWAYS,
        evidence_top_k: int = 0,
        source: str | list[str | None] | None = None,
        observed: list | None = None,
    ) -> list[TextResult] | list[DocumentResult]:
        """Segment and score texts: `DocumentResult`s listing every passage (modes always/auto), or
        `TextResult`s (mode never) whose scores are each label's highest passage score and whose evidence
        comes from the passage that scored highest for the label. An empty text has no passages, no
        labels and scores of 0. `source` names the register of every text (a string) or of each (a list):
        a source with thresholds of its own is decided with them. When `observed` is a list, one tuple of
        every passage's rounded scores, decisions, language codes, read flags and sources (None: none named)
        is appended to it, the lists already built for the results (the service's monitor counts them)."""
        mode = PassageMode(mode)
        doc_sources = _sources(source, len(texts))
        # One batch's answers of the language identifier, shared by segmentation's blocks and the passages
        # (each distinct line read once); a lone text uses the recent lines' (boilerplate across requests).
        memo = {} if len(texts) > 1 else None
        segmented = [segment(text, memo=memo) for text in texts]
        flat: list[Passage] = [p for doc in segmented for p in doc]
        flat_texts = [p.text for p in flat]
        codes = identify_codes(flat_texts, self._supported, memo=memo)
        doc_codes: list[str | None] = []
        offset = 0
        for doc in segmented:
            n = len(doc)
            if n == 1:  # most documents: the passage's language is the document's
                doc_codes.append(codes[offset])
            else:
                found = codes[offset : offset + n]
                doc_code = document_language(flat_texts[offset : offset + n], found)
                if doc_code is not None and None in found:  # undetermined passages take the document's
                    codes[offset : offset + n] = fill_undetermined(found, doc_code)
                doc_codes.append(doc_code)
            offset += n
        rows = self.scorer.transform(flat_texts)  # kept: evidence explains these same rows
        flat_sources = (
            [src for doc, src in zip(segmented, doc_sources, strict=True) for _ in doc]
            if any(src is not None for src in doc_sources)
            else None
        )
        scores, decided, read = self._rows(self.scorer.proba_from_rows(rows), codes, flat_sources)
        if observed is not None:
            observed.append((scores, decided, codes, read, flat_sources))
        offset = 0
        documents, offsets = [], []  # offsets[d]: row of document d's first passage
        for doc, doc_code, src in zip(segmented, doc_codes, doc_sources, strict=True):
            n = len(doc)
            end = offset + n
            documents.append(
                self._document_result(
                    doc, scores[offset:end], decided[offset:end], codes[offset:end], read[offset:end], doc_code, src
                )
            )
            offsets.append(offset)
            offset = end
        if mode.lists_passages:
            if evidence_top_k:
                self._add_passage_evidence(documents, offsets, rows, evidence_top_k)
            return documents
        return self._without_passages(documents, offsets, rows, evidence_top_k)

    # ---------------------------------------------------------------------------------- JSON renderings

    def predict_texts(
        self, texts: list[str], evidence_top_k: int = 0, source: str | list[str | None] | None = None
    ) -> list[dict]:
        """`score_texts` rendered as JSON-ready dicts (`TextResult.to_json`)."""
        return [result.to_json() for result in self.score_texts(texts, evidence_top_k, source)]

    def predict_documents(
        self,
        texts: list[str],
        passages: str = "always",
        evidence_top_k: int = 5,
        source: str | list[str | None] | None = None,
    ) -> list[dict]:
        """`score_documents` rendered as JSON-ready dicts (`DocumentResult.to_json` / `TextResult.to_json`):
        the one result shape of the CLI, the batch writers and the service."""
        return [result.to_json() for result in self.score_documents(texts, passages, evidence_top_k, source)]

    # ------------------------------------------------------------------------------------------ internals

    def _evidence(self, texts: list[str], rows, labels: list[list[str]], top_k: int) -> list[Evidence]:
        """Evidence terms of the given labels of each text, from its feature row already built for scoring
        (row i of `rows` for texts[i]); the one place evidence is computed."""
        index = {label: j for j, label in enumerate(self.labels)}
        label_ids = [[index[label] for label in names] for names in labels]
        explained = self.scorer.explain_rows(texts, rows, label_ids, top_k)
        return [{label: found[index[label]] for label in names} for names, found in zip(labels, explained, strict=True)]

    def _rows(
        self, probabilities: np.ndarray, codes: list[str | None], sources: list[str | None] | None = None
    ) -> tuple[list[list[float | None]], list[list[bool]], list[bool]]:
        """Rounded scores, threshold decisions (each row by its language's thresholds) and whether each row
        was read, as Python lists (one numpy pass, not one per row). An unread row (a language the model does
        not support, unless it scores them anyway) has null scores and no decision."""
        supported = self._supported
        read = [code is None or code in supported for code in codes]
        own = self._by_language
        if sources is not None and self._by_source and any(src in self._by_source for src in sources):
            rows = [self._for(code, src) for code, src in zip(codes, sources, strict=True)]
            thresholds = np.array([row[1] if row else self.scorer.thresholds for row in rows])
            decided = probabilities >= thresholds
        elif own and any(at := [self._language_rows.get(code, 0) for code in codes]):
            decided = probabilities >= self._language_table[at]  # each row's language's thresholds
        else:
            decided = self.scorer.decide(probabilities)
        scores = np.round(probabilities, SCORE_DECIMALS).tolist()
        decided = decided.tolist()
        if not self.score_unsupported and not all(read):
            blank, none = [None] * len(self.labels), [False] * len(self.labels)
            for i, ok in enumerate(read):
                if not ok:
                    scores[i], decided[i] = blank, none
        return scores, decided, read

    def _threshold_map(self, code: str | None, source: str | None = None) -> dict[str, float]:
        own = self._for(code, source) if source is not None else self._by_language.get(code)
        return own[0] if own else self._thresholds

    def _coverage(self, language: str | None, unsupported: tuple[str, ...]) -> Coverage:
        """The (shared) coverage of a result in `language` whose unsupported passages are in `unsupported`."""
        if not unsupported and language is None:
            return READ_ALL
        key = (language, unsupported)
        found = self._coverages.get(key)
        if found is None:
            reason = None
            if unsupported and not self.score_unsupported:
                reason = (
                    f"not scored: passages in {', '.join(unsupported)}, which this model was not trained on (it "
                    f"reads {', '.join(self.languages)}); the label fired on none of the passages it could read"
                )
            found = Coverage(language, list(unsupported), reason)
            if len(self._coverages) < 1000:  # bounded: a few languages in practice
                self._coverages[key] = found
        return found

    def _text_result(
        self, scores: list, decided: list[bool], code: str | None, read: bool, source: str | None = None
    ) -> TextResult:
        labels = self.labels  # as long as every row: zip needs no length check here (a hot path)
        return TextResult(
            [label for label, on in zip(labels, decided) if on],  # noqa: B905
            dict(zip(labels, scores)),  # noqa: B905
            self._threshold_map(code, source),
            coverage=self._coverage(code, () if read else (code,)),
            unsupported_counts=None if read else {code: 1},
        )

    def _document_result(
        self,
        doc: list[Passage],
        scores: list[list],
        decided: list[list[bool]],
        codes: list[str | None],
        read: list[bool],
        doc_code: str | None,
        source: str | None = None,
    ):
        labels = self.labels
        if len(doc) == 1:  # most texts: the passage's labels and scores are the document's (shared objects)
            (p,), row, row_on, code, ok = doc, scores[0], decided[0], codes[0], read[0]
            fired = [label for label, on in zip(labels, row_on) if on]  # noqa: B905 (a hot path)
            by_label = dict(zip(labels, row))  # noqa: B905
            passage = PassageResult(0, p.start, p.end, p.kind, p.text, fired, by_label, code, ok)
            coverage = self._coverage(code, () if ok else (code,))
            return DocumentResult(fired, by_label, self._threshold_map(code, source), [passage], coverage)
        passages = [
            PassageResult(
                i,
                p.start,
                p.end,
                p.kind,
                p.text,
                [label for label, on in zip(labels, row_on) if on],  # noqa: B905
                dict(zip(labels, row)),  # noqa: B905
                code,
                ok,
            )
            for i, (p, row, row_on, code, ok) in enumerate(zip(doc, scores, decided, codes, read))  # noqa: B905
        ]
        fired = [label for j, label in enumerate(labels) if any(on[j] for on in decided)]
        scored = [row for row, ok in zip(scores, read) if ok or self.score_unsupported]  # noqa: B905
        best = {
            # an empty text scores 0 (nothing to read); a text of unread passages only, null
            label: max((row[j] for row in scored), default=0.0) if scored or not doc else None
            for j, label in enumerate(labels)
        }
        unsupported = tuple(sorted({code for code, ok in zip(codes, read) if not ok}))  # noqa: B905
        coverage = self._coverage(doc_code, unsupported)
        return DocumentResult(fired, best, self._threshold_map(doc_code, source), passages, coverage)

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
        results = [
            TextResult(
                d.labels, d.scores, d.thresholds, coverage=d.coverage, unsupported_counts=d.unsupported_by_language()
            )
            for d in documents
        ]
        if not top_k:
            return results
        asked = []  # (result, label, passage that scored highest for the label, its row)
        for result, document, offset in zip(results, documents, offsets, strict=True):
            result.evidence = {}
            for label in document.labels:
                # among the passages scored: an unread passage's scores are null (the label fired on a read one)
                best = max(
                    (p for p in document.passages if p.scores[label] is not None),
                    key=lambda p, label=label: p.scores[label],
                )
                asked.append((result, label, best, offset + best.index))
        found = self._evidence(
            [p.text for _, _, p, _ in asked], rows[[i for *_, i in asked]], [[label] for _, label, _, _ in asked], top_k
        )
        for (result, label, _, _), evidence in zip(asked, found, strict=True):
            result.evidence[label] = evidence[label]
        return results


def _sources(source: str | list[str | None] | None, n: int) -> list[str | None]:
    """One source (or None) per text from a predictor call's `source` argument; a bad one raises ValueError."""
    if source is None or isinstance(source, str):
        return [source] * n
    sources = list(source)
    if len(sources) != n:
        raise ValueError(f"source: {len(sources)} sources for {n} texts")
    for value in sources:
        if value is not None and not isinstance(value, str):
            raise ValueError(f"source: expected a string or None, got {type(value).__name__}")
    return sources
