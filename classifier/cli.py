"""`python -m classifier`: score text with a trained model from the command line (`predict`, `score`).

Both commands only parse arguments into a `classifier.batch.BatchSpec`; `classifier.batch.run_batch` does
the work. Exit codes: 0 all records scored; 2 fatal error (a bad record with ``--on-error fatal``, a missing
file or column, an unusable output, a model error) and no output; 3 finished, but some bad records were
skipped (``score --on-error skip``; each reported on stderr as ``file:line: message``, and in ``--errors FILE``).
"""

from __future__ import annotations

import argparse
import sys

from classifier.artifacts import ArtifactError
from classifier.batch import DEFAULT_CHUNK_RECORDS, DEFAULT_MAX_RECORD_BYTES, BatchSpec, run_batch
from classifier.batch.on_dask import DEFAULT_PARTITION_RECORDS
from classifier.batch.readers import INPUT_FORMATS
from classifier.batch.report import ON_ERROR
from classifier.batch.writers import OUTPUT_FORMATS
from classifier.cli_options import add_deprecated_alias, non_negative_int, positive_int
from classifier.config import SettingError
from classifier.records import RecordError
from classifier.results import PassageMode

EXIT_SKIPPED = 3
PASSAGE_MODES = [mode.value for mode in PassageMode]
PROCESSES_HELP = "(0: one per CPU; default: one per CPU for input files of 4 MB or more, else 1)"


def add_common_arguments(p) -> None:
    """Options `predict` and `score` share (same names, same meaning)."""
    p.add_argument("--model", help="model version directory (default: the current version)")
    p.add_argument(
        "--max-record-bytes",
        type=positive_int,
        default=DEFAULT_MAX_RECORD_BYTES,
        metavar="N",
        help=f"longest input line or document in bytes; a longer one is a bad record "
        f"(default {DEFAULT_MAX_RECORD_BYTES:,})",
    )
    add_deprecated_alias(p, "--jobs", "--processes", "processes", type=int, metavar="N")


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
        "--source-field",
        metavar="FIELD",
        help="JSONL field naming each record's source (its register, e.g. a feed): a source with thresholds of "
        "its own in the model is decided with them (default: none)",
    )
    p.add_argument(
        "--passages",
        choices=PASSAGE_MODES,
        default="auto",
        help="list passages: always or auto (the same: every text gets alerts and all its passages), or never "
        "(labels, scores, alerts and evidence of the best passage only; --format text always lists them)",
    )
    p.add_argument(
        "--evidence", type=non_negative_int, default=5, metavar="K", help="evidence terms per flagged label (0: none)"
    )
    p.add_argument(
        "--processes",
        type=int,
        default=None,
        metavar="N",
        help=f"score on N processes, output in input order {PROCESSES_HELP}",
    )
    add_common_arguments(p)
    p.set_defaults(func=run_predict)


