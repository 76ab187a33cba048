"""One retrain, start to end: read the feedback, train a candidate, gate it, publish it if it passes.

`run_retrain(settings, report)` is the whole path, top-down:

1. **read** every feedback row from the store once and resolve it per passage (`training.feedback.read_feedback_view`,
   in memory: adjudicated labels, else agreed ones; unresolved disagreements are held back and counted in the verdict);
2. **load** the base data (the bundled corpus or `RetrainSettings.base_data`) plus those rows once
   (`training.data.load_dataset`): training and the gate use this one dataset;
3. **train** a candidate version on it without making it current (`training.train.train_model`), each
   feedback row weighing `feedback_weight` corpus rows;
4. **gate**: the current version (verified like any version that is served) and the candidate score the
   same held-out rows with their held-out models (`training.holdout_model`; a version stored without one
   gets a stand-in refit on the base data), and `training.promotion.compare` decides;
5. **publish**: only a promoted candidate is made current (through the caller's
   `classifier.versions.VersionPointer`: the CURRENT file, or the service's database row), chosen by the
   gate. A rejected or failed retrain changes neither the current version nor the feedback.

The caller (the service's job process, `service.jobs`) hears each step through a `RetrainReport` and
records it; it neither trains nor decides.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from classifier.scorer import LinearScorer


@dataclass(frozen=True)
class RetrainSettings:
    """What a retrain needs, typed and checked once. The defaults of the values live in the settings table
    (`service.config.SETTINGS`: `HTA_GATE_MARGIN`, `HTA_RETRAIN_CV`, ...), never here."""

    feedback_db: Path  # the service's SQLite file holding the feedback
    models_dir: Path  # where the candidate is written and CURRENT points
    base_data: Path | None  # base training data; None: the bundled corpus
    gate_margin: float  # largest base macro-F1 fall beyond noise the gate tolerates
    feedback_weight: float  # each feedback row's sample weight, corpus rows weighing 1
    cv: int  # cross-validation folds
    n_jobs: int  # parallel fold fits
    threshold_weight: float | str | None = None  # feedback rows' weight in the threshold choice (None: as above)
    crossfit_folds: int = 0  # k >= 2: the gate judges cross-fitted feedback predictions; 0: a held-out share
    source_threshold_labels: int | None = None  # positives per label for a source's own thresholds (None: setting)
    # A candidate the gate passes is shadowed on this many live passages before promotion (0: promoted at once);
    # the caller's `RetrainReport.shadow` runs it. A label whose shadow alert rate exceeds the served version's
    # by more than `shadow_rate_jump` times refuses promotion (0: the comparison is only recorded).
    shadow_passages: int = 0
    shadow_rate_jump: float = 0.0
    # With shadow_passages, all three (HTA_SHADOW_FILE, HTA_SHADOW_SHARE, HTA_RETRAIN_SHADOW_TIMEOUT) are needed.
    shadow_file: Path | None = None  # the service's shadow run file
    shadow_share: float | None = None  # the share of live requests the candidate's shadow run scores
    shadow_timeout: float | None = None  # seconds to wait for the shadow run's passages

    def __post_init__(self) -> None:
        object.__setattr__(self, "feedback_db", Path(self.feedback_db))
        object.__setattr__(self, "models_dir", Path(self.models_dir))
        if self.base_data is not None:
            object.__setattr__(self, "base_data", Path(self.base_data))
        for name in ("gate_margin", "feedback_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if self.gate_margin < 0:
            raise ValueError(f"gate_margin must be at least 0, got {self.gate_margin!r}")
        if self.feedback_weight <= 0:
            raise ValueError(f"feedback_weight must be above 0, got {self.feedback_weight!r}")
        if isinstance(self.cv, bool) or not isinstance(self.cv, int) or self.cv < 2:
            raise ValueError(f"cv must be a whole number of at least 2, got {self.cv!r}")
        if isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, int) or self.n_jobs < 1:
            raise ValueError(f"n_jobs must be a whole number of at least 1, got {self.n_jobs!r}")
        folds = self.crossfit_folds
        if isinstance(folds, bool) or not isinstance(folds, int) or folds < 0 or folds == 1:
            raise ValueError(f"crossfit_folds must be 0 (off) or a whole number of at least 2, got {folds!r}")
        labels = self.source_threshold_labels
        if labels is not None and (isinstance(labels, bool) or not isinstance(labels, int) or labels < 0):
            raise ValueError(f"source_threshold_labels must be a whole number >= 0, got {labels!r}")
        passages = self.shadow_passages
        if isinstance(passages, bool) or not isinstance(passages, int) or passages < 0:
            raise ValueError(f"shadow_passages must be a whole number >= 0, got {passages!r}")
        if self.shadow_file is not None:
            object.__setattr__(self, "shadow_file", Path(self.shadow_file))
        if passages and None in (self.shadow_file, self.shadow_share, self.shadow_timeout):
            raise ValueError("shadow_passages needs shadow_file, shadow_share and shadow_timeout")

    def to_json(self) -> dict:
        """The settings as JSON values (paths as strings), to cross a process boundary."""
        return {key: str(value) if isinstance(value, Path) else value for key, value in asdict(self).items()}

    @classmethod
    def from_json(cls, values: dict) -> RetrainSettings:
        """The settings from `to_json`'s output; unknown or missing keys raise `ValueError` naming them."""
        names = set(cls.__dataclass_fields__)
        optional = {"threshold_weight", "crossfit_folds", "source_threshold_labels", "shadow_passages",
                    "shadow_rate_jump", "shadow_file", "shadow_share", "shadow_timeout"}  # fmt: skip
        unknown, missing = sorted(set(values) - names), sorted(names - set(values) - optional)
        if unknown or missing:
            raise ValueError(f"retrain settings: unknown {unknown}, missing {missing}")
        return cls(**values)


