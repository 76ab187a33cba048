"""The model card: a markdown page stored with every model version."""

from __future__ import annotations

from training.metrics import format_number

KNOWN_LIMITS = """\
- Languages: English, German and Ukrainian (the corpus's rows in each); passages in any other language
  (Russian among them: 11 rows) are flagged unsupported and not scored. German and Ukrainian come from one
  source each (Bundestag debates; the President of Ukraine's addresses of spring 2022), with few sabotage
  rows (13 and 7): their sabotage scores are the least reliable of all.
- Trained on sentences from official statements (Ukraine, Russia, US), Wikipedia current events, EU
  sanctions listings and DISARM incident summaries, 2021-2025. Other genres (social media, long
  investigative articles) and later events will score less reliably.
- The corpus was sampled for topic terms and then for uncertain cases, so label shares are higher and
  cases harder than in raw news; precision on ordinary text can differ from the figures above.
- Few sabotage examples: its scores are the least stable and lean on words like "sabotage", "arson",
  "cable", "explosion"; figurative uses ("sabotaging the talks") can still fire.
- A bag of n-grams: no negation or attribution scope ("X denied any sabotage" still looks like sabotage),
  no context beyond the passage.
- Rows that annotators flagged `unsure` (where label noise concentrates) are left out of training by default:
  the model leans away from the edge cases they hesitated on (espionage arrests, drones over bases, bare
  thanks), which the guidelines settle one way but the model may not flag.
- Thresholds were tuned for best F1 (unless stated) on out-of-fold predictions; change them for another
  precision/recall balance with `--min-recall`.
"""


GENERIC_LIMITS = """\
- Trained on {data} only: the figures below hold for text like it; other genres, sources and later
  events will score less reliably. Check the held-out figures of each label before relying on it.
- A bag of n-grams: no negation or attribution scope, no context beyond the passage.
- Labels with few examples have the least stable scores.
- Thresholds were tuned for best F1 (unless stated) on out-of-fold predictions; change them for another
  precision/recall balance with `--min-recall`.
"""
BUNDLED_CORPUS = "data/corpus/corpus.jsonl"


def _is_bundled(manifest: dict) -> bool:
    """Whether the version was trained on the bundled corpus and its three labels (which the fixed text describes)."""
    from classifier.config import DEFAULT_LABELS

    return list(manifest["labels"]) == list(DEFAULT_LABELS) and manifest["training_data"]["path"] == BUNDLED_CORPUS


def _intended_use(manifest: dict) -> str:
    if _is_bundled(manifest):
        return (
            "Flag passages of news, speeches and official statements that warn of hybrid threats, mention "
            "sabotage, or state support, for analysts who then read the passage and its evidence terms. "
            "It is a triage aid, not a judge: every alert is meant to be checked by a person."
        )
    return (
        f"Flag passages with the labels {', '.join(f'`{label}`' for label in manifest['labels'])}, as the "
        f"annotators of `{manifest['training_data']['path']}` defined them, for people who then read the passage "
        "and its evidence terms. It is a triage aid, not a judge: every alert is meant to be checked by a person."
    )


def _added_rows(manifest: dict) -> str:
    added = manifest.get("added_rows") or {}
    if not added.get("rows"):
        return ""
    return (
        f" Of these, {added['rows']} rows were added to the base data (feedback), each with the sample weight "
        f"{added['weight']:g} in training (corpus rows: 1); {added['held_out']} of them, whose documents hash into "
        "the feedback held-out set, were kept out of the held-out model to judge it."
    )


def _feedback_holdout(metrics: dict) -> str:
    if not metrics.get("feedback_holdout"):
        return ""
    return (
        f"**Feedback held-out set** ({metrics['feedback_holdout']['rows']} added rows whose documents hash into "
        "the feedback held-out share), scored by the same model:\n\n"
        f"{metrics_table(metrics['feedback_holdout'])}\n\n"
    )


def metrics_table(metrics: dict) -> str:
    """A markdown table of `training.metrics.compute_metrics` output."""
    rows = ["| label | precision | recall | F1 | support | avg precision |", "|---|---|---|---|---|---|"]
    for label, m in metrics["labels"].items():
        rows.append(
            f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} | "
            f"{format_number(m['average_precision'])} |"
        )
    for average in ("micro", "macro"):
        m = metrics[average]
        rows.append(f"| *{average} average* | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | | |")
    return "\n".join(rows)


def _unsure_policy(manifest: dict) -> str:
    policy = manifest.get("unsure_rows", {"policy": "keep"})
    if policy["policy"] == "drop":
        return f"{policy['left_out_of_training']} left out of training, kept in every evaluation"
    return "kept in training"


