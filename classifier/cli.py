"""`python -m classifier`: score text with a trained model from the command line."""

from __future__ import annotations

import argparse
import sys
from itertools import islice
from pathlib import Path

from classifier.artifacts import ArtifactError
from classifier.batch_cli import add_score_command
from classifier.io import InputError, atomic_output, dumps, iter_jsonl_lines, open_input, parse_jsonl_record

CHUNK_LINES = 4096


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
    p.set_defaults(func=run_predict)


def _predict_jsonl(predictor, args, out) -> None:
    for path in args.input or [None]:
        with open_input(path) as (handle, name):
            lines = iter_jsonl_lines(handle)
            while chunk := list(islice(lines, CHUNK_LINES)):
                records = [parse_jsonl_record(raw, name, no, args.text_field) for no, raw in chunk]
                texts = [r.pop(args.text_field) for r in records]
                results = predictor.predict_documents(texts, passages=args.passages, evidence_top_k=args.evidence)
                out.write("".join(dumps({**rec, **res, "model_version": predictor.version}) + "\n"
                                  for rec, res in zip(records, results, strict=True)))  # fmt: skip


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