def add_score_command(subparsers) -> None:
    """Register `score`."""
    p = subparsers.add_parser(
        "score",
        help="batch-score JSONL, CSV or folders of .txt documents (parallel, Dask, atomic output)",
        description="Score large inputs in chunks with constant memory. Inputs: JSONL (a text field; other "
        "fields are echoed), CSV (a text column; other columns echoed) or folders of .txt documents "
        "(each file one document). Output: JSONL or CSV with labels, scores, alerts and the alert passages "
        "(with offsets), written atomically. Same scoring as `predict`, with defaults for large runs: only "
        "alert passages, no evidence, a progress bar. Exit code 0: all scored; 2: fatal error, no output; "
        "3: done, but bad records were skipped (--on-error skip).",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="JSONL/CSV file, folder of .txt files, or - (stdin)")
    p.add_argument(
        "--output",
        "-o",
        required=True,
        help="output file (JSONL, or CSV for a .csv name); with --dask/--dask-local a folder of "
        "part files; - for stdout (not with Dask)",
    )
    p.add_argument(
        "--format",
        choices=INPUT_FORMATS,
        default="auto",
        help="input format (default auto: folder or .txt = documents, .csv/.tsv = CSV, else JSONL)",
    )
    p.add_argument(
        "--output-format",
        choices=OUTPUT_FORMATS,
        default="auto",
        help="output format (default auto: CSV when --output ends in .csv, else JSONL)",
    )
    p.add_argument("--text-field", default="text", help="JSONL field / CSV column holding the text (default text)")
    add_deprecated_alias(p, "--text-column", "--text-field", "text_field")
    p.add_argument(
        "--source-field",
        metavar="FIELD",
        help="JSONL field / CSV column naming each record's source (its register, e.g. a feed): a source with "
        "thresholds of its own in the model is decided with them (default: none)",
    )
    p.add_argument(
        "--fields", help="comma-separated input fields to echo in CSV output (default: those of the first record)"
    )
    add_common_arguments(p)
    p.add_argument(
        "--passages",
        choices=PASSAGE_MODES,
        default="auto",
        help="list passages: always or auto (the same: every text is segmented and gets alerts and its "
        "passages), or never (labels, scores and alerts only)",
    )
    p.add_argument("--all-passages", action="store_true", help="output every passage, not only alert passages")
    p.add_argument(
        "--evidence",
        type=non_negative_int,
        default=0,
        metavar="K",
        help="evidence terms per flagged label of each passage (default 0: none)",
    )
    p.add_argument(
        "--on-error",
        choices=ON_ERROR,
        default="fatal",
        help="a bad record: fatal = stop with its file:line, no output (default); skip = report it "
        "on stderr, go on, exit 3 at the end",
    )
    p.add_argument("--errors", metavar="FILE", help="also write skipped records as JSONL {source, line, error}")
    p.add_argument("--processes", "-j", type=int, default=None, metavar="N", help=f"worker processes {PROCESSES_HELP}")
    p.add_argument(
        "--chunk-size",
        type=positive_int,
        default=DEFAULT_CHUNK_RECORDS,
        metavar="N",
        help=f"records per chunk / Dask task (default {DEFAULT_CHUNK_RECORDS})",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar (also off when stderr is no terminal)")
    dask = p.add_mutually_exclusive_group()
    dask.add_argument("--dask", metavar="ADDRESS", help="score on a dask.distributed scheduler (tcp://host:8786)")
    dask.add_argument("--dask-local", type=int, metavar="N", help="score on a local Dask cluster of N worker processes")
    p.add_argument(
        "--partition-size",
        type=int,
        default=DEFAULT_PARTITION_RECORDS,
        metavar="N",
        help=f"Dask: records per output part file (default {DEFAULT_PARTITION_RECORDS}, rounded up to whole chunks)",
    )
    p.set_defaults(func=run_score)


def load_predictor(model: str | None):
    """The `Predictor` of `--model`, or of the current version."""
    from classifier.predictor import Predictor

    return Predictor.load(model) if model else Predictor.load()


def run_predict(args) -> int:
    """Run `predict`; returns the exit code."""
    text = args.format == "text"
    spec = BatchSpec(
        inputs=tuple(args.input or ["-"]),
        output=args.output,
        input_format="txt" if text else "jsonl",
        output_format="jsonl",
        text_field=args.text_field,
        source_field=args.source_field,
        passages=PassageMode.ALWAYS if text else PassageMode(args.passages),
        all_passages=True,
        evidence=args.evidence,
        processes=args.processes,
        max_record_bytes=args.max_record_bytes,
    )
    run_batch(spec, lambda: load_predictor(args.model))
    return 0


def run_score(args) -> int:
    """Run `score`; returns the exit code."""
    spec = BatchSpec(
        inputs=tuple(args.inputs),
        output=args.output,
        input_format=args.format,
        output_format=args.output_format,
        text_field=args.text_field,
        source_field=args.source_field,
        csv_fields=None if args.fields is None else tuple(f for f in args.fields.split(",") if f),
        passages=PassageMode(args.passages),
        all_passages=args.all_passages,
        evidence=args.evidence,
        on_error=args.on_error,
        errors_path=args.errors,
        processes=args.processes,
        chunk_size=args.chunk_size,
        max_record_bytes=args.max_record_bytes,
        quiet=args.quiet,
        dask_address=args.dask,
        dask_local=args.dask_local,
        partition_records=args.partition_size,
    )
    summary = run_batch(spec, lambda: load_predictor(args.model))
    if not args.quiet:
        print(
            f"scored {summary.records:,} records ({summary.passages:,} passages) in {summary.seconds:.1f} s "
            f"({summary.records / max(summary.seconds, 1e-9):,.0f} records/s)",
            file=sys.stderr,
        )
    if summary.unsupported:  # printed even with --quiet: these passages were not read
        from classifier.config import setting

        what = "scored anyway (HTA_SCORE_UNSUPPORTED)" if setting("SCORE_UNSUPPORTED") else "not scored, alerts null"
        print(
            f"{summary.unsupported:,} passage(s) in languages the model was not trained on: {what} "
            "(their records list them under unsupported_languages)",
            file=sys.stderr,
        )
    if summary.skipped:
        print(f"{summary.skipped:,} bad record(s) skipped", file=sys.stderr)
        return EXIT_SKIPPED
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The `python -m classifier` argument parser with all subcommands."""
    parser = argparse.ArgumentParser(prog="python -m classifier", description=__doc__.split("\n\n")[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_predict_command(subparsers)
    add_score_command(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse `argv`, run the command, report input, output and model errors on stderr (exit 2)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (RecordError, ArtifactError, SettingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
