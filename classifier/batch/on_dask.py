"""Scoring on Dask (dask.distributed): part files in a folder, renamed into place at the end.

The client splits JSONL files into byte ranges of whole lines (line numbers stay exact; workers read
the lines themselves) and sends other inputs (stdin, CSV, .txt) as records, submitting chunks as tasks
with `Client.submit` and keeping a bounded number in flight. Each worker loads the model version once,
verified against its manifest (`Predictor.load` checks the sha256), and caches it keyed by path and
manifest sha256; the task is the same `score_chunk` the local scorer runs, so results are identical.
The client collects results in input order and writes them as part files into a temporary folder
beside the output, renamed to the output name at the end: a killed run leaves no folder under the
final name.

Requirements on a real cluster: the workers run the same code (`classifier` importable, same library
versions) and see the model version directory and the JSONL inputs at the same path (shared storage).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from classifier.batch.output import OutputError
from classifier.batch.scoring import ChunkResult, ScoreOptions, score_chunk
from classifier.batch.writers import csv_header_row, csv_rows

SUCCESS_FILE = "_SUCCESS.json"
DEFAULT_PARTITION_RECORDS = 100_000
_MODELS: dict[tuple[str, str], object] = {}


def manifest_sha256(version_dir: Path) -> str:
    """sha256 of a version's manifest (which holds the sha256 of every artifact file)."""
    return hashlib.sha256((Path(version_dir) / "manifest.json").read_bytes()).hexdigest()


def worker_predictor(version_dir: str, manifest_sha: str):
    """The worker's `Predictor` for a version, loaded and verified once per worker process."""
    key = (version_dir, manifest_sha)
    if key not in _MODELS:
        from classifier.artifacts import ArtifactError
        from classifier.predictor import Predictor

        if manifest_sha256(Path(version_dir)) != manifest_sha:
            raise ArtifactError(f"{version_dir}: the model version on this worker differs from the client's")
        _MODELS[key] = Predictor.load(version_dir)
    return _MODELS[key]


def score_partition(version_dir: str, manifest_sha: str, options: ScoreOptions, items) -> ChunkResult:
    """A Dask task: score one chunk of input items with the worker's cached model."""
    return score_chunk(worker_predictor(version_dir, manifest_sha), items, options)


