"""The promotion gate: is a retrained candidate better than the current model on the same rows?

Both versions' held-out models (fit without any held-out row; see `training.holdout_model`) score the
same two sets:

- the **base held-out split** (the fixed 20% of the base data's documents): the candidate may not fall
  there beyond what the data's own noise explains. The test is a paired bootstrap over documents:
  documents are resampled with replacement (`BOOTSTRAP_RESAMPLES` times, seeded) and the macro-F1 fall
  (current minus candidate) recomputed on each resample; the candidate fails when the fall exceeds
  `margin` with 95% confidence (the 5th percentile of the resampled falls is above the margin);
- the **feedback held-out set** (the analyst's documents that hash into the held-out share, or every
  feedback row cross-fitted): the candidate must be better there, and not worse beyond noise. A label with
  at least `FEEDBACK_F1_MIN_POSITIVES` positives there is judged by F1 (the statistic: those labels'
  macro-F1, what an analyst's alerts are scored by); any other label by the candidate's excess of wrong
  decisions over the current model's (a label the feedback only corrects false alarms of has no F1). A
  paired bootstrap over documents resamples both; the candidate fails when, with one-sided 95% confidence,
  its macro-F1 falls (the fall's lower bound is above 0) or its wrong decisions grow (the excess's lower
  bound is above 0). Better: a higher macro-F1 (fewer wrong decisions when no label is judged by F1), or,
  where that is level, a lower Brier score (the mean squared error of its probabilities, a proper score
  that moves with every row, not only with the rows that cross a threshold). So one or two errors more on
  a few dozen rows reject no candidate that is closer to the analyst's labels, while a candidate that is
  clearly worse, or no closer at all, is rejected. Counting wrong decisions on every label rejected
  candidates that raised F1 by catching more positives at the cost of a few false alarms (issue 21).

A candidate that learned nothing new (no new feedback, the same base data and weight) is rejected: it
reproduces the current model. Without a feedback held-out set (no feedback document has hashed into it
yet), the analyst's text cannot be judged on held-out rows: the candidate is promoted when it passes the
base test; the verdict says so.

Both models' figures are also reported per language on both sets (``metrics.*_by_language`` and the
verdict's ``by_language``), decided with the same thresholds as the test; they inform, they do not decide.
The margin has no default here: it is the `HTA_GATE_MARGIN` setting (`service.config`), passed in by the
retrain job (`training.retrain`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from classifier.scorer import LinearScorer
from training.data import Dataset
from training.languages import metrics_by_language
from training.metrics import compute_metrics
from training.splits import feedback_holdout_mask, holdout_mask

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
# Positives of a label the judged feedback needs for that label to be judged by F1 there (fewer: by decisions).
FEEDBACK_F1_MIN_POSITIVES = 10


@dataclass(frozen=True)
class Scored:
    """A model's probabilities on a row set and the threshold matrix (rows x labels) it is served with."""

    P: np.ndarray
    thresholds: np.ndarray


@dataclass
class RowSet:
    """Labelled rows the gate scores both models on."""

    name: str
    texts: list[str]
    Y: np.ndarray
    groups: np.ndarray
    langs: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    sources: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.texts)

    @classmethod
    def of(cls, dataset: Dataset, rows: np.ndarray, name: str) -> RowSet:
        """The rows `rows` (indices) of a loaded dataset."""
        texts, sources = dataset.texts, dataset.sources
        return cls(name, [texts[i] for i in rows], dataset.Y[rows], dataset.groups[rows], dataset.langs[rows],
                   sources[rows])  # fmt: skip


def gate_rows(dataset: Dataset) -> tuple[RowSet, RowSet]:
    """The base held-out split and the held-out feedback (may be empty) of a loaded dataset: the rows the
    candidate did not train its held-out model on."""
    groups, added = dataset.groups, dataset.added
    base = holdout_mask(groups) & ~added
    feedback = feedback_holdout_mask(groups) & added

    def subset(name: str, mask: np.ndarray) -> RowSet:
        return RowSet.of(dataset, np.flatnonzero(mask), name)

    return subset("base held-out split", base), subset("feedback held-out set", feedback)


