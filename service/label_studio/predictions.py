"""Model results as Label Studio predictions: a `choices` result and a task `score` to sort by.

Every task text is scored as a document (`Predictor.predict_documents`): it is segmented into passages
like any document, each passage is scored, and the document gets a label when at least one passage
reaches that label's threshold; the label's document score is its highest passage score. A one-sentence
task is simply a document of one passage.

The task `score` is the certainty of the least certain label decision, in [0, 1]: for each label the
project offers, how far its score lies from the label's threshold, as a share of the room on that side
(``(p - t) / (1 - t)`` when the label fired, ``(t - p) / t`` when it did not). 0 means some label sits
exactly on its threshold; 1 means every decision is as clear as it can be. Sorting Label Studio's
"Prediction score" column ascending puts the tasks the model is least sure of first (uncertainty
sampling), which are the ones whose labels teach the next model most.

A task in a language the model was not trained on is never given made-up certainty: a label whose alert
is unknown (null: not fired where the model could read, some passages in another language) counts as
certainty 0, so such tasks sort first for a person to read, and no choice is pre-selected for it. Each
label's threshold is the one its alert was decided with (a language may have its own).
"""

from __future__ import annotations

from service.label_studio.labelling_config import ChoicesTarget

SCORE_DECIMALS = 6


def certainty(score: float, threshold: float) -> float:
    """How clear one label decision is: 0 on the threshold, 1 at probability 0 (not fired) or 1 (fired)."""
    if score >= threshold:
        room = 1.0 - threshold
        return 1.0 if room <= 0 else min(1.0, (score - threshold) / room)
    return 1.0 if threshold <= 0 else min(1.0, (threshold - score) / threshold)


def task_score(scores: dict[str, float | None], thresholds: dict[str, float], labels: tuple[str, ...]) -> float:
    """The certainty of the least certain decision among `labels` (see the module docstring); an unscored
    label (None) is certainty 0."""
    return round(
        min(0.0 if scores[label] is None else certainty(scores[label], thresholds[label]) for label in labels),
        SCORE_DECIMALS,
    )


def alert_certainty_inputs(result: dict, thresholds: dict[str, float]) -> tuple[dict, dict[str, float]]:
    """Each label's score for `task_score` (None where its alert is unknown) and its threshold: from a
    result's alerts when it has them, else its scores and `thresholds`."""
    alerts = result.get("alerts")
    if alerts is None:
        return result["scores"], thresholds
    scores = {label: None if a["alert"] is None else a["max_score"] for label, a in alerts.items()}
    return scores, {label: a["threshold"] for label, a in alerts.items()}


def chosen(result: dict, target: ChoicesTarget) -> list[str]:
    """The choices to pre-select: every fired label the project offers, or for a single-choice control
    only the fired one with the highest score."""
    fired = [label for label in target.labels if label in result["labels"]]
    if target.multiple or len(fired) <= 1:
        return fired
    return [max(fired, key=lambda label: result["scores"][label])]


def to_prediction(result: dict, target: ChoicesTarget, thresholds: dict[str, float], version: str) -> dict:
    """One task's prediction in Label Studio's format (an empty `result` when no offered label fired);
    `thresholds` are used for a result without alerts."""
    choices = chosen(result, target)
    scores, thresholds = alert_certainty_inputs(result, thresholds)
    region = {
        "from_name": target.from_name,
        "to_name": target.to_name,
        "type": "choices",
        "value": {"choices": choices},
    }
    return {
        "result": [region] if choices else [],
        "score": task_score(scores, thresholds, target.labels),
        "model_version": version,
    }
