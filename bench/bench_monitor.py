"""What the monitor (service/monitor.py) costs per POST /v1/predict, in-process.

Prints, for a single-passage text: the added code on the request's path (the `observed` list handed to the
predictor, the tuple it appends, `Monitor.record`), and the flusher's work per request in the background
(counters, histograms, the window's ring), both per call with timeit, with prometheus_client in multiprocess
mode and the window in its memory-mapped file as under gunicorn; and a whole in-process
`score_documents` call for scale.

    python bench/bench_monitor.py
"""

from __future__ import annotations

import os
import tempfile
import timeit

# As under gunicorn: prometheus_client's multiprocess values (memory-mapped files), chosen when it is imported.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="hta-bench-monitor-"))

from classifier.predictor import Predictor
from classifier.versions import resolve_version_dir
from service.config import load_config
from service.monitor import Monitor

TEXT = "Saboteurs cut the undersea cable near the coast, officials said."


def main() -> None:
    """Print the figures."""
    from classifier.config import PROJECT_ROOT

    predictor = Predictor.load(resolve_version_dir(PROJECT_ROOT / "models"))
    monitor = Monitor.from_config(load_config({"MONITOR_WINDOW": 5000}))  # the shared ring and source list
    observed: list = []
    predictor.score_documents([TEXT], "auto", observed=observed)
    item = observed[0]
    n = 200_000

    def on_path():
        seen: list = []
        seen.append(item)  # what score_documents adds: one append of lists it built anyway
        monitor.record(predictor, seen[0])

    on_path_us = min(timeit.repeat(on_path, number=n, repeat=5)) / n * 1e6
    monitor._pending.clear()

    batch = 500  # requests piled up between two flushes (0.5 s at 1,000 requests/s)

    def flush_batch():
        for _ in range(batch):
            monitor.record(predictor, item)
        monitor.flush()

    flush_us = min(timeit.repeat(flush_batch, number=20, repeat=5)) / (20 * batch) * 1e6
    score_us = min(timeit.repeat(lambda: predictor.score_documents([TEXT], "auto"), number=300, repeat=5)) / 300 * 1e6
    print(f"on the request's path: {on_path_us:.2f} us per request (observed list + Monitor.record)")
    print(f"flusher, in the background: {flush_us:.2f} us per single-passage request (batches of {batch})")
    print(f"for scale, score_documents of the same text: {score_us:.0f} us")


if __name__ == "__main__":
    main()