def _languages(manifest: dict) -> str:
    """The languages section: rows and support per language, and per-language figures."""
    languages = manifest.get("languages")
    if not languages:
        return "## Languages\nNot recorded (a version trained before languages were): English only."
    minimum = manifest.get("min_language_rows")
    rows = ["| language | rows | " + " | ".join(manifest["labels"]) + " | supported |",
            "|---|---|" + "---|" * len(manifest["labels"]) + "---|"]  # fmt: skip
    for code, entry in languages.items():
        counts = " | ".join(str(entry["label_counts"].get(label, 0)) for label in manifest["labels"])
        rows.append(f"| {code} | {entry['rows']} | {counts} | {'yes' if entry['supported'] else 'no'} |")
    parts = [
        f"## Languages\nA language is supported with at least {minimum} training rows; passages in other "
        "languages are flagged and not scored (unless the operator sets HTA_SCORE_UNSUPPORTED).\n\n" + "\n".join(rows)
    ]
    own = manifest.get("thresholds_by_language") or {}
    if own:
        parts.append(
            "Languages with thresholds of their own (labels with enough positives): "
            + "; ".join(
                f"{code}: " + ", ".join(f"{label} {t:.3f}" for label, t in ts.items()) for code, ts in own.items()
            )
            + "."
        )
    metrics = manifest["metrics"]
    for key, title in (("cross_validation_by_language", "Grouped cross-validation"),
                       ("holdout_by_language", "Held-out split")):  # fmt: skip
        for code, figures in (metrics.get(key) or {}).items():
            macro = format_number(figures.get("macro_f1_with_positives"))
            parts.append(
                f"**{title}, {code}** ({figures['rows']} rows; macro-F1 over its labels with positives {macro}):\n\n"
                + metrics_table(figures)
            )
    return "\n\n".join(parts)


def render_model_card(manifest: dict) -> str:
    """Markdown model card from a version's manifest."""
    data = manifest["training_data"]
    metrics = manifest["metrics"]
    thresholds = "\n".join(
        f"| {label} | {t['threshold']:.3f} | {t['policy']} |" for label, t in manifest["threshold_policy"].items()
    )
    counts = "\n".join(f"| {label} | {n} |" for label, n in data["label_counts"].items())
    sources = ", ".join(f"{s} ({n})" for s, n in data["sources"].items())
    params = ", ".join(f"{k}={v}" for k, v in manifest["params"].items())
    data_name = f"`{data['path']}`"
    sections = [
        f"# Model card: {'hybrid-threat alert' if _is_bundled(manifest) else 'text'} classifier, "
        f"version `{manifest['version']}`",
        f"Created {manifest['created']}. Labels: {', '.join(manifest['labels'])}.",
        f"## Intended use\n{_intended_use(manifest)}",
        "## Model\nTF-IDF of word n-grams and in-word character n-grams (sublinear tf, smooth idf, L2 rows) into "
        f"one logistic regression per label (one-vs-rest, class-balanced). Parameters: {params}.",
        f"## Training data\n`{data['path']}` (sha256 `{data['sha256'][:16]}…`): {data['rows']} rows in "
        f"{data['groups']} documents; {data['no_label']} with no label; {data['unsure']} flagged unsure "
        f"({_unsure_policy(manifest)}). "
        f"Sources: {sources}.{_added_rows(manifest)}\n\n| label | rows |\n|---|---|\n{counts}",
        "## Evaluation\nAll figures are on text the scoring model did not train on; documents never straddle "
        "a split.\n\n"
        f"**Held-out split** ({metrics['holdout']['rows']} rows: the base-data documents whose name hashes into "
        "the fixed 20% split; added data such as feedback never falls in it), scored by a model trained on the "
        "other rows with the thresholds below (the shipped model then trains on every row):\n\n"
        f"{metrics_table(metrics['holdout'])}\n\n"
        + _feedback_holdout(metrics)
        + f"**Grouped {manifest['cv_folds']}-fold cross-validation** on the other rows (out-of-fold predictions; "
        "the thresholds were chosen on these, so they are slightly optimistic):\n\n"
        f"{metrics_table(metrics['cross_validation'])}\n\n"
        "Plots: `report/pr_curves.png`, `report/confusion_matrices.png` (held-out split).",
        f"## Thresholds\n| label | threshold | policy |\n|---|---|---|\n{thresholds}",
        _languages(manifest),
        f"## Known limits\n{KNOWN_LIMITS if _is_bundled(manifest) else GENERIC_LIMITS.format(data=data_name)}",
        "## Software\n" + ", ".join(f"{k} {v}" for k, v in manifest["versions"].items()),
    ]
    return "\n\n".join(sections) + "\n"
