"""One batch run from inputs to output: the code path shared by `predict` and `score`.

`run_batch(job, load_predictor)` checks the inputs and the output before scoring, holds the input
files open, streams chunks through this process, a local pool or Dask, reports bad records in input
order, checks that no input changed under it, and only then lets the output appear.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace

from classifier.batch.held_inputs import HeldInputs
from classifier.batch.output import OutputError, open_output
from classifier.batch.pool import raise_if_terminated, resolve_jobs, score_local, terminate_cleanly
from classifier.batch.readers import (
    DEFAULT_CHUNK_RECORDS,
    DEFAULT_MAX_RECORD_BYTES,
    check_inputs,
    input_size,
    iter_chunks,
    iter_items,
    iter_work,
    peek_fields,
)
from classifier.batch.report import ErrorReport, Progress
from classifier.batch.scoring import ScoreOptions
from classifier.batch.writers import csv_header_row, csv_rows, output_format_for
from classifier.io import InputError
from classifier.results import PassageMode


@dataclass(frozen=True)
class BatchJob:
    """What to score, how, and where the output goes (every parameter of a run, explicit)."""

    inputs: tuple[str, ...]  # files, folders of .txt documents, or "-" for stdin
    output: str | None  # None or "-": stdout
    input_format: str = "auto"  # auto, jsonl, csv, txt
    output_format: str = "auto"  # auto (CSV for a .csv name), jsonl, csv
    text_field: str = "text"
    csv_fields: tuple[str, ...] | None = None  # echoed CSV columns (None: those of the first record)
    passages: PassageMode = PassageMode.AUTO
    all_passages: bool = False
    evidence: int = 0
    on_error: str = "fatal"  # fatal or skip
    errors_path: str | None = None  # where skipped records are written (JSONL)
    jobs: int | None = None  # None: one per CPU for input files of 4 MB or more, else 1; 0: one per CPU
    chunk_size: int = DEFAULT_CHUNK_RECORDS
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    quiet: bool = True  # no progress bar
    dask_address: str | None = None
    dask_local: int | None = None  # workers of a local Dask cluster
    partition_records: int = 100_000  # Dask: records per output part


@dataclass(frozen=True)
class RunSummary:
    """What a finished run did."""

    records: int
    passages: int
    skipped: int
    seconds: float
    unsupported: int = 0  # passages in a language the model does not read (not scored unless asked)


def _check(job: BatchJob) -> None:
    if job.chunk_size < 1:
        raise InputError("--chunk-size", None, "must be at least 1")
    if job.max_record_bytes < 1:
        raise InputError("--max-record-bytes", None, "must be at least 1")
    if job.evidence < 0:
        raise InputError("--evidence", None, "must be 0 or more")
    if job.errors_path is not None and job.errors_path == job.output and job.output not in (None, "-"):
        raise OutputError(job.errors_path, "is also the output")


def run_batch(job: BatchJob, load_predictor: Callable) -> RunSummary:
    """Score `job.inputs` into `job.output`; raises `InputError` (bad input with on_error fatal, unusable
    input or output) with nothing written under the output name."""
    _check(job)
    started = time.monotonic()
    inputs = check_inputs(list(job.inputs), job.input_format, job.text_field, job.max_record_bytes)
    predictor = load_predictor()
    options = ScoreOptions(
        text_field=job.text_field,
        passages=PassageMode(job.passages),
        all_passages=job.all_passages,
        evidence=job.evidence,
        output_format=output_format_for(job.output, job.output_format),
    )
    paths = [path for path, _ in inputs]
    on_dask = bool(job.dask_address or job.dask_local)
    with ExitStack() as stack, terminate_cleanly():
        held = stack.enter_context(HeldInputs(paths))
        identities = {path: held.identity(path) for path in held.held}
        errors_file = None
        if job.errors_path:
            errors_file = stack.enter_context(open_output(job.errors_path, paths))
        items = iter_items(inputs, job.max_record_bytes)
        if options.output_format == "csv":
            if job.csv_fields is not None:
                fields = job.csv_fields
            else:
                fields, items = peek_fields(items, job.text_field)
            options = replace(options, csv_fields=fields)
        jobs = resolve_jobs(job.jobs, input_size(inputs))
        if (on_dask or jobs > 1) and "-" not in paths:
            chunks = iter_work(inputs, job.chunk_size, job.max_record_bytes, identities)  # workers read lines
        else:
            chunks = iter_chunks(items, job.chunk_size)
        progress = Progress(input_size(inputs), job.quiet)
        stack.callback(progress.close)
        report = ErrorReport(job.on_error, errors_file, progress.write)

        unsupported = 0

        def on_result(result) -> None:
            nonlocal unsupported
            unsupported += result.unsupported
            raise_if_terminated()
            report(result.errors)
            held.check()
            progress.update(result.records, result.nbytes)

        if on_dask:
            from classifier.batch.on_dask import score_on_dask

            records, passages = score_on_dask(
                predictor,
                chunks,
                options,
                job.output,
                address=job.dask_address,
                local_workers=job.dask_local,
                partition_records=job.partition_records,
                on_result=on_result,
                skipped=lambda: report.count,
            )
        else:
            records = passages = 0
            out = stack.enter_context(open_output(job.output, paths))
            if options.output_format == "csv":
                out.write(csv_rows([csv_header_row(options.csv_fields, predictor.labels)]))
            for result in score_local(predictor, chunks, options, jobs):
                on_result(result)
                out.write(result.text)
                records, passages = records + result.records, passages + result.passages
        held.check()  # before the output appears: an input changed under the run is an error, not output
    return RunSummary(records, passages, report.count, time.monotonic() - started, unsupported)
