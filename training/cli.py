"""`python -m training`: train, evaluate, and maintain model versions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from classifier.artifacts import ArtifactError
from classifier.cli_options import add_deprecated_alias
from classifier.config import positive_float, setting
from classifier.records import RecordError
from training.data import DEFAULT_MIN_LABEL_COUNT


def _train(args) -> int:
    from training.thresholds import parse_min_recall
    from training.train import train_model

    if args.min_recall:
        from training.data import load_dataset

        labels = load_dataset(Path(args.data) if args.data else _corpus(), min_label_count=0).labels
        min_recall = parse_min_recall(args.min_recall, labels)
    else:
        min_recall = {}
    version_dir = train_model(
        args.data,
        models_dir=args.out,
        extra_data=[Path(p) for p in args.extra or []],
        cv=args.cv,
        search=args.search,
        min_recall=min_recall,
        make_current=not args.no_current,
        min_label_count=args.min_label_count,
        unsure_rows=args.unsure_rows,
        extra_weight=setting("FEEDBACK_WEIGHT") if args.extra_weight is None else args.extra_weight,
        n_jobs=args.processes,
        min_language_rows=args.min_language_rows,
    )
    from training.metrics import format_metrics

    manifest = json.loads((version_dir / "manifest.json").read_text())
    print(format_metrics(manifest["metrics"]["holdout"], f"held-out split ({version_dir.name}):"))
    print(f"languages supported: {', '.join(manifest['supported_languages']) or 'none'}")
    for code, figures in manifest["metrics"]["cross_validation_by_language"].items():
        print(format_metrics(figures, f"grouped cross-validation, {code} ({figures['rows']} rows):"))
    print(f"training took {manifest['training_seconds']} s")
    return 0


def _corpus() -> Path:
    from classifier.config import CORPUS_PATH

    return CORPUS_PATH


def _evaluate(args) -> int:
    from classifier.artifacts import read_manifest, sha256_file
    from classifier.config import models_dir
    from classifier.versions import resolve_version_dir
    from training.evaluate import evaluate_model, is_training_data
    from training.metrics import format_metrics

    version_dir = Path(args.model) if args.model else resolve_version_dir(models_dir())
    metrics, report_dir = evaluate_model(version_dir, Path(args.data), Path(args.report) if args.report else None)
    if is_training_data(sha256_file(Path(args.data)), read_manifest(version_dir)):
        print(
            f"warning: {args.data} is the data {version_dir.name} was trained on: these are training-fit figures, "
            "not an estimate of accuracy on new text",
            file=sys.stderr,
        )
    print(format_metrics(metrics, f"{version_dir.name} on {args.data}:"))
    for lang, by_language in metrics["by_language"].items():
        print(format_metrics(by_language, f"{lang} ({by_language['rows']} rows):"))
    if metrics["unread_rows"]:
        unread = ", ".join(f"{lang} {n}" for lang, n in sorted(metrics["unread_rows"].items()))
        print(f"left out, in languages {version_dir.name} does not read: {unread}")
    print(f"report written to {report_dir}")
    return 0


def _punkt(args) -> int:
    from classifier.config import PUNKT_DIR
    from training.data import assign_languages, read_examples
    from training.punkt import MIN_PUNKT_SENTENCES, train_per_language

    path = Path(args.data) if args.data else _corpus()
    examples = read_examples(path)
    assign_languages(examples, path)
    rows = [{"text": e.text, "doc": e.group, "lang": e.lang} for e in examples]
    for lang, sentences in train_per_language(rows, PUNKT_DIR).items():
        if sentences is None:
            print(f"{lang}: too few sentences (fewer than {MIN_PUNKT_SENTENCES}): Punkt without learned parameters")
        else:
            print(f"{lang}: Punkt parameters from {sentences} sentences written to {PUNKT_DIR / lang}")
    return 0


def _seal(args) -> int:
    from classifier.artifacts import seal_version

    added = seal_version(Path(args.version_dir))
    if added:
        print(f"{args.version_dir}: the manifest now lists {', '.join(added)}")
    else:
        print(f"{args.version_dir}: the manifest already lists every file")
    return 0


def _reference(args) -> int:
    from training.reference import write_reference

    reference = write_reference(Path(args.version_dir), Path(args.data) if args.data else None)
    rates = ", ".join(f"{label} {entry['alert_rate']:.4f}" for label, entry in reference["labels"].items())
    print(f"{args.version_dir}: score reference of {reference['rows']} held-out rows written (alert rates: {rates})")
    return 0


def _export_feedback(args) -> int:
    from training.feedback import FeedbackError, export_feedback

    try:
        view = export_feedback(Path(args.db), Path(args.out))
    except FeedbackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(view.records)} passages ({view.rows} feedback rows) written to {args.out}; "
          f"{len(view.held_back)} held back (annotators disagree, not adjudicated)")  # fmt: skip
    return 0


def _label_issues(args) -> int:
    from classifier.io import atomic_output, dumps
    from training.data import load_dataset
    from training.label_issues import screen

    if args.cv < 2 or args.top < 0 or args.to_queue < 0:
        print("error: --cv must be at least 2, --top and --to-queue at least 0", file=sys.stderr)
        return 2
    if (args.feedback or args.to_queue) and not args.db:
        print(
            "error: --feedback and --to-queue need --db (the service's SQLite file, HTA_FEEDBACK_DB)", file=sys.stderr
        )
        return 2
    extra = None
    if args.feedback:
        from training.feedback import FeedbackError, read_feedback_view

        try:
            view = read_feedback_view(Path(args.db))
        except FeedbackError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        extra = ("feedback", view.records)
        print(f"feedback: {len(view.records)} passages, {len(view.held_back)} held back (unresolved disagreements)",
              file=sys.stderr)  # fmt: skip
    data = Path(args.data) if args.data else _corpus()
    dataset = load_dataset(data, extra_records=extra, min_label_count=0)
    report = screen(dataset, cv=args.cv, n_jobs=args.processes)
    shown = report["issues"][: args.top] if args.top else report["issues"]
    with atomic_output(args.output) as handle:
        for issue in shown:
            handle.write(dumps(issue) + "\n")
    by_label = ", ".join(f"{label} {n}" for label, n in report["flagged_by_label"].items())
    print(f"{report['flagged']} of {report['rows']} rows flagged ({report['flagged_feedback']} from feedback); "
          f"label decisions contradicted: {by_label}", file=sys.stderr)  # fmt: skip
    if args.to_queue:
        from service.review.store import NewItem, QueueStore
        from service.store import Store

        Store(Path(args.db)).init()
        queue = QueueStore(Path(args.db)).init()
        picks = report["issues"][: args.to_queue]
        added = queue.add([NewItem(text=issue["text"].strip()) for issue in picks], "api", max_pending=2**62,
                          second_look=True)  # fmt: skip
        print(f"{len(added.ids)} of the top {len(picks)} queued for a second look in {args.db} "
              f"({added.duplicates} already pending there)", file=sys.stderr)  # fmt: skip
    return 0


def _select(args) -> int:
    from classifier.io import atomic_output, dumps
    from classifier.predictor import Predictor
    from training.pool import read_pool
    from training.select import select

    if args.k < 1:
        print(f"error: --k must be at least 1, got {args.k}", file=sys.stderr)
        return 2
    rows = read_pool(Path(args.pool), text_field=args.text_field, passages=args.passages)
    predictor = Predictor.load(args.model) if args.model else Predictor.load()
    picks = select(predictor, rows, args.k, args.strategy, args.seed, text_field=args.text_field)
    with atomic_output(args.output) as handle:
        for row in picks:
            handle.write(dumps({**row, "model_version": predictor.version}) + "\n")
    if args.output not in (None, "-"):
        print(f"{len(picks)} of {len(rows)} passages picked ({args.strategy}) and written to {args.output}",
              file=sys.stderr)  # fmt: skip
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The `python -m training` argument parser."""
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model version (default: the bundled corpus) and make it current")
    train.add_argument("--data", help="labelled JSONL or CSV (default: the bundled corpus)")
    train.add_argument("--extra", action="append", help="more labelled data to add, e.g. exported feedback")
    train.add_argument("--extra-weight", type=positive_float, default=None,
                       help="sample weight of each --extra row in training and threshold choice, corpus rows "
                       "weighing 1 (default: HTA_FEEDBACK_WEIGHT)")  # fmt: skip
    train.add_argument("--out", help="models directory to write into (default: HTA_MODELS_DIR, else $HTA_HOME/models)")
    train.add_argument("--cv", type=int, default=5, help="grouped cross-validation folds (default 5)")
    train.add_argument("--search", action="store_true", help="grid-search hyperparameters first")
    train.add_argument("--min-recall", action="append", metavar="LABEL=R",
                       help="threshold for at least this recall instead of best F1 (repeatable)")  # fmt: skip
    train.add_argument("--min-label-count", type=int, default=DEFAULT_MIN_LABEL_COUNT,
                       help=f"refuse labels with fewer examples (default {DEFAULT_MIN_LABEL_COUNT})")  # fmt: skip
    train.add_argument(
        "--unsure-rows",
        choices=("drop", "keep"),
        default="drop",
        help="rows flagged unsure: leave them out of training (default; they are still evaluated) or keep them",
    )
    train.add_argument("--min-language-rows", type=int, default=None, metavar="N",
                       help="rows a language needs to be supported (default: HTA_MIN_LANGUAGE_ROWS, 200)")  # fmt: skip
    train.add_argument("--no-current", action="store_true", help="write the version without making it current")
    train.add_argument("--processes", type=int, default=2, metavar="N", help="parallel fold fits (default 2)")
    add_deprecated_alias(train, "--jobs", "--processes", "processes", type=int, metavar="N")
    train.set_defaults(func=_train)

    evaluate = sub.add_parser("evaluate", help="metrics and report of a model version on a labelled file")
    evaluate.add_argument("--model", help="model version directory (default: the current version)")
    evaluate.add_argument("--data", required=True, help="labelled JSONL or CSV")
    evaluate.add_argument("--report", help="report directory (default reports/<version>--<data name>/)")
    evaluate.set_defaults(func=_evaluate)

    punkt = sub.add_parser("punkt", help="retrain the Punkt sentence-boundary parameters from a corpus")
    punkt.add_argument("--data", help="JSONL or CSV whose texts to learn from (default: the bundled corpus)")
    punkt.set_defaults(func=_punkt)

    from training.pool import PASSAGE_MODES
    from training.select import DEFAULT_STRATEGY, STRATEGIES

    pick = sub.add_parser("select", help="rank a pool of unlabelled passages by how worth labelling they are")
    pick.add_argument("--pool", required=True, help="JSONL or CSV passages or documents, or one .txt document")
    pick.add_argument("--k", type=int, required=True, help="how many passages to pick")
    pick.add_argument("--model", help="model version directory (default: the current version)")
    pick.add_argument("--strategy", choices=STRATEGIES, default=DEFAULT_STRATEGY,
                      help=f"how to pick (default {DEFAULT_STRATEGY}, the best in bench/adaptation.py)")  # fmt: skip
    pick.add_argument("--seed", type=int, default=0, help="random seed of the random strategy (default 0)")
    pick.add_argument("--passages", choices=PASSAGE_MODES, default="auto",
                      help="segment texts into passages: auto (texts of several passages), always, never")  # fmt: skip
    pick.add_argument("--text-field", default="text", help="the text field or CSV column (default text)")
    pick.add_argument("--output", help="JSONL file to write, atomically (default stdout)")
    pick.set_defaults(func=_select)

    issues = sub.add_parser(
        "label-issues",
        help="rank the rows whose labels the model's out-of-fold probabilities contradict most (cleanlab), with "
        "suggested labels; nothing is relabelled",
    )
    issues.add_argument("--data", help="labelled JSONL or CSV (default: the bundled corpus)")
    issues.add_argument("--db", help="the service's SQLite file (HTA_FEEDBACK_DB), for --feedback and --to-queue")
    issues.add_argument("--feedback", action="store_true",
                        help="screen the --db store's feedback too (resolved as a retrain learns it)")  # fmt: skip
    issues.add_argument("--cv", type=int, default=5, help="grouped cross-validation folds (default 5)")
    issues.add_argument("--processes", type=int, default=2, metavar="N", help="parallel fold fits (default 2)")
    add_deprecated_alias(issues, "--jobs", "--processes", "processes", type=int, metavar="N")
    issues.add_argument("--top", type=int, default=0, help="write only the N worst rows (default 0: every flagged row)")
    issues.add_argument("--output", help="JSONL file of the flagged rows, worst first, atomically (default stdout)")
    issues.add_argument("--to-queue", type=int, default=0, metavar="N",
                        help="put the N worst rows into the --db store's review queue for a second look")  # fmt: skip
    issues.set_defaults(func=_label_issues)

    seal = sub.add_parser(
        "seal",
        help="list in a version's manifest the files a version written before every file was listed leaves out "
        "(its listed files must verify; the held-out scorer is checked against its old digest)",
    )
    seal.add_argument("version_dir", help="the version directory")
    seal.set_defaults(func=_seal)

    reference = sub.add_parser(
        "reference",
        help="add to a stored version's manifest the score distribution and alert rate per label of its held-out "
        "rows (the drift monitor's reference), from its stored held-out model: nothing is retrained",
    )
    reference.add_argument("version_dir", help="the version directory")
    reference.add_argument("--data", help="the base data it was trained on (default: the bundled corpus)")
    reference.set_defaults(func=_reference)

    export = sub.add_parser(
        "export-feedback",
        help="export the service's stored feedback as training JSONL: one row per passage, "
        "resolved as a retrain learns it (adjudicated, else agreed; disagreements held back)",
    )
    export.add_argument("--db", required=True, help="the service's SQLite file (HTA_FEEDBACK_DB)")
    export.add_argument("--out", required=True, help="JSONL file to write (use with `train --extra`)")
    export.set_defaults(func=_export_feedback)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the command; data, model and option errors go to stderr with exit code 2."""
    args = build_parser().parse_args(argv)
    if getattr(args, "cv", 2) < 2:
        print("error: --cv must be at least 2", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (RecordError, ArtifactError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
