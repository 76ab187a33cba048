"""Train a model version end to end: validate data, cross-validate, tune thresholds, evaluate, publish.

Steps: load and validate the data; hold out the fixed grouped 20% split of the base data, and the
feedback held-out set of the rows added from `extra_data` (the feedback documents that hash into it);
on the other rows, optionally search hyperparameters, then take out-of-fold probabilities of grouped
K-fold CV (base rows folded as without the added rows) and choose each label's threshold on them; fit
the held-out model on those rows and score both held-out sets (the honest estimates stored in the
manifest; the model itself is stored for the promotion gate); fit the shipped model on all rows; write
the version atomically and, unless told not to, make it current. Added rows carry the sample weight
`extra_weight` in every fit and in the threshold choice. A failure at any step leaves `models/` as it was.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from classifier.artifacts import MODEL_CARD_FILE, REPORT_FILES, VersionWriter, library_versions
from classifier.config import CORPUS_PATH, setting
from classifier.config import models_dir as default_models_dir
from classifier.estimator import AlertClassifier
from classifier.served_thresholds import threshold_matrix
from classifier.versions import check_writable, set_current
from training.data import DEFAULT_MIN_LABEL_COUNT, Dataset, load_dataset
from training.languages import (
    language_table,
    language_thresholds,
    metrics_by_language,
    supported_languages,
)
from training.metrics import compute_metrics
from training.model_card import render_model_card
from training.reference import REFERENCE_KEY, score_reference
from training.report import write_plots
from training.search import grid_search
from training.sources import row_digest, source_thresholds, thresholds_only
from training.splits import (
    crossfit_fold_of,
    feedback_holdout_mask,
    holdout_mask,
    out_of_fold_proba,
    stable_folds,
    stderr_progress,
)
from training.thresholds import choose_thresholds

DEFAULT_PARAMS = {"word_ngram_range": (1, 2), "char_ngram_range": (2, 5), "char_features": 1500, "min_df": 2, "C": 10.0}


def new_version_name(data_sha256: str, now: datetime | None = None) -> str:
    """A sortable, unique-enough version name: UTC time plus the start of the data hash."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}Z-{data_sha256[:8]}"


