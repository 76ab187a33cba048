"""Where the time of `python -m classifier predict` goes on a JSONL file: one pass per stage, timed.

Usage: python bench/predict_breakdown.py INPUT.jsonl  (e.g. the 100,000-line file of bench_model.py)
Stages: start-up and model load, reading and parsing JSON, importing NLTK (Punkt), segmentation,
features and scores, writing JSON. Each stage runs once over the whole file, in order.
"""

import sys
import time

started = time.perf_counter()

# imported after the clock starts: start-up is one of the stages measured
from classifier.io import dumps, loads  # noqa: E402
from classifier.predictor import Predictor  # noqa: E402
from classifier.segment import _punkt, segment  # noqa: E402


def main(path: str) -> None:
    """Time each stage over `path` and print the split."""
    predictor = Predictor.load()
    marks = [("start-up and model load", time.perf_counter() - started)]

    def mark(name: str, since: float) -> float:
        now = time.perf_counter()
        marks.append((name, now - since))
        return now

    t = time.perf_counter()
    with open(path, encoding="utf-8") as handle:
        records = [loads(line) for line in handle if line.strip()]
    texts = [record.pop("text") for record in records]
    t = mark("reading and parsing JSON", t)
    _punkt()
    t = mark("importing NLTK (Punkt)", t)
    passages = [p.text for text in texts for p in segment(text)]
    t = mark("segmentation", t)
    scores = predictor.scorer.predict_proba(passages)
    t = mark("features and scores", t)
    for record, row in zip(records, scores.round(6).tolist(), strict=False):
        dumps({**record, "scores": dict(zip(predictor.labels, row, strict=True))})
    mark("writing JSON", t)
    print(f"{len(records):,} records, {len(passages):,} passages")
    for name, seconds in marks:
        print(f"  {name:<28} {seconds:6.2f} s")


if __name__ == "__main__":
    main(sys.argv[1])