class RetrainReport(Protocol):
    """What a retrain tells its caller while it runs."""

    def progress(self, message: str) -> None:
        """A step in words."""

    def feedback_read(self, rows: int) -> None:
        """The feedback rows read from the store."""

    def candidate_written(self, version: str) -> None:
        """The candidate version written (not current)."""

    def shadow(self, candidate: str, current: str, labels: list[str], settings: RetrainSettings) -> dict:
        """Shadow `candidate` beside the served `current` on `settings.shadow_passages` live passages; returns
        the comparison (``GET /v1/shadow``'s answer, with ``complete``: whether it scored them all)."""


@dataclass(frozen=True)
class RetrainOutcome:
    """The end of a retrain that ran to a verdict."""

    feedback_rows: int
    candidate_version: str
    promoted: bool
    metrics: dict
    verdict: dict


def shadow_refusal(comparison: dict, settings: RetrainSettings) -> str | None:
    """Why a shadow comparison refuses promotion, or None: the run did not finish, or a label's shadow alert
    rate exceeds the served version's by more than `shadow_rate_jump` times (a rate from 0 counts as a jump)."""
    if not comparison.get("complete"):
        return (
            f"the shadow run scored {comparison.get('passages', 0)} of {settings.shadow_passages} passages "
            f"({comparison.get('reason', 'it did not finish')})"
        )
    jump = settings.shadow_rate_jump
    if not jump:
        return None
    for label, entry in (comparison.get("labels") or {}).items():
        live, shadow = entry.get("current_alert_rate") or 0.0, entry.get("shadow_alert_rate") or 0.0
        if shadow > jump * live or (live == 0 and shadow > 0):
            return (
                f"in the shadow run {label}'s alert rate jumped from {live:.4f} to {shadow:.4f} "
                f"(more than {jump:g} times; HTA_GATE_SHADOW_RATE_JUMP)"
            )
    return None