def train_model(
    data_path: Path | str | None = None,
    *,
    models_dir: Path | str | None = None,
    extra_data: list[Path] | None = None,
    labels: list[str] | None = None,
    cv: int = 5,
    search: bool = False,
    min_recall: dict[str, float] | None = None,
    params: dict | None = None,
    make_current: bool = True,
    version: str | None = None,
    min_label_count: int = DEFAULT_MIN_LABEL_COUNT,
    unsure_rows: str = "drop",
    extra_weight: float = 1.0,
    threshold_weight: float | str | None = None,
    feedback_holdout: bool = True,
    n_jobs: int = 2,
    min_language_rows: int | None = None,
    plots: bool = True,
    progress: Callable[[str], None] | None = stderr_progress,
    dataset: Dataset | None = None,
    crossfit_folds: int = 0,
    source_threshold_labels: int | None = None,
    crossfit_sink: dict | None = None,
) -> Path:
    """Train, evaluate and publish a model version; returns its directory.

    `data_path` defaults to the bundled corpus; `extra_data` files (e.g. exported feedback) are added
    to it. A `dataset` already loaded (`training.data.load_dataset`) is trained on instead, and the data
    arguments (`data_path`, `extra_data`, `labels`, `min_label_count`) are not read.
    `plots=False` leaves out the held-out plots of ``report/`` (matplotlib costs seconds).
    `min_recall` maps labels to recall targets (other labels: best-F1 thresholds).
    `unsure_rows="drop"` leaves rows flagged `unsure` out of every fit (they still count in every
    evaluation): on the bundled corpus that raised leave-one-source-out macro-F1 from 0.551 to 0.572
    and left grouped CV unchanged (0.697 against 0.699); `"keep"` trains on them too.
    `extra_weight` (a positive number) is each added row's sample weight in every fit (the logistic loss
    and the balanced class weights; corpus rows weigh 1) and in the threshold choice; the TF-IDF
    statistics see every row once. With `feedback_holdout`, added rows whose document hashes into the feedback
    held-out set (`training.splits.feedback_holdout_mask`) stay out of the cross-validation and the
    held-out model, which scores them (`metrics.feedback_holdout`); the shipped model trains on them.
    `min_language_rows` (default `HTA_MIN_LANGUAGE_ROWS`) is how many rows a language needs to be supported;
    supported languages with enough positives get thresholds of their own (`training.languages`).
    `threshold_weight` is the added rows' weight in the threshold choice alone: None (the default) uses
    `extra_weight`; a number > 0; or "balanced", where the added rows together weigh as much as the base
    development rows (measured worse than the default by bench/feedback_simulation.py; kept to rerun it).
    `crossfit_folds` k >= 2 replaces the feedback held-out share by cross-fitting: no added row is held
    out; k models, each fit on every trusted base row and the added rows of k - 1 folds of the added
    documents, score the added rows of the remaining fold. Those predictions tune the per-source thresholds
    and, decided with thresholds chosen without their fold (nested, as they will be served), give
    `metrics.feedback_crossfit`; `crossfit_sink` (a dict) receives them for the promotion gate.
    `source_threshold_labels` (default `HTA_SOURCE_THRESHOLD_LABELS`; 0: off) is how many positives of a
    label a named source's added rows need for that source's own threshold (`training.sources`), tuned on
    those rows' cross-validated predictions and stored as ``thresholds_by_source``.
    """
    if (
        threshold_weight is not None
        and threshold_weight != "balanced"
        and not (isinstance(threshold_weight, int | float) and math.isfinite(threshold_weight) and threshold_weight > 0)
    ):
        raise ValueError(f"threshold_weight must be None, 'balanced' or a positive number, got {threshold_weight!r}")
    if (
        isinstance(extra_weight, bool)
        or not isinstance(extra_weight, int | float)
        or not (math.isfinite(extra_weight) and extra_weight > 0)
    ):
        raise ValueError(f"extra_weight must be a positive number, got {extra_weight!r}")
    if unsure_rows not in ("drop", "keep"):
        raise ValueError(f"unsure_rows must be 'drop' or 'keep', got {unsure_rows!r}")
    if (
        isinstance(crossfit_folds, bool)
        or not isinstance(crossfit_folds, int)
        or crossfit_folds < 0
        or (crossfit_folds == 1)
    ):
        raise ValueError(f"crossfit_folds must be 0 (off) or a whole number of at least 2, got {crossfit_folds!r}")
    if source_threshold_labels is None:
        source_threshold_labels = setting("SOURCE_THRESHOLD_LABELS")
    if (
        isinstance(source_threshold_labels, bool)
        or not isinstance(source_threshold_labels, int)
        or source_threshold_labels < 0
    ):
        raise ValueError(f"source_threshold_labels must be a whole number >= 0, got {source_threshold_labels!r}")
    say = progress or (lambda message: None)
    started = time.perf_counter()
    if min_language_rows is None:
        min_language_rows = setting("MIN_LANGUAGE_ROWS")
    if isinstance(min_language_rows, bool) or not isinstance(min_language_rows, int) or min_language_rows < 1:
        raise ValueError(f"min_language_rows must be a whole number of at least 1, got {min_language_rows!r}")
    models_dir = Path(models_dir or default_models_dir())
    if make_current:
        check_writable(models_dir)  # before training, not after
    if dataset is None:
        dataset = load_dataset(Path(data_path or CORPUS_PATH), labels=labels, min_label_count=min_label_count,
                               extra=extra_data)  # fmt: skip
    texts, Y, groups, labels = dataset.texts, dataset.Y, dataset.groups, dataset.labels
    trains = ~dataset.unsure if unsure_rows == "drop" else np.ones(len(texts), dtype=bool)
    say(f"data: {len(texts)} rows, {len(set(groups))} documents, labels {labels}; {int((~trains).sum())} unsure "
        "rows kept out of training")  # fmt: skip
    langs = dataset.langs
    languages = language_table(langs, Y, labels, min_language_rows)
    supported = supported_languages(languages)
    rows_per_language = ", ".join(f"{code} {entry['rows']}" for code, entry in languages.items())
    say(f"languages: {rows_per_language}; supported (at least {min_language_rows} rows): "
        f"{', '.join(supported) or 'none'}")  # fmt: skip
    for disagreement in dataset.lang_disagreements[:5]:
        say(f"warning: {disagreement}")
    if len(dataset.lang_disagreements) > 5:
        say(f"warning: {len(dataset.lang_disagreements) - 5} more rows whose 'lang' the identifier contradicts")

    # The base data's fixed held-out split judges every version on the same rows; added rows (feedback)
    # have their own held-out set, the documents that hash into it (see `training.splits`).
    added = dataset.added
    sources = dataset.sources
    crossfit = bool(crossfit_folds) and bool(added.any())
    held = holdout_mask(groups) & ~added
    feedback_held = (
        feedback_holdout_mask(groups) & added if feedback_holdout and not crossfit else np.zeros(len(texts), dtype=bool)
    )
    dev = np.flatnonzero(~held & ~feedback_held)
    dev_texts, dev_Y, dev_groups = [texts[i] for i in dev], Y[dev], groups[dev]
    if not held.any() or not dev.size:
        raise ValueError("too few documents to hold out a split: need more distinct documents/groups")
    # Each added row's sample weight; None (every row 1) keeps the plain fit of a corpus-only model.
    weight = np.where(added, float(extra_weight), 1.0)

    def weights_of(rows: np.ndarray) -> np.ndarray | None:
        return weight[rows] if (weight[rows] != 1.0).any() else None

    # Folds are made on all rows (so every row gets an out-of-fold score); only trusted rows train.
    dev_trains, dev_weight = trains[dev], weight[dev]
    folds = [(train[dev_trains[train]], test) for train, test in stable_folds(dev_Y, dev_groups, ~added[dev], cv)]
    fold_weight = dev_weight if (dev_weight != 1.0).any() else None

    chosen = {**DEFAULT_PARAMS, **(params or {})}
    search_results = None
    if search:
        say(f"search: {cv}-fold grouped CV per candidate on {len(dev)} development rows")
        best, search_results = grid_search(AlertClassifier(**chosen), dev_texts, dev_Y, labels, folds,
                                           n_jobs=n_jobs, progress=say, sample_weight=fold_weight)  # fmt: skip
        chosen.update(best)
        say(f"search: best {best}")
    estimator = AlertClassifier(**chosen)

    oof = out_of_fold_proba(estimator, dev_texts, dev_Y, labels, folds, n_jobs=n_jobs, progress=say,
                            sample_weight=fold_weight)  # fmt: skip
    dev_added = added[dev]
    if threshold_weight is None:
        threshold_rows_weight = dev_weight
    elif threshold_weight == "balanced" and dev_added.any():
        threshold_rows_weight = np.where(dev_added, (~dev_added).sum() / dev_added.sum(), 1.0)
    else:
        threshold_rows_weight = np.where(dev_added, float(threshold_weight), 1.0)
    policy = choose_thresholds(dev_Y, oof, labels, min_recall or {}, sample_weight=threshold_rows_weight)
    thresholds = np.array([policy[label]["threshold"] for label in labels])
    dev_langs = langs[dev]
    language_policy = language_thresholds(dev_Y, oof, dev_langs, labels, supported, min_recall or {},
                                          sample_weight=threshold_rows_weight)  # fmt: skip
    by_language = {
        code: {label: p["threshold"] for label, p in chosen.items()} for code, chosen in language_policy.items()
    }
    dev_thresholds = threshold_matrix(labels, thresholds, by_language, {}, dev_langs)
    cv_metrics = compute_metrics(dev_Y, oof, dev_thresholds, labels)

    # Predictions of the added rows by models that did not see their document: cross-fitted (every base row
    # plus the other folds' added rows) or, without cross-fitting, the CV's out-of-fold scores of the added
    # development rows. Per-source thresholds are tuned on them.
    fb_rows, fb_P, fb_fold = np.flatnonzero(added & ~feedback_held), None, None
    if crossfit:
        fb_fold = crossfit_fold_of(groups[fb_rows], crossfit_folds)
        fit_base = np.flatnonzero(trains & ~added)
        pool = np.concatenate([fit_base, fb_rows])
        at = np.arange(len(fit_base), len(pool))  # the added rows' positions in `pool`
        cf_folds = [
            (np.concatenate([np.arange(len(fit_base)), at[(fb_fold != k) & trains[fb_rows]]]), at[fb_fold == k])
            for k in range(crossfit_folds)
            if (fb_fold == k).any()
        ]
        say(f"cross-fitting: {len(cf_folds)} folds over {len(set(groups[fb_rows]))} feedback documents")
        pool_P = out_of_fold_proba(estimator, [texts[i] for i in pool], Y[pool], labels, cf_folds, n_jobs=n_jobs,
                                   progress=say, desc="cross-fitting", sample_weight=weight[pool])  # fmt: skip
        fb_P = pool_P[at]
    elif fb_rows.size:
        position = {row: i for i, row in enumerate(dev.tolist())}
        fb_P = oof[[position[row] for row in fb_rows.tolist()]]
    source_policy = (
        source_thresholds(Y[fb_rows], fb_P, sources[fb_rows], labels, source_threshold_labels, min_recall)
        if fb_P is not None
        else {}
    )
    by_source = thresholds_only(source_policy)
    if by_source:
        say("per-source thresholds: " + "; ".join(
            f"{name} {', '.join(f'{label} {t:.3f}' for label, t in own.items())}" for name, own in by_source.items()
        ))  # fmt: skip
    cv_by_language = metrics_by_language(dev_Y, oof, dev_thresholds, dev_langs, labels, min_language_rows)

    if crossfit:
        # Each fold's added rows decided with thresholds chosen without them (global, language and source
        # alike), as the shipped model's will be on new text: the gate judges these decisions.
        nested = np.zeros((len(fb_rows), len(labels)))
        dev_fold = np.full(len(dev), -1)
        dev_position = {row: i for i, row in enumerate(dev.tolist())}
        dev_fold[[dev_position[row] for row in fb_rows.tolist()]] = fb_fold
        for k in sorted(set(fb_fold.tolist())):
            keep = dev_fold != k
            kept_weight = threshold_rows_weight[keep] if threshold_rows_weight is not None else None
            k_policy = choose_thresholds(dev_Y[keep], oof[keep], labels, min_recall or {}, sample_weight=kept_weight)
            k_global = np.array([k_policy[label]["threshold"] for label in labels])
            k_language = language_thresholds(dev_Y[keep], oof[keep], dev_langs[keep], labels, supported,
                                             min_recall or {}, sample_weight=kept_weight)  # fmt: skip
            k_by_language = {code: {lb: p["threshold"] for lb, p in own.items()} for code, own in k_language.items()}
            others = fb_fold != k
            k_by_source = thresholds_only(source_thresholds(
                Y[fb_rows[others]], fb_P[others], sources[fb_rows[others]], labels, source_threshold_labels, min_recall
            ))  # fmt: skip
            mine = fb_fold == k
            nested[mine] = threshold_matrix(labels, k_global, k_by_language, k_by_source, langs[fb_rows[mine]],
                                            sources[fb_rows[mine]])  # fmt: skip
        crossfit_metrics = compute_metrics(Y[fb_rows], fb_P, nested, labels)
        if crossfit_sink is not None:
            crossfit_sink.update({"rows": fb_rows, "P": fb_P, "thresholds": nested, "folds": crossfit_folds})

    fit_dev = dev[dev_trains]
    say(f"held-out: fitting on {len(fit_dev)} rows, scoring {int(held.sum())} (+{int(feedback_held.sum())} feedback)")
    dev_model = estimator.fit([texts[i] for i in fit_dev], Y[fit_dev], labels=labels, sample_weight=weights_of(fit_dev))
    dev_model.set_thresholds(thresholds)
    held_idx = np.flatnonzero(held)
    held_P = dev_model.predict_proba([texts[i] for i in held_idx])
    held_thresholds = threshold_matrix(labels, thresholds, by_language, {}, langs[held_idx])
    holdout_metrics = compute_metrics(Y[held_idx], held_P, held_thresholds, labels)
    held_read = np.isin(langs[held_idx], list(supported))  # the service scores no passage in another language
    reference = score_reference(held_P[held_read], held_thresholds[held_read], labels,
                                "held-out split, scored by the held-out model")  # fmt: skip
    metrics = {
        "holdout": holdout_metrics,
        "cross_validation": cv_metrics,
        # per language with enough rows overall; a language's held-out share is a fifth of its documents
        "cross_validation_by_language": cv_by_language,
        "holdout_by_language": metrics_by_language(
            Y[held_idx], held_P, held_thresholds, langs[held_idx], labels, min_language_rows // 5
        ),
    }
    if feedback_held.any():
        fb_idx = np.flatnonzero(feedback_held)
        fb_thresholds = threshold_matrix(labels, thresholds, by_language, by_source, langs[fb_idx], sources[fb_idx])
        metrics["feedback_holdout"] = compute_metrics(Y[fb_idx], dev_model.predict_proba([texts[i] for i in fb_idx]),
                                                      fb_thresholds, labels)  # fmt: skip
    if crossfit:
        metrics["feedback_crossfit"] = crossfit_metrics

    # The shipped model learns from every row, held-out ones included, once the figures are taken.
    fit_all = np.flatnonzero(trains)
    say(f"final: fitting on {len(fit_all)} rows")
    final = AlertClassifier(**chosen).fit([texts[i] for i in fit_all], Y[fit_all], labels=labels,
                                          sample_weight=weights_of(fit_all))  # fmt: skip
    final.set_thresholds(thresholds)
    version = version or new_version_name(dataset.sha256)
    manifest = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "labels": labels,
        "thresholds": {label: round(float(t), 6) for label, t in zip(labels, thresholds, strict=True)},
        "threshold_policy": policy,
        "languages": languages,
        "supported_languages": supported,
        "min_language_rows": min_language_rows,
        # unrounded: these decide, like the global thresholds stored in the scorer
        "thresholds_by_language": {
            code: {label: float(t) for label, t in chosen.items()} for code, chosen in by_language.items()
        },
        "threshold_policy_by_language": language_policy,
        # a named source's own thresholds, tuned on its feedback's cross-validated predictions (unrounded)
        "thresholds_by_source": by_source,
        "threshold_policy_by_source": source_policy,
        "source_threshold_labels": source_threshold_labels,
        "feedback_evaluation": (
            {"mode": "crossfit", "folds": crossfit_folds}
            if crossfit
            else {"mode": "holdout" if feedback_held.any() else "none", "folds": 0}
        ),
        "metrics": metrics,
        # the drift monitor's expected score distribution and alert rate per label (training.reference)
        REFERENCE_KEY: reference,
        "training_data": dataset.summary(),
        "added_rows": {
            "rows": int(added.sum()),
            "held_out": int(feedback_held.sum()),
            "weight": extra_weight,
            "sha256": dataset.extra_sha256,
            "base_sha256": dataset.base_sha256,
            # which added rows the shipped model trained on (text and labels): a later gate judges it only on
            # feedback it never saw
            "row_digests": sorted({row_digest(texts[i], dataset.examples[i].labels) for i in np.flatnonzero(added)}),
        },
        "cv_folds": cv,
        "unsure_rows": {"policy": unsure_rows, "left_out_of_training": int((~trains).sum())},
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in chosen.items()},
        "search": search_results,
        "training_seconds": None,
        "versions": library_versions(),
    }
    with VersionWriter(models_dir, version) as writer:
        writer.write_model(final)
        writer.write_holdout_scorer(dev_model)
        if plots:  # the held-out split's PR curves and confusion matrices, CV's P/R/F1 by language (matplotlib)
            report_dir = writer.path(REPORT_FILES[0]).parent
            write_plots(Y[held_idx], held_P, thresholds, labels, report_dir, f"held-out split, {version}",
                        cv_by_language, f"{cv}-fold grouped cross-validation, {version}")  # fmt: skip
        manifest["training_seconds"] = round(time.perf_counter() - started, 1)
        writer.write_text(MODEL_CARD_FILE, render_model_card({"version": version, **manifest}))
        version_dir = writer.commit(manifest)
    if make_current:
        set_current(models_dir, version, chosen_by="training")
    say(f"model {version} written to {version_dir}{' and made current' if make_current else ''}")
    return version_dir
