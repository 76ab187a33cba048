"""The store's throughput on SQLite and on PostgreSQL, with one and with two instances at once.

    python bench/bench_store.py [--seconds 3] [--pool 500]

Prints feedback writes/s (`Store.add_feedback` of one item: one transaction each, as `POST /v1/feedback`)
and queue reads/s (what `GET /v1/queue` reads from the store for an analyst: the items available to them,
the pending pool with its cached scores, ten items by id) for: SQLite (one file), PostgreSQL (a throwaway
cluster from Debian's binaries, tests/postgres.py, on loopback), each with one process and with two processes
at once (two instances on one database). "Two" is the sum of both. The machine's other load moves these
figures: run it on an idle machine and compare within one run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _feedback_writes(url: str, seconds: float, worker: int, ready, go, out) -> None:
    from service.store import Store

    store = Store(url)
    ready.wait()
    go.wait()
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        store.add_feedback(
            [{"text": f"Worker {worker} passage {n} about a cut cable.", "labels": ["sabotage_mention"]}]
        )
        n += 1
    out.put(n / seconds)


def _queue_reads(url: str, seconds: float, worker: int, ready, go, out) -> None:
    from service.review.store import QueueStore

    queue = QueueStore(url)
    ready.wait()
    go.wait()
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        ids = queue.available(f"analyst-{worker}", 1)
        pending = queue.pending_scores()
        queue.get_many([row["id"] for row in pending[:10]])
        n += 1 if ids is not None else 0
    out.put(n / seconds)


def measure(target, url: str, processes: int, seconds: float) -> float:
    """Operations per second of `processes` processes running `target` at once, summed."""
    context = multiprocessing.get_context("spawn")
    ready, go, out = context.Barrier(processes + 1), context.Event(), context.Queue()
    workers = [context.Process(target=target, args=(url, seconds, i, ready, go, out)) for i in range(processes)]
    for worker in workers:
        worker.start()
    ready.wait()
    go.set()
    total = sum(out.get(timeout=seconds + 120) for _ in workers)
    for worker in workers:
        worker.join()
    return total


def fill_queue(url: str, pool: int) -> None:
    """`pool` pending passages with cached scores, as a ranked queue holds them."""
    from service.review.store import NewItem, QueueStore
    from service.store import Store

    Store(url).init()
    queue = QueueStore(url).init()
    items = [NewItem(text=f"Queued passage {i} on sabotage near the port.", language="en", scores=(0.2, 0.5, 0.1),
                     scored_version="v1") for i in range(pool)]  # fmt: skip
    queue.add(items, "api", max_pending=pool)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--pool", type=int, default=500, help="pending queue passages")
    args = parser.parse_args()
    from tests import postgres

    rows = []
    with tempfile.TemporaryDirectory(prefix="hta-bench-store-") as tmp:
        engines = [("SQLite", lambda name: f"sqlite://{Path(tmp) / name}.sqlite3")]
        cluster = None
        folder = postgres.binaries()
        if folder is not None:
            cluster = postgres.Cluster(folder).start()
            engines.append(("PostgreSQL", lambda name: cluster.create_database()))
        else:
            print(f"PostgreSQL skipped: {postgres.SKIP_REASON}", file=sys.stderr)
        try:
            for engine, make_url in engines:
                for processes in (1, 2):
                    url = make_url(f"w{processes}")
                    fill_queue(url, 0)
                    writes = measure(_feedback_writes, url, processes, args.seconds)
                    url = make_url(f"r{processes}")
                    fill_queue(url, args.pool)
                    reads = measure(_queue_reads, url, processes, args.seconds)
                    rows.append((engine, processes, writes, reads))
        finally:
            if cluster is not None:
                cluster.remove()
    print(f"store throughput, {args.seconds:g} s per figure, queue pool {args.pool} pending passages")
    print(f"{'engine':<12}{'instances':>10}{'feedback writes/s':>20}{'queue reads/s':>16}")
    for engine, processes, writes, reads in rows:
        print(f"{engine:<12}{processes:>10}{writes:>20.0f}{reads:>16.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
