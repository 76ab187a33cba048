"""`python -m classifier score`: batch scoring of JSONL, CSV and folders of .txt documents.

Streams the inputs in chunks (constant memory), optionally over `--jobs N` processes (output order
kept) or on Dask (`--dask ADDRESS` / `--dask-local N`, partitioned output). The output appears
atomically: a killed run leaves nothing under the final name.

Exit codes: 0 all records scored; 2 fatal error (bad input with ``--on-error fatal``, missing file or
column, model error) and no output; 3 finished, but some bad records were skipped (``--on-error
skip``; each reported on stderr as ``file:line: message``, and in ``--errors FILE``).
"""

from __future__ import annotations

import signal
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from classifier.batch import (
    DEFAULT_CHUNK_RECORDS,
    INPUT_FORMATS,
    OUTPUT_FORMATS,
    ChunkResult,
    ItemError,
    ScoreOptions,
    check_inputs,
    csv_header_row,
    csv_rows,
    input_size,
    iter_chunks,
    iter_items,
    iter_work,
    peek_fields,
    resolve_jobs,
    score_chunk,
)
from classifier.io import InputError, atomic_output, dumps

EXIT_SKIPPED = 3


def add_score_command(subparsers) -> None:
    """Register `score`."""
    p = subparsers.add_parser(
        "score",
        help="batch-score JSONL, CSV or folders of .txt documents (parallel, Dask, atomic output)",
        description="Score large inputs in chunks with constant memory. Inputs: JSONL (a text field; other "
        "fields are echoed), CSV (a text column; other columns echoed) or folders of .txt documents "
        "(each file one document). Output: JSONL or CSV with labels, scores and the alert passages "
        "(with offsets), written atomically. Exit code 0: all scored; 2: fatal error, no output; "
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
    p.add_argument(
        "--text-column",
        "--text-field",
        dest="text_field",
        default="text",
        help="JSONL field / CSV column holding the text (default text)",
    )
    p.add_argument(
        "--fields", help="comma-separated input fields to echo in CSV output (default: those of the first record)"
    )
    p.add_argument("--model", help="model version directory (default: the current version)")
    p.add_argument(
        "--passages",
        choices=("auto", "always", "never"),
        default=None,
        help="segment into passages and report alert passages: always, never, or auto = when a "
        "text has more than one passage "
        "(default: auto for JSONL/CSV, always for .txt documents)",
    )
    p.add_argument("--all-passages", action="store_true", help="output every passage, not only alert passages")
    p.add_argument(
        "--evidence",
        type=int,
        default=0,
        metavar="K",
        help="evidence terms per flagged label of each passage (default 0: none)",
    )
    p.add_argument(
        "--on-error",
        choices=("fatal", "skip"),
        default="fatal",
        help="a bad record: fatal = stop with its file:line, no output (default); skip = report it "
        "on stderr, go on, exit 3 at the end",
    )
    p.add_argument("--errors", metavar="FILE", help="also write skipped records as JSONL {source, line, error}")
    p.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (0: one per CPU; default: one per CPU for input files of 4 MB or more, else 1)",
    )
    p.add_argument(
        "--chunk-size",
        type=int,
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
        default=100_000,
        metavar="N",
        help="Dask: records per output part file (default 100000, rounded up to whole chunks)",
    )
    p.set_defaults(func=run_score)


def _options(args, labels) -> ScoreOptions:
    output_format = args.output_format
    if output_format == "auto":
        output_format = "csv" if str(args.output).lower().endswith(".csv") else "jsonl"
    return ScoreOptions(
        text_field=args.text_field,
        passages=args.passages,
        all_passages=args.all_passages,
        evidence=max(0, args.evidence),
        output_format=output_format,
    )


class ErrorReport:
    """Handles bad records in input order: raise (fatal) or report on stderr and count (skip)."""

    def __init__(self, mode: str, handle=None, write=None):
        self.mode, self.handle, self.count = mode, handle, 0
        self.write = write or (lambda line: print(line, file=sys.stderr))

    def __call__(self, errors: list[ItemError]) -> None:
        for error in errors:
            if self.mode == "fatal":
                raise error.to_exception()
            self.count += 1
            self.write(str(error))
            if self.handle is not None:
                self.handle.write(dumps(error.to_dict()) + "\n")