def same_training_data(candidate: dict, current: dict) -> bool:
    """Whether the candidate (manifest) learned from exactly the data the current version did."""
    cand, cur = candidate.get("added_rows", {}), current.get("added_rows")
    if cur is None:  # stored before the gate recorded its inputs: compare the data's combined hash
        return cand.get("rows", 0) == 0 and cand.get("base_sha256") == current["training_data"]["sha256"]
    if (cand.get("base_sha256"), cand.get("sha256")) != (cur.get("base_sha256"), cur.get("sha256")):
        return False
    return not cand.get("rows") or cand.get("weight") == cur.get("weight")  # without added rows no weight applies


def _current_held_out(settings: RetrainSettings, dataset, report: RetrainReport, pointer):
    """(name, manifest, held-out scorer) of the current version, or (None, None, None) when there is none."""
    from classifier.artifacts import read_manifest
    from classifier.versions import resolve_version_dir
    from training.holdout_model import load_holdout_scorer, refit_holdout_model

    name = pointer.current()
    if not name:
        return None, None, None
    current_dir = resolve_version_dir(settings.models_dir, name)  # verified like any version that is served
    manifest = read_manifest(current_dir)
    scorer: LinearScorer | None = load_holdout_scorer(current_dir, manifest)
    if scorer is None:
        report.progress(f"{name} has no stored held-out model: refitting its parameters on the base data")
        scorer = refit_holdout_model(manifest, dataset)
    return name, manifest, scorer


def served_scores(scorer: LinearScorer, manifest: dict, rows):
    """A version's probabilities on a gate row set and the thresholds it serves them with (the row's
    source's, else its language's, else the global ones), as a `training.promotion.Scored`."""
    from classifier.served_thresholds import threshold_matrix
    from training.promotion import Scored

    P = scorer.predict_proba(rows.texts)
    T = threshold_matrix(list(scorer.labels), scorer.thresholds, manifest.get("thresholds_by_language") or {},
                         manifest.get("thresholds_by_source") or {}, rows.langs, rows.sources)  # fmt: skip
    return Scored(P, T)


def unseen_feedback(dataset, rows: np.ndarray, current: dict | None) -> np.ndarray:
    """The feedback rows (indices into `dataset`) the current version's shipped model did not train on,
    by the digests its manifest lists; a version that lists none trained on none, unless it says it had
    added rows (stored before the digests were): then every row counts, which only favours the current model."""
    from training.sources import row_digest

    seen = set(((current or {}).get("added_rows") or {}).get("row_digests") or ())
    examples = dataset.examples
    return np.array([i for i in rows.tolist() if row_digest(examples[i].text, examples[i].labels) not in seen],
                    dtype=int)  # fmt: skip


