"""Local process parallelism: chunk results in input order from this process or a pool of workers.

Forked workers (Linux) share the parent's loaded model and its held input files; elsewhere each worker
loads and verifies the model version once. At most 2N+1 chunks are in flight, so memory is constant.
Workers die with their parent, ignore Ctrl-C (the parent handles it) and die at once on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from classifier.batch.scoring import ChunkResult, ScoreOptions, score_chunk

# Below this much input, starting worker processes costs about what they save.
AUTO_PARALLEL_BYTES = 4 << 20


def usable_cpus() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def resolve_processes(requested: int | None, input_bytes: int | None) -> int:
    """Processes to score with: `requested` if positive, one per usable CPU if 0, and by default (None)
    one per CPU for inputs read from files of `AUTO_PARALLEL_BYTES` or more (`input_bytes`, None for
    stdin), else one."""
    if requested is None:
        return usable_cpus() if input_bytes is not None and input_bytes >= AUTO_PARALLEL_BYTES else 1
    return requested if requested > 0 else usable_cpus()


# ------------------------------------------------------------------------------------------ SIGTERM

# Signals received by `terminate_cleanly`'s handler; checked between chunks too, because an exception
# raised by a signal handler while a `__del__` method runs is printed and dropped by Python.
_TERMINATED: list[int] = []


@contextmanager
def terminate_cleanly():
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


def raise_if_terminated() -> None:
    """Exit if a SIGTERM arrived whose SystemExit Python dropped (see `_TERMINATED`)."""
    if _TERMINATED:
        raise SystemExit(128 + _TERMINATED[0])


# ------------------------------------------------------------------------------------------ workers

# How long `_terminate` waits for a pool's threads once its workers are killed.
TERMINATE_SECONDS = 2.0

# The state of one pool worker process, set by `_init_worker` (and, before forking, the parent's model).
_WORKER: dict = {}


def _die_with_parent() -> None:
    """Linux: have the kernel send SIGTERM to this worker when its parent dies (e.g. SIGKILLed)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


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


def score_local(predictor, chunks: Iterable, options: ScoreOptions, processes: int) -> Iterator[ChunkResult]:
    """Chunk results in input order: in this process, or over `processes` processes with bounded chunks in flight."""
    if processes <= 1:
        for chunk in chunks:
            yield score_chunk(predictor, chunk, options)
        return
    import multiprocessing as mp

    method = "fork" if sys.platform.startswith("linux") else "spawn"
    if method == "fork":
        _WORKER["inherited"] = predictor
    try:
        initargs = (str(predictor.version_dir), options)
        pool = mp.get_context(method).Pool(processes, initializer=_init_worker, initargs=initargs)
    finally:
        _WORKER.pop("inherited", None)
    try:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_score_in_worker, (chunk,)))
            if len(pending) >= 2 * processes + 1:  # bounded: constant memory whatever the input size
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
    finally:
        _terminate(pool)


def _terminate(pool, timeout: float = TERMINATE_SECONDS) -> None:
    """Stop a pool's workers, waiting at most `timeout` seconds for its bookkeeping threads.

    `Pool.terminate()` kills the workers, then joins the thread that feeds them tasks. When a run stops
    early with tasks in flight (a bad record, an input changed mid-run), that thread can be stuck for ever
    on the task pipe's lock (seen: one run in about 15), and `terminate()` with it. The workers are dead
    by then (it takes milliseconds when it works), so after `timeout` the daemon thread is left behind and the
    error goes on to the user.
    """
    stopper = threading.Thread(target=pool.terminate, name="pool-terminate", daemon=True)
    stopper.start()
    stopper.join(timeout)