class Progress:
    """A tqdm bar over input bytes (rate and ETA), with the record count and rate; off when not a TTY."""

    def __init__(self, total: int | None, quiet: bool):
        from tqdm import tqdm

        self.disabled = quiet or not sys.stderr.isatty()
        self.bar = tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=sys.stderr,
            disable=self.disabled,
            dynamic_ncols=True,
            desc="scoring",
        )
        self.records, self.start = 0, time.monotonic()

    def update(self, result: ChunkResult) -> None:
        self.records += result.records
        if not self.disabled:
            rate = self.records / max(time.monotonic() - self.start, 1e-9)
            self.bar.set_postfix_str(f"{self.records:,} records, {rate:,.0f} rec/s", refresh=False)
            self.bar.update(result.nbytes)

    def write(self, line: str) -> None:
        self.bar.write(line, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


# Signals received by `_terminate_cleanly`'s handler; checked between chunks too, because an exception
# raised by a signal handler while a `__del__` method runs is printed and dropped by Python.
_TERMINATED: list[int] = []


@contextmanager
def _terminate_cleanly():
    """Turn SIGTERM into SystemExit, so temporary output is removed (SIGKILL leaves only a hidden temp file)."""

    def handler(signum, frame):
        _TERMINATED.append(signum)
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --------------------------------------------------------------------------------------- local scoring

_WORKER: dict = {}


def _die_with_parent() -> None:
    """Linux: have the kernel send SIGTERM to this worker when its parent dies (e.g. SIGKILLed)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def _raise_if_terminated() -> None:
    """Exit if a SIGTERM arrived whose SystemExit Python dropped (see `_TERMINATED`)."""
    if _TERMINATED:
        raise SystemExit(128 + _TERMINATED[0])


def _init_worker(version_dir: str, options: ScoreOptions) -> None:
    from classifier.predictor import Predictor

    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    # A forked worker inherits the parent's SIGTERM handler; the pool stops workers with SIGTERM, and
    # they must then die at once (a SystemExit could be dropped, leaving the parent waiting for them).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    inherited = _WORKER.pop("inherited", None)  # forked workers share the parent's loaded model
    _WORKER["predictor"] = inherited if inherited is not None else Predictor.load(version_dir)
    _WORKER["options"] = options


def _score_in_worker(items) -> ChunkResult:
    return score_chunk(_WORKER["predictor"], items, _WORKER["options"])


def score_local(predictor, chunks: Iterator, options: ScoreOptions, jobs: int) -> Iterator[ChunkResult]:
    """Chunk results in input order: in this process, or over `jobs` processes with bounded chunks in flight."""
    if jobs <= 1:
        for chunk in chunks:
            yield score_chunk(predictor, chunk, options)
        return
    import multiprocessing as mp

    method = "fork" if sys.platform.startswith("linux") else "spawn"
    if method == "fork":
        _WORKER["inherited"] = predictor
    try:
        initargs = (str(predictor.version_dir), options)
        pool = mp.get_context(method).Pool(jobs, initializer=_init_worker, initargs=initargs)
    finally:
        _WORKER.pop("inherited", None)
    with pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_score_in_worker, (chunk,)))
            if len(pending) >= 2 * jobs + 1:  # bounded: constant memory whatever the input size
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def _load_predictor(model: str | None):
    from classifier.predictor import Predictor

    return Predictor.load(Path(model)) if model else Predictor.load()


def run_score(args) -> int:
    """Run `score`; returns the exit code."""
    if args.chunk_size < 1:
        raise InputError("--chunk-size", None, "must be at least 1")
    inputs = check_inputs(args.inputs, args.format, args.text_field)
    predictor = _load_predictor(args.model)
    options = _options(args, predictor.labels)
    items = iter_items(inputs)
    if options.output_format == "csv":
        if args.fields is not None:
            fields = tuple(f for f in args.fields.split(",") if f)
        else:
            fields, items = peek_fields(items, args.text_field)
        options = ScoreOptions(**{**options.__dict__, "csv_fields": fields})
    jobs = resolve_jobs(args.jobs, inputs)
    parallel = bool(args.dask or args.dask_local) or jobs > 1
    if parallel and all(path != "-" for path, _ in inputs):
        chunks = iter_work(inputs, args.chunk_size)  # workers read JSONL lines themselves
    else:
        chunks = iter_chunks(items, args.chunk_size)
    progress = Progress(input_size(inputs), args.quiet)
    started = time.monotonic()
    with ExitStack() as stack, _terminate_cleanly():
        stack.callback(progress.close)
        errors_file = stack.enter_context(atomic_output(args.errors)) if args.errors else None
        report = ErrorReport(args.on_error, errors_file, progress.write)
        if args.dask or args.dask_local:
            from classifier.dask_scoring import score_on_dask

            totals = score_on_dask(predictor, chunks, options, args, report, progress)
        else:
            totals = _write_single(predictor, chunks, options, jobs, args.output, report, progress)
    elapsed = time.monotonic() - started
    if not args.quiet:
        records, passages = totals
        print(
            f"scored {records:,} records ({passages:,} passages) in {elapsed:.1f} s "
            f"({records / max(elapsed, 1e-9):,.0f} records/s)",
            file=sys.stderr,
        )
    if report.count:
        print(f"{report.count:,} bad record(s) skipped", file=sys.stderr)
        return EXIT_SKIPPED
    return 0


def _write_single(predictor, chunks, options, jobs, output, report, progress) -> tuple[int, int]:
    records = passages = 0
    with atomic_output(output) as out:
        if options.output_format == "csv":
            out.write(csv_rows([csv_header_row(options.csv_fields, predictor.labels)]))
        for result in score_local(predictor, chunks, options, jobs):
            _raise_if_terminated()
            report(result.errors)
            out.write(result.text)
            records, passages = records + result.records, passages + result.passages
            progress.update(result)
    return records, passages
