"""Batch scoring as a library: read inputs, score chunks, write outputs, in one or more processes or on Dask.

Modules, one job each:

- `items`: the raw record (`Item`; a bad one is a `classifier.records.RecordError`);
- `readers`: lazy, bounded readers of JSONL, CSV and .txt documents, chunking and byte ranges;
- `held_inputs`: input files held open for a run, so a changed input is detected, never mixed;
- `scoring`: `score_chunk` (parse, score, render one chunk) and its `ScoreOptions`;
- `writers`: a scored record as a JSONL line or a CSV row;
- `output`: where output goes (atomic file, or a stream written directly) and what is refused;
- `pool`: local worker processes, output in input order, SIGTERM handling;
- `on_dask`: the same chunks on a Dask cluster, into a folder of part files;
- `report`: bad-record reporting and the progress bar;
- `run`: `run_batch`, the one code path of `python -m classifier predict` and `score`.
"""

from classifier.batch.items import Item
from classifier.batch.pool import AUTO_PARALLEL_BYTES, resolve_processes, score_local
from classifier.batch.readers import (
    DEFAULT_CHUNK_RECORDS,
    DEFAULT_MAX_RECORD_BYTES,
    ByteRange,
    check_inputs,
    iter_chunks,
    iter_items,
    iter_work,
    read_csv,
    read_jsonl,
    read_txt,
)
from classifier.batch.run import BatchSpec, RunSummary, run_batch
from classifier.batch.scoring import ChunkResult, ScoreOptions, score_chunk

__all__ = [
    "AUTO_PARALLEL_BYTES",
    "DEFAULT_CHUNK_RECORDS",
    "DEFAULT_MAX_RECORD_BYTES",
    "BatchSpec",
    "ByteRange",
    "ChunkResult",
    "Item",
    "RunSummary",
    "ScoreOptions",
    "check_inputs",
    "iter_chunks",
    "iter_items",
    "iter_work",
    "read_csv",
    "read_jsonl",
    "read_txt",
    "resolve_processes",
    "run_batch",
    "score_chunk",
    "score_local",
]