def connect(address: str | None, local_workers: int | None):
    """(client, local cluster or None): a client of the scheduler at `address`, or of a new local cluster
    of `local_workers` single-threaded worker processes.

    On Linux the local workers are forked rather than spawned (Dask's default): they inherit the imported
    libraries and the model already loaded and verified in `_MODELS`, instead of importing numpy, SciPy
    and this package and loading the model again (with spawn, starting, loading and stopping took 4-15 s
    of a run, depending on the machine's load; forked, under 2.5 s).
    """
    import dask
    from distributed import Client, LocalCluster

    if address:
        return Client(address), None
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    with dask.config.set({"distributed.worker.multiprocessing-method": method}):
        cluster = LocalCluster(
            n_workers=local_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
    # Results come straight from the workers, not relayed through the scheduler (about 10 % less CPU).
    return Client(cluster, direct_to_workers=True), cluster


class PartWriter:
    """Part files `part-00000.jsonl`... in a temporary folder, renamed to the output folder by `commit`."""

    def __init__(self, output: str, options: ScoreOptions, labels, partition_records: int):
        self.target = Path(output)
        if self.target.is_symlink():
            raise OutputError(output, "is a symbolic link; give the output folder itself")
        if self.target.exists() and not (self.target.is_dir() and (self.target / SUCCESS_FILE).is_file()):
            raise OutputError(output, "exists and is not the output folder of an earlier Dask run")
        parent = self.target.parent if str(self.target.parent) else Path(".")
        if not parent.is_dir():
            raise OutputError(output, f"folder {parent} does not exist")
        try:
            self.tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{self.target.name}.part-"))
        except OSError as exc:
            raise OutputError(output, f"cannot write in {parent}: {exc.strerror or exc}") from None
        self.options, self.labels, self.limit = options, labels, max(1, partition_records)
        self.suffix = ".csv" if options.output_format == "csv" else ".jsonl"
        self.handle, self.index, self.in_part, self.parts = None, 0, 0, []

    def write(self, result: ChunkResult) -> None:
        """Append a chunk's output to the current part, starting a new part when it is full."""
        if not result.text:
            return
        try:
            if self.handle is None:
                name = f"part-{self.index:05d}{self.suffix}"
                self.handle = open(self.tmp / name, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 (closed in _close_part)
                self.parts.append(name)
                if self.options.output_format == "csv":
                    self.handle.write(csv_rows([csv_header_row(self.options.csv_fields, self.labels)]))
            self.handle.write(result.text)
            self.in_part += result.records
            if self.in_part >= self.limit:
                self._close_part()
        except OSError as exc:
            raise OutputError(str(self.target), f"cannot write: {exc.strerror or exc}") from None

    def _close_part(self) -> None:
        if self.handle is not None:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            self.handle, self.index, self.in_part = None, self.index + 1, 0

    def commit(self, summary: dict) -> None:
        """Close the last part, write the success marker, and move the folder to the output name."""
        try:
            self._close_part()
            (self.tmp / SUCCESS_FILE).write_text(json.dumps({**summary, "parts": self.parts}, indent=1) + "\n")
            os.chmod(self.tmp, 0o755)
        except OSError as exc:
            raise OutputError(str(self.target), f"cannot write: {exc.strerror or exc}") from None
        if self.target.exists():  # an earlier run's output: swap it out, then remove it
            old = Path(tempfile.mkdtemp(dir=self.tmp.parent, prefix=f".{self.target.name}.old-"))
            os.replace(self.target, old / "out")
            os.replace(self.tmp, self.target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.tmp, self.target)

    def abort(self) -> None:
        """Remove the temporary folder."""
        if self.handle is not None:
            self.handle.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def score_on_dask(
    predictor,
    chunks: Iterable,
    options: ScoreOptions,
    output: str,
    *,
    address: str | None,
    local_workers: int | None,
    partition_records: int,
    on_result: Callable[[ChunkResult], None],
    skipped: Callable[[], int],
) -> tuple[int, int]:
    """Score `chunks` on Dask (the scheduler at `address`, or a local cluster of `local_workers`), writing
    partitioned output to the folder `output`. `on_result` sees every chunk result in input order (it
    reports bad records, and raises to stop the run); `skipped` gives the count of skipped records for
    the success marker. Returns (records, passages)."""
    if output in (None, "-"):
        raise OutputError("-", "Dask output is a folder of part files, not stdout")
    version_dir = str(Path(predictor.version_dir).resolve())
    manifest_sha = manifest_sha256(Path(version_dir))
    writer = PartWriter(output, options, predictor.labels, partition_records)
    if not address:  # forked local workers find the client's verified model here (see `connect`)
        _MODELS[(version_dir, manifest_sha)] = predictor
    client, cluster = None, None
    try:
        client, cluster = connect(address, local_workers)
        workers = max(1, len(client.scheduler_info().get("workers", {})) or (local_workers or 1))
        window = 2 * workers + 2
        pending: deque = deque()
        records = passages = 0

        def collect(future) -> None:
            nonlocal records, passages
            result: ChunkResult = future.result()
            on_result(result)
            writer.write(result)
            records, passages = records + result.records, passages + result.passages

        for chunk in chunks:
            pending.append(client.submit(score_partition, version_dir, manifest_sha, options, chunk, pure=False))
            if len(pending) >= window:  # bounded in flight; results taken in input order
                collect(pending.popleft())
        while pending:
            collect(pending.popleft())
        writer.commit(
            {"records": records, "passages": passages, "model_version": predictor.version, "skipped": skipped()}
        )
        return records, passages
    except BaseException:
        writer.abort()
        raise
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
