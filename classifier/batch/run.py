"""One batch run from inputs to output: the code path shared by `predict` and `score`.

`run_batch(spec, load_predictor)` checks the inputs and the output before scoring, holds the input
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
from classifier.batch.pool import raise_if_terminated, resolve_processes, score_local, terminate_cleanly
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
from classifier.results import PassageMode


@dataclass(frozen=True)
class BatchSpec:
    """What to score, how, and where the output goes (every parameter of a run, explicit)."""

    inputs: tuple[str, ...]  # files, folders of .txt documents, or "-" for stdin
    output: str | None  # None or "-": stdout
    input_format: str = "auto"  # auto, jsonl, csv, txt
    output_format: str = "auto"  # auto (CSV for a .csv name), jsonl, csv
    text_field: str = "text"
    source_field: str | None = None  # the field naming each record's source (its register), if any
    csv_fields: tuple[str, ...] | None = None  # echoed CSV columns (None: those of the first record)
    passages: PassageMode = PassageMode.AUTO
    all_passages: bool = False
    evidence: int = 0
    on_error: str = "fatal"  # fatal or skip
    errors_path: str | None = None  # where skipped records are written (JSONL)
    processes: int | None = None  # None: one per CPU for input files of 4 MB or more, else 1; 0: one per CPU
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


def _check(spec: BatchSpec) -> None:
    if spec.chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    if spec.max_record_bytes < 1:
        raise ValueError("max_record_bytes must be at least 1")
    if spec.evidence < 0:
        raise ValueError("evidence must be 0 or more")
    if spec.errors_path is not None and spec.errors_path == spec.output and spec.output not in (None, "-"):
        raise OutputError(spec.errors_path, "is also the output")


def run_batch(spec: BatchSpec, load_predictor: Callable) -> RunSummary:
    """Score `spec.inputs` into `spec.output`; raises `RecordError` (bad input with on_error fatal, unusable
    input or output) with nothing written under the output name."""
    _check(spec)
    started = time.monotonic()
    inputs = check_inputs(list(spec.inputs), spec.input_format, spec.text_field, spec.max_record_bytes)
    predictor = load_predictor()
    options = ScoreOptions(
        text_field=spec.text_field,
        source_field=spec.source_field,
        passages=PassageMode(spec.passages),
        all_passages=spec.all_passages,
        evidence=spec.evidence,
        output_format=output_format_for(spec.output, spec.output_format),
    )
    paths = [path for path, _ in inputs]
    on_dask = bool(spec.dask_address or spec.dask_local)
    with ExitStack() as stack, terminate_cleanly():
        held = stack.enter_context(HeldInputs(paths))
        identities = {path: held.identity(path) for path in held.held}
        errors_file = None
        if spec.errors_path:
            errors_file = stack.enter_context(open_output(spec.errors_path, paths))
        items = iter_items(inputs, spec.max_record_bytes)
        if options.output_format == "csv":
            if spec.csv_fields is not None:
                fields = spec.csv_fields
            else:
                fields, items = peek_fields(items, spec.text_field)
            options = replace(options, csv_fields=fields)
        processes = resolve_processes(spec.processes, input_size(inputs))
        if (on_dask or processes > 1) and "-" not in paths:
            chunks = iter_work(inputs, spec.chunk_size, spec.max_record_bytes, identities)  # workers read lines
        else:
            chunks = iter_chunks(items, spec.chunk_size)
        progress = Progress(input_size(inputs), spec.quiet)
        stack.callback(progress.close)
        report = ErrorReport(spec.on_error, errors_file, progress.write)

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
                spec.output,
                address=spec.dask_address,
                local_workers=spec.dask_local,
                partition_records=spec.partition_records,
                on_result=on_result,
                skipped=lambda: report.count,
            )
        else:
            records = passages = 0
            out = stack.enter_context(open_output(spec.output, paths))
            if options.output_format == "csv":
                out.write(csv_rows([csv_header_row(options.csv_fields, predictor.labels)]))
            for result in score_local(predictor, chunks, options, processes):
                on_result(result)
                out.write(result.text)
                records, passages = records + result.records, passages + result.passages
        held.check()  # before the output appears: an input changed under the run is an error, not output
    return RunSummary(records, passages, report.count, time.monotonic() - started, unsupported)