def run_retrain(settings: RetrainSettings, report: RetrainReport, feedback=None, pointer=None) -> RetrainOutcome:
    """Read the feedback, train, gate and publish (see the module docstring); returns the outcome.

    `feedback` is the resolved feedback (`training.feedback.FeedbackView`) when the caller read it from its
    store (the service's job, either engine); None reads the SQLite file `settings.feedback_db`. `pointer`
    (a `classifier.versions.VersionPointer`) says which version is current and makes the candidate current;
    None: the models directory's CURRENT and HISTORY files.

    Raises what fails (`training.feedback.FeedbackError`, `classifier.records.RecordError`,
    `classifier.artifacts.ArtifactError`, `OSError`, ...): nothing is then made current.
    """
    from classifier.artifacts import load_scorer, read_manifest
    from classifier.config import CORPUS_PATH
    from classifier.versions import FilePointer, resolve_version_dir
    from training.data import load_dataset
    from training.feedback import read_feedback_view
    from training.holdout_model import load_holdout_scorer
    from training.promotion import RowSet, Scored, compare, gate_rows
    from training.train import train_model

    pointer = pointer or FilePointer(settings.models_dir)
    view = feedback if feedback is not None else read_feedback_view(settings.feedback_db)
    records = view.records
    report.feedback_read(len(records))
    report.progress(f"read {view.rows} feedback rows: {len(records)} passages to learn from, {len(view.held_back)} "
                    "held back (annotators disagree, not adjudicated)")  # fmt: skip
    base = settings.base_data or CORPUS_PATH
    dataset = load_dataset(base, extra_records=("feedback", records))
    version_dir = train_model(
        dataset=dataset,
        models_dir=settings.models_dir,
        extra_weight=settings.feedback_weight,
        threshold_weight=settings.threshold_weight,
        cv=settings.cv,
        make_current=False,
        progress=report.progress,
        n_jobs=settings.n_jobs,
        crossfit_folds=settings.crossfit_folds,
        source_threshold_labels=settings.source_threshold_labels,
        crossfit_sink=(sink := {}),
    )
    candidate = read_manifest(version_dir)
    report.candidate_written(candidate["version"])
    current_name, current, current_scorer = _current_held_out(settings, dataset, report, pointer)
    candidate_scorer = load_holdout_scorer(version_dir, candidate)
    base_rows, feedback_rows = gate_rows(dataset)
    judged = "held-out"
    if sink:  # cross-fitted: the feedback the current model never saw, the candidate's out-of-fold decisions
        judged = "cross-fitted"
        keep = unseen_feedback(dataset, sink["rows"], current)
        at = np.searchsorted(sink["rows"], keep)
        feedback_rows = RowSet.of(dataset, keep, "feedback rows the current model never trained on")
        candidate_scores = Scored(sink["P"][at], sink["thresholds"][at])
        current_scores = None
        if current_scorer is not None:
            shipped, _ = load_scorer(resolve_version_dir(settings.models_dir, current_name))
            current_scores = served_scores(shipped, current, feedback_rows)
    else:
        candidate_scores = served_scores(candidate_scorer, candidate, feedback_rows) if len(feedback_rows) else None
        current_scores = (
            served_scores(current_scorer, current, feedback_rows)
            if current_scorer is not None and len(feedback_rows)
            else None
        )
    report.progress(f"gate: scoring both models on {len(base_rows)} base held-out rows and {len(feedback_rows)} "
                    f"{judged} feedback rows")  # fmt: skip
    metrics, verdict = compare(
        current_scorer,
        candidate_scorer,
        base_rows,
        feedback_rows,
        learned_something_new=current is None or not same_training_data(candidate, current),
        margin=settings.gate_margin,
        feedback_scores=(current_scores, candidate_scores),
        feedback_judged=judged,
    )
    verdict["compared_with"] = current_name
    verdict["feedback_weight"] = settings.feedback_weight
    # Passages whose annotators disagree and that no adjudicator resolved: not learned from (training.feedback).
    verdict["held_back_disagreements"] = len(view.held_back)
    if verdict["promote"] and settings.shadow_passages:
        report.progress(f"shadow: scoring {settings.shadow_passages} live passages with {candidate['version']} "
                        f"beside {current_name}")  # fmt: skip
        if current is None or list(current["labels"]) != list(candidate["labels"]):
            comparison = {"complete": False, "passages": 0, "reason": "no served version with the same labels"}
        else:
            comparison = report.shadow(candidate["version"], current_name, list(candidate["labels"]), settings)
        verdict["shadow"] = comparison
        refusal = shadow_refusal(comparison, settings)
        if refusal:
            verdict.update(promote=False, decision=f"rejected: {refusal}")
    if verdict["promote"]:
        pointer.set_current(candidate["version"], chosen_by="gate")
        report.progress(f"promoted {candidate['version']} (was {current_name})")
    else:
        report.progress(f"kept {current_name}; {verdict['decision']}")
    return RetrainOutcome(len(records), candidate["version"], bool(verdict["promote"]), metrics, verdict)