def _group_counts(Y: np.ndarray, predicted: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per document: true positives, false positives and false negatives per label, shape (3, G, L)."""
    _, index = np.unique(groups, return_inverse=True)
    n_groups = index.max() + 1 if len(index) else 0
    counts = np.zeros((3, n_groups, Y.shape[1]))
    for k, cell in enumerate(((predicted == 1) & (Y == 1), (predicted == 1) & (Y == 0), (predicted == 0) & (Y == 1))):
        np.add.at(counts[k], index, cell.astype(float))
    return counts, index


def _macro_f1(counts: np.ndarray) -> np.ndarray:
    """Macro-F1 from summed (TP, FP, FN) per label, over any leading axes (F1 is 0 where undefined)."""
    tp, fp, fn = counts[0], counts[1], counts[2]
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return f1.mean(axis=-1)


def paired_bootstrap_falls(
    Y: np.ndarray, current: np.ndarray, candidate: np.ndarray, groups: np.ndarray, resamples: int, seed: int = 0
) -> np.ndarray:
    """Macro-F1 falls (current minus candidate) on `resamples` bootstrap resamples of the documents."""
    return _bootstrap_falls(
        _group_counts(Y, current, groups)[0], _group_counts(Y, candidate, groups)[0], resamples, seed
    )


def _bootstrap_falls(current_counts: np.ndarray, candidate_counts: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """`paired_bootstrap_falls` from both models' per-document counts (`_group_counts`)."""
    n_groups = current_counts.shape[1]
    # Row b of `draws` counts how often each document is drawn in resample b.
    draws = np.random.default_rng(seed).multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=resamples)
    resampled_current = np.einsum("bg,kgl->kbl", draws, current_counts)
    resampled_candidate = np.einsum("bg,kgl->kbl", draws, candidate_counts)
    return _macro_f1(resampled_current) - _macro_f1(resampled_candidate)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def paired_bootstrap_excess(
    current_wrong: np.ndarray, candidate_wrong: np.ndarray, groups: np.ndarray, resamples: int, seed: int = 0
) -> np.ndarray:
    """The candidate's excess of wrong decisions (candidate minus current, summed over the drawn documents) on
    `resamples` bootstrap resamples of the documents; `*_wrong` count each row's wrong label decisions."""
    _, index = np.unique(groups, return_inverse=True)
    per_document = np.zeros(index.max() + 1)
    np.add.at(per_document, index, candidate_wrong - current_wrong)
    n_groups = len(per_document)
    draws = np.random.default_rng(seed).multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=resamples)
    return draws @ per_document


def _figures(scorer: LinearScorer, rows: RowSet, labels: list[str]) -> tuple[np.ndarray, np.ndarray, dict]:
    P = scorer.predict_proba(rows.texts)
    predicted = scorer.decide(P).astype(int)
    return P, predicted, compute_metrics(rows.Y, P, scorer.thresholds, labels)


def by_language(scorer: LinearScorer, rows: RowSet, labels: list[str]) -> dict[str, dict]:
    """`compute_metrics` of `scorer` on `rows`, per language (every language with a row), with its thresholds."""
    if not len(rows) or len(rows.langs) != len(rows):
        return {}
    P = scorer.predict_proba(rows.texts)
    thresholds = np.tile(np.asarray(scorer.thresholds, dtype=float), (len(rows), 1))
    return metrics_by_language(rows.Y, P, thresholds, rows.langs, labels, 1)


def language_summary(current: dict[str, dict], candidate: dict[str, dict]) -> dict[str, dict]:
    """Per language: rows and both models' macro-F1 (overall and over the labels with a positive there)."""
    return {
        code: {
            "rows": figures["rows"],
            "current_macro_f1": current[code]["macro"]["f1"] if code in current else None,
            "candidate_macro_f1": figures["macro"]["f1"],
            "current_macro_f1_with_positives": current.get(code, {}).get("macro_f1_with_positives"),
            "candidate_macro_f1_with_positives": figures["macro_f1_with_positives"],
        }
        for code, figures in candidate.items()
    }


