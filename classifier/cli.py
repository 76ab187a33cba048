"""`python -m classifier`: score text with a trained model from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from classifier.artifacts import ArtifactError
from classifier.batch_cli import add_score_command
from classifier.io import InputError, atomic_output, dumps, open_input


def _load_predictor(model: str | None):
    from classifier.predictor import Predictor

    return Predictor.load(Path(model)) if model else Predictor.load()


def add_predict_command(subparsers) -> None:
    """Register `predict`."""
    p = subparsers.add_parser(
        "predict",
        help="score JSONL records or plain-text documents",
        description="Score JSONL records (a text field; other fields are echoed) or plain-text files. "
        "Writes one JSON object per input with labels, scores and, for documents, passages.",
    )
    p.add_argument("--input", "-i", action="append", help="input file (repeatable for --format text); default stdin")
    p.add_argument("--output", "-o", help="output JSONL file (written atomically); default stdout")
    p.add_argument("--format", choices=("jsonl", "text"), default="jsonl", help="input format (default jsonl)")
    p.add_argument("--model", help="model version directory (default: the current version)")
    p.add_argument("--text-field", default="text", help="JSONL field holding the text (default text)")
    p.add_argument(
        "--passages",
        choices=("auto", "always", "never"),
        default="auto",
        help="include passages and per-label alerts: always, never, or auto = when a text has more "
        "than one passage (default auto; --format text always includes them)",
    )
    p.add_argument("--evidence", type=int, default=5, metavar="K", help="evidence terms per flagged label (0: none)")
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="JSONL: score on N processes, output in input order (0: one per CPU; "
        "default: one per CPU for input files of 4 MB or more, else 1)",
    )
    p.set_defaults(func=run_predict)


def _predict_jsonl(predictor, args, out) -> None:
    """JSONL records through the batch scorer, with predict's output: every passage, alerts, evidence."""
    from classifier.batch import ScoreOptions, check_inputs, iter_chunks, iter_items, iter_work, resolve_jobs
    from classifier.batch_cli import score_local

    inputs = check_inputs(args.input or ["-"], "jsonl", args.text_field)
    options = ScoreOptions(
        text_field=args.text_field, passages=args.passages, all_passages=True, evidence=args.evidence
    )
    jobs = resolve_jobs(args.jobs, inputs)
    if jobs > 1 and all(path != "-" for path, _ in inputs):
        chunks = iter_work(inputs)  # workers read the lines themselves
    else:
        chunks = iter_chunks(iter_items(inputs))
    for result in score_local(predictor, chunks, options, jobs):
        if result.errors:  # in input order: the first bad record stops the run
            raise result.errors[0].to_exception()
        out.write(result.text)


def _predict_text(predictor, args, out) -> None:
    for path in args.input or [None]:
        with open_input(path) as (handle, name):
            text = handle.read()
        if not text.strip():
            raise InputError(name, None, "document is empty")
        (result,) = predictor.predict_documents([text], passages="always", evidence_top_k=args.evidence)
        out.write(dumps({"source": name, **result, "model_version": predictor.version}) + "\n")


def run_predict(args) -> int:
    """Run `predict`; returns the exit code."""
    predictor = _load_predictor(args.model)
    with atomic_output(args.output) as out:
        if args.format == "text":
            _predict_text(predictor, args, out)
        else:
            _predict_jsonl(predictor, args, out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The `python -m classifier` argument parser with all subcommands."""
    parser = argparse.ArgumentParser(prog="python -m classifier", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_predict_command(subparsers)
    add_score_command(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse `argv`, run the command, report input and model errors on stderr."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (InputError, ArtifactError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
