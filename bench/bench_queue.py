"""Benchmark of the review queue: how long ``GET /v1/queue`` takes as the pool grows.

Fills a fresh pool (a temporary SQLite file) with the bundled corpus's sentences, grouped in
documents of 20, through ``POST /v1/queue`` of the Flask test client (no network), then times

- ``cold``: the first ranking after the pool was filled (every passage scored once and cached);
- ``warm``: the median of `--repeats` rankings from the cache (what every later request costs);
- ``add``: adding one document of 20 new passages, then ``warm+20``: the ranking that scores them.

Usage: python bench/bench_queue.py [--models-dir DIR] [--sizes 1000,5000] [--limit 10] [--repeats 5]
Target: a warm ranking of the default cap (5,000 pending passages) under 250 ms.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ADMIN = "bench-admin"


def corpus_texts() -> list[str]:
    """The bundled corpus's sentences (unique), in file order."""
    from classifier.config import CORPUS_PATH
    from classifier.io import loads

    with open(CORPUS_PATH, encoding="utf-8") as handle:
        texts = [loads(line)["text"].strip() for line in handle if line.strip()]
    return list(dict.fromkeys(t for t in texts if t))


def run(models_dir: Path | None, size: int, limit: int, repeats: int, texts: list[str]) -> dict:
    from service import create_app

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite3"
        config = {"FEEDBACK_DB": db, "ADMIN_TOKEN": ADMIN, "ACCESS_LOG": False}
        config["QUEUE_MAX_ITEMS"] = max(size, 1) + 100
        config["MAX_BODY_BYTES"] = 50_000_000
        config["MAX_BATCH"] = 10_000
        if models_dir is not None:
            config["MODELS_DIR"] = models_dir
        client = create_app(config).test_client()
        headers = {"Authorization": f"Bearer {ADMIN}"}
        pool = texts[:size]
        passages = [{"text": text, "document_id": f"doc-{i // 20}"} for i, text in enumerate(pool)]
        for start in range(0, len(passages), 5000):
            response = client.post("/v1/queue", json={"passages": passages[start : start + 5000]}, headers=headers)
            assert response.status_code == 201, response.get_data(as_text=True)
        client.get("/v1/queue?limit=1")  # warm the model load (not part of the figures)
        client.post("/v1/queue", json={"passages": [{"text": "warm-up passage"}]}, headers=headers)
        with sqlite3.connect(db) as conn:  # forget the warm-up's scores: the next ranking scores everything
            conn.execute("UPDATE queue_items SET scored_version = NULL")
        t0 = time.perf_counter()
        response = client.get(f"/v1/queue?limit={limit}")
        cold = time.perf_counter() - t0
        assert response.status_code == 200 and len(response.get_json()["items"]) == min(limit, size + 1)
        warm = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            client.get(f"/v1/queue?limit={limit}")
            warm.append(time.perf_counter() - t0)
        extra = [{"text": f"{text} (variant)", "document_id": "new-doc"} for text in texts[size : size + 20]]
        t0 = time.perf_counter()
        client.post("/v1/queue", json={"passages": extra}, headers=headers)
        add = time.perf_counter() - t0
        t0 = time.perf_counter()
        client.get(f"/v1/queue?limit={limit}")
        warm_new = time.perf_counter() - t0
    return {"size": size, "cold": cold, "warm": statistics.median(warm), "add": add, "warm_new": warm_new}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    texts = corpus_texts()
    sizes = [int(s) for s in args.sizes.split(",")]
    if max(sizes) + 20 > len(texts):
        parser.error(f"the corpus has {len(texts)} unique sentences: the largest size is {len(texts) - 20}")
    print(f"GET /v1/queue?limit={args.limit} (Flask test client, median of {args.repeats} warm runs)")
    print(f"{'pending':>8} {'cold (score all)':>17} {'warm (cached)':>14} {'add 20':>8} {'warm + 20 new':>14}")
    for size in sizes:
        r = run(args.models_dir, size, args.limit, args.repeats, texts)
        print(
            f"{r['size']:>8,} {r['cold'] * 1000:>14.0f} ms {r['warm'] * 1000:>11.0f} ms {r['add'] * 1000:>5.0f} ms "
            f"{r['warm_new'] * 1000:>11.0f} ms"
        )


if __name__ == "__main__":
    main()