def _decided(scorer: LinearScorer, rows: RowSet, labels: list[str], given: Scored | None):
    """(probabilities, decisions, figures) of a model on `rows`: from `given` (probabilities and the threshold
    matrix they are served with) when there is one, else the scorer's own with its global thresholds."""
    if given is None:
        return _figures(scorer, rows, labels)
    P, T = np.asarray(given.P, dtype=float), np.asarray(given.thresholds, dtype=float)
    return P, (P >= T).astype(int), compute_metrics(rows.Y, P, T, labels)


def _feedback_side(
    current: LinearScorer,
    candidate: LinearScorer,
    feedback: RowSet,
    labels: list[str],
    resamples: int,
    seed: int,
    scores: tuple[Scored | None, Scored | None] = (None, None),
    judged: str = "held-out",
) -> tuple[dict, dict, str]:
    """Both models on the held-out (or cross-fitted: `judged`) feedback: (their figures, the test, the test in
    words).

    The candidate passes when it is not worse beyond noise (neither the macro-F1 fall of the labels with
    enough positives nor the excess of wrong decisions on the others has a one-sided lower bound above 0)
    and is better: a higher macro-F1 (fewer wrong decisions when no label has enough positives), or a lower
    Brier score.
    """
    current_P, current_pred, current_figures = _decided(current, feedback, labels, scores[0])
    candidate_P, candidate_pred, candidate_figures = _decided(candidate, feedback, labels, scores[1])
    # Labels with enough positives here are judged by their macro-F1 (what an analyst's alerts are scored
    # by); the others, by wrong decisions (a label the feedback only corrects false alarms of has no F1).
    judged_by_f1 = feedback.Y.sum(axis=0) >= FEEDBACK_F1_MIN_POSITIVES
    by_errors = ~judged_by_f1
    current_wrong = (current_pred != feedback.Y)[:, by_errors].sum(axis=1)
    candidate_wrong = (candidate_pred != feedback.Y)[:, by_errors].sum(axis=1)
    excesses = paired_bootstrap_excess(current_wrong, candidate_wrong, feedback.groups, resamples, seed)
    errors = (int(current_wrong.sum()), int(candidate_wrong.sum()))
    excess_low = float(np.quantile(excesses, 1 - CONFIDENCE))
    f1_labels = [label for label, by_f1 in zip(labels, judged_by_f1.tolist(), strict=True) if by_f1]
    f1 = fall_low = None
    if f1_labels:
        Y, now, then = feedback.Y[:, judged_by_f1], current_pred[:, judged_by_f1], candidate_pred[:, judged_by_f1]
        counts = [_group_counts(Y, pred, feedback.groups)[0] for pred in (now, then)]
        falls = _bootstrap_falls(*counts, resamples, seed)
        f1 = tuple(float(_macro_f1(per_document.sum(axis=1))) for per_document in counts)
        fall_low = float(np.quantile(falls, 1 - CONFIDENCE))
    errors_within_noise = not (by_errors.any() and excess_low > 0)
    f1_within_noise = fall_low is None or not fall_low > 0
    brier = (float(((current_P - feedback.Y) ** 2).mean()), float(((candidate_P - feedback.Y) ** 2).mean()))
    if not (errors_within_noise and f1_within_noise):
        outcome = "worse beyond noise"
    elif (f1[1] > f1[0] + 1e-12) if f1 is not None else (errors[1] < errors[0]):
        outcome = "better"
    elif brier[1] < brier[0] - 1e-12:
        outcome = "better in its probabilities (lower Brier score), its decisions level within noise"
    else:
        no_better = "no higher macro-F1" if f1 is not None else "no fewer wrong decisions"
        outcome = f"not better ({no_better}, no lower Brier score)"
    passed = outcome.startswith("better")
    documents = len(set(feedback.groups.tolist()))
    test = {
        "test": (
            f"macro-F1 of the labels with at least {FEEDBACK_F1_MIN_POSITIVES} positives here, and the excess of the "
            "candidate's wrong decisions over the current model's on the other labels, on the same rows; paired "
            f"bootstrap over documents, {resamples} resamples, one-sided {CONFIDENCE:.0%}: fails when the lower "
            "bound of the macro-F1 fall or of the excess is above 0"
        ),
        "rows": len(feedback),
        "documents": documents,
        "f1_labels": f1_labels,
        "current_f1": None if f1 is None else round(f1[0], 4),
        "candidate_f1": None if f1 is None else round(f1[1], 4),
        "f1_fall_lower_bound": None if fall_low is None else round(fall_low, 4),
        "label_decisions": int(by_errors.sum() * len(feedback)),
        "current_errors": errors[0],
        "candidate_errors": errors[1],
        "excess": errors[1] - errors[0],
        "excess_lower_bound": round(excess_low, 4),
        "current_brier": round(brier[0], 6),
        "candidate_brier": round(brier[1], 6),
        "current_macro_f1": current_figures["macro"]["f1"],
        "candidate_macro_f1": candidate_figures["macro"]["f1"],
        "outcome": outcome,
        "passed": bool(passed),
    }
    words = f"on the {_count(len(feedback), f'{judged} feedback row')} ({_count(documents, 'document')})"
    if f1 is not None:
        words += (
            f" the macro-F1 of {', '.join(f1_labels)} went {f1[0]:.4f} → {f1[1]:.4f}, the fall's one-sided "
            f"{CONFIDENCE:.0%} lower bound over resampled documents is {fall_low:g}"
            + (" (not above 0)" if f1_within_noise else " (above 0: lower in at least 95% of resamples)")
        )
    if by_errors.any():
        other = "" if f1 is None else " of the other labels"
        words += (
            ("" if f1 is None else ";")
            + f" the candidate makes {_count(errors[1], 'wrong label decision')}{other}, the current model "
            f"{errors[0]}; the excess's one-sided {CONFIDENCE:.0%} lower bound over resampled documents is "
            f"{excess_low:g}"
            + (" (above 0: more wrong decisions in at least 95% of resamples)" if excess_low > 0 else " (not above 0)")
        )
    words += f"; Brier score {brier[1]:.4f} (current: {brier[0]:.4f})"
    return {"current": current_figures, "candidate": candidate_figures}, test, words


