"""Evaluate a stored model version on a labelled file: metrics table, plots and a markdown report."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from classifier.artifacts import load_estimator
from classifier.predictor import manifest_languages
from classifier.served_thresholds import threshold_matrix
from training.data import load_dataset
from training.languages import metrics_by_language
from training.metrics import compute_metrics
from training.model_card import metrics_table, render_model_card
from training.report import write_plots

MIN_EVALUATION_LANGUAGE_ROWS = 20  # per-language figures of an evaluation file: a language with this many rows


def is_training_data(sha256: str, manifest: dict) -> bool:
    """Whether a file with this sha256 is (one of) the data the version was trained on."""
    added = manifest.get("added_rows") or {}
    known = {manifest["training_data"]["sha256"], added.get("base_sha256"), *added.get("sha256", [])}
    return sha256 in known


def evaluate_model(version_dir: Path, data_path: Path, report_dir: Path | None = None) -> tuple[dict, Path]:
    """Score `data_path` with the model in `version_dir`; write the report; return (metrics, report dir).

    A report on the model's own training data says so (REPORT.md), and so does `python -m training evaluate`.
    """
    estimator, manifest = load_estimator(Path(version_dir))
    labels = list(manifest["labels"])
    dataset = load_dataset(Path(data_path), labels=labels, min_label_count=0)
    # Judged as served: each row with its language's thresholds, and rows in a language the model does not
    # read left out (the service answers them with null alerts, not decisions).
    read = np.array([lang is None or lang in manifest_languages(manifest) for lang in dataset.langs], dtype=bool)
    Y, langs = dataset.Y[read], dataset.langs[read]
    P = estimator.predict_proba([text for text, keep in zip(dataset.texts, read, strict=True) if keep])
    global_thresholds = np.array([manifest["thresholds"][label] for label in labels])
    thresholds = threshold_matrix(labels, global_thresholds, manifest.get("thresholds_by_language") or {}, {}, langs)
    metrics = compute_metrics(Y, P, thresholds, labels)
    metrics["by_language"] = metrics_by_language(Y, P, thresholds, langs, labels, MIN_EVALUATION_LANGUAGE_ROWS)
    metrics["unread_rows"] = dict(Counter(lang for lang, keep in zip(dataset.langs, read, strict=True) if not keep))
    report_dir = Path(report_dir or Path("reports") / f"{manifest['version']}--{Path(data_path).stem}")
    write_plots(Y, P, thresholds, labels, report_dir, f"{Path(data_path).name}, {manifest['version']}",
                metrics["by_language"])  # fmt: skip
    seen = is_training_data(dataset.sha256, manifest)
    note = (
        "\n**Warning:** this is the model's own training data; these figures are training-fit figures, "
        "not an estimate of accuracy on new text.\n"
        if seen
        else ""
    )
    unread = (
        "Rows in languages the model does not read, left out (the service flags them instead of deciding): "
        + ", ".join(f"{lang} {n}" for lang, n in sorted(metrics["unread_rows"].items()))
        + ".\n\n"
        if metrics["unread_rows"]
        else ""
    )
    per_language = "".join(
        f"**{lang}** ({m['rows']} rows; macro-F1 over its labels with positives {m['macro_f1_with_positives']:.3f}):"
        f"\n\n{metrics_table(m)}\n\n"
        for lang, m in metrics["by_language"].items()
    )
    summary = dataset.summary()
    counts = ", ".join(f"{label} {n}" for label, n in summary["label_counts"].items())
    evaluation = (
        f"## Evaluation on `{data_path}`\n\n"
        f"{summary['rows']} rows in {summary['groups']} documents (sha256 `{dataset.sha256[:16]}…`); label counts: "
        f"{counts}; {summary['no_label']} with no label.\n{note}\n"
        f"{unread}{metrics_table(metrics)}\n\n{per_language}"
        "![PR curves](pr_curves.png)\n\n![Confusion matrices](confusion_matrices.png)\n"
    )
    # The report is the model's card (data, thresholds, known limits) with this evaluation added.
    (report_dir / "REPORT.md").write_text(render_model_card(manifest) + "\n" + evaluation, encoding="utf-8")
    return metrics, report_dir
