"""`python -m classifier`: score text with a trained model from the command line (`predict`, `score`)."""

from __future__ import annotations

import argparse
import sys

from classifier.artifacts import ArtifactError
from classifier.batch import BatchJob, run_batch
from classifier.batch_cli import PASSAGE_MODES, add_common_arguments, add_score_command, load_predictor
from classifier.config import SettingError
from classifier.io import InputError
from classifier.results import PassageMode


def add_predict_command(subparsers) -> None:
    """Register `predict`."""
    p = subparsers.add_parser(
        "predict",
        help="score JSONL records or plain-text documents",
        description="Score JSONL records (a text field; other fields are echoed) or plain-text files. "
        "Writes one JSON object per input with labels, scores, alerts and every passage with evidence. "
        "The same scoring as `score`, with defaults for reading results: every passage, 5 evidence terms, "
        "stdin to stdout.",
    )
    p.add_argument("--input", "-i", action="append", help="input file (repeatable); default stdin")
    p.add_argument("--output", "-o", help="output JSONL file (written atomically); default stdout")
    p.add_argument(
        "--format", choices=("jsonl", "text"), default="jsonl", help="input format (default jsonl; text: a document)"
    )
    p.add_argument("--text-field", default="text", help="JSONL field holding the text (default text)")
    p.add_argument(
        "--passages",
        choices=PASSAGE_MODES,
        default="auto",
        help="list passages: always or auto (the same: every text gets alerts and all its passages), or never "
        "(labels, scores, alerts and evidence of the best passage only; --format text always lists them)",
    )
    p.add_argument("--evidence", type=int, default=5, metavar="K", help="evidence terms per flagged label (0: none)")
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="score on N processes, output in input order (0: one per CPU; "
        "default: one per CPU for input files of 4 MB or more, else 1)",
    )
    add_common_arguments(p)
    p.set_defaults(func=run_predict)


def run_predict(args) -> int:
    """Run `predict`; returns the exit code."""
    text = args.format == "text"
    job = BatchJob(
        inputs=tuple(args.input or ["-"]),
        output=args.output,
        input_format="txt" if text else "jsonl",
        output_format="jsonl",
        text_field=args.text_field,
        passages=PassageMode.ALWAYS if text else PassageMode(args.passages),
        all_passages=True,
        evidence=args.evidence,
        jobs=args.jobs,
        max_record_bytes=args.max_record_bytes,
    )
    run_batch(job, lambda: load_predictor(args.model))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The `python -m classifier` argument parser with all subcommands."""
    parser = argparse.ArgumentParser(prog="python -m classifier", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_predict_command(subparsers)
    add_score_command(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse `argv`, run the command, report input, output and model errors on stderr (exit 2)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (InputError, ArtifactError, SettingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