def compare(
    current: LinearScorer | None,
    candidate: LinearScorer,
    base: RowSet,
    feedback: RowSet,
    *,
    learned_something_new: bool,
    margin: float,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    feedback_scores: tuple[Scored | None, Scored | None] = (None, None),
    feedback_judged: str = "held-out",
) -> tuple[dict, dict]:
    """Score both held-out models on the same rows and decide; returns (metrics, verdict).

    `metrics` holds both models' figures (`training.metrics.compute_metrics`) on both sets, overall and
    per language (``base_holdout_by_language``, ``feedback_holdout_by_language``); `verdict` holds
    ``promote``, ``decision`` (the verdict in words), ``reasons``, the ``base`` and ``feedback`` tests
    with their figures, and ``by_language``: per set and language, rows and both models' macro-F1.
    `feedback_scores` gives (current, candidate) probabilities on the feedback rows with the threshold
    matrices they are served with (per source and language); a model without one is scored by its scorer at
    its global thresholds. `feedback_judged` says how the candidate's feedback figures were obtained
    ("held-out", or "cross-fitted": each row scored by a model that did not see its document).
    """
    labels = list(candidate.labels)
    if current is None:
        _, _, candidate_base = _figures(candidate, base, labels)
        candidate_languages = by_language(candidate, base, labels)
        metrics = {"base_holdout": {"current": None, "candidate": candidate_base}, "feedback_holdout": None,
                   "base_holdout_by_language": {"current": None, "candidate": candidate_languages},
                   "feedback_holdout_by_language": None}  # fmt: skip
        decision = "promoted: there is no current model to compare with"
        languages = {"base": language_summary({}, candidate_languages), "feedback": None}
        return metrics, {"promote": True, "decision": decision, "reasons": [decision], "base": None, "feedback": None,
                         "by_language": languages}  # fmt: skip
    if list(current.labels) != labels:
        decision = f"rejected: the candidate's labels {labels} differ from the current model's {list(current.labels)}"
        return {}, {"promote": False, "decision": decision, "reasons": [decision], "base": None, "feedback": None,
                    "by_language": None}  # fmt: skip

    _, current_pred, current_base = _figures(current, base, labels)
    _, candidate_pred, candidate_base = _figures(candidate, base, labels)
    falls = paired_bootstrap_falls(base.Y, current_pred, candidate_pred, base.groups, resamples, seed)
    fall = current_base["macro"]["f1"] - candidate_base["macro"]["f1"]
    fall_low = float(np.quantile(falls, 1 - CONFIDENCE))
    base_passed = not fall_low > margin
    base_test = {
        "test": f"paired bootstrap over documents, {resamples} resamples, one-sided {CONFIDENCE:.0%}",
        "rows": len(base),
        "documents": len(set(base.groups.tolist())),
        "current_macro_f1": current_base["macro"]["f1"],
        "candidate_macro_f1": candidate_base["macro"]["f1"],
        "fall": round(float(fall), 4),
        "fall_lower_bound": round(fall_low, 4),
        "margin": margin,
        "passed": bool(base_passed),
    }
    metrics = {"base_holdout": {"current": current_base, "candidate": candidate_base}, "feedback_holdout": None}
    languages = {}
    for key, rows in (("base", base), ("feedback", feedback)):
        if not len(rows):
            metrics[f"{key}_holdout_by_language"], languages[key] = None, None
            continue
        figures = {"current": by_language(current, rows, labels), "candidate": by_language(candidate, rows, labels)}
        metrics[f"{key}_holdout_by_language"] = figures
        languages[key] = language_summary(figures["current"], figures["candidate"])
    base_words = (
        f"macro-F1 on the {len(base)} rows of the base held-out split went {current_base['macro']['f1']:.4f} → "
        f"{candidate_base['macro']['f1']:.4f}, and the fall's one-sided {CONFIDENCE:.0%} lower bound is {fall_low:.4f}"
        + (f" (not above the margin {margin}: within noise)" if base_passed else f", above the margin {margin}")
    )

    feedback_test = None
    feedback_words = ""
    if len(feedback):
        metrics["feedback_holdout"], feedback_test, feedback_words = _feedback_side(
            current, candidate, feedback, labels, resamples, seed, feedback_scores, feedback_judged
        )
        feedback_test["judged"] = feedback_judged

    if not learned_something_new:
        promote = False
        decision = (
            "rejected: nothing new to learn (no new feedback and the same base data): "
            "the candidate reproduces the current model"
        )
    elif feedback_test is None:
        promote = base_passed
        lead = "no feedback document has fallen into the held-out set yet, so the analyst's text cannot be judged"
        decision = f"{'promoted' if promote else 'rejected'}: {lead}; on the base set alone, {base_words}"
    elif not feedback_test["passed"]:
        promote = False
        worse = feedback_test["outcome"] == "worse beyond noise"
        what = (
            "worse on the analyst's held-out text beyond noise"
            if worse
            else (f"{feedback_test['outcome']} on the analyst's held-out text")
        )
        decision = f"rejected: {what} ({feedback_words})"
    elif not base_passed:
        promote = False
        decision = f"rejected: {feedback_test['outcome']} on the analyst's held-out text, but {base_words}"
    else:
        promote = True
        decision = (
            f"promoted: {feedback_test['outcome']} on the analyst's held-out text ({feedback_words}), and {base_words}"
        )
    reasons = [decision]
    return metrics, {"promote": bool(promote), "decision": decision, "reasons": reasons, "base": base_test,
                     "feedback": feedback_test, "by_language": languages}  # fmt: skip
