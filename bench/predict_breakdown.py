"""Where the time of `python -m classifier predict` goes on a JSONL file: one pass per stage, timed.

Usage: python bench/predict_breakdown.py INPUT.jsonl [--evidence K]  (e.g. the 100,000-line file of
bench_model.py or bench_evidence.py --keep-outputs)
Stages: start-up and model load, reading and parsing JSON, importing NLTK (Punkt), segmentation,
features and scores, evidence (K terms per label of each passage with a label, default 5 as `predict`
gives, in batches of `EVIDENCE_BATCH` flagged passages as `predict` batches them; 0 skips it), writing
JSON. Each stage runs once over the whole file, in order; CPU time is printed beside the wall time,
since the machine may be shared.
"""

import argparse
import time

started, started_cpu = time.perf_counter(), time.process_time()

# imported after the clock starts: start-up is one of the stages measured
from classifier.io import dumps, loads  # noqa: E402
from classifier.predictor import Predictor  # noqa: E402
from classifier.segment import _punkt, segment  # noqa: E402

EVIDENCE_BATCH = 500  # about the flagged passages of one 2,000-record chunk of `predict` on corpus text


def main(path: str, top_k: int) -> None:
    """Time each stage over `path` and print the split."""
    predictor = Predictor.load()
    marks = [("start-up and model load", time.perf_counter() - started, time.process_time() - started_cpu)]

    def mark(name: str, since: tuple[float, float]) -> tuple[float, float]:
        now = time.perf_counter(), time.process_time()
        marks.append((name, now[0] - since[0], now[1] - since[1]))
        return now

    t = time.perf_counter(), time.process_time()
    with open(path, encoding="utf-8") as handle:
        records = [loads(line) for line in handle if line.strip()]
    texts = [record.pop("text") for record in records]
    t = mark("reading and parsing JSON", t)
    _punkt()
    t = mark("importing NLTK (Punkt)", t)
    passages = [p.text for text in texts for p in segment(text)]
    t = mark("segmentation", t)
    scorer = predictor.scorer
    rows = scorer.transform(passages)
    probabilities = scorer.proba_from_rows(rows)
    t = mark("features and scores", t)
    evidence: list[dict] = [{} for _ in passages]
    decided = scorer.decide(probabilities)
    flagged = decided.any(axis=1).nonzero()[0].tolist()
    if top_k:
        asked = [row.nonzero()[0].tolist() for row in decided[flagged]]
        for start in range(0, len(flagged), EVIDENCE_BATCH):
            at = flagged[start : start + EVIDENCE_BATCH]
            found = scorer.explain_rows([passages[i] for i in at], rows[at], asked[start : start + len(at)], top_k)
            for i, terms in zip(at, found, strict=True):
                evidence[i] = {predictor.labels[j]: listed for j, listed in terms.items()}
        t = mark(f"evidence ({len(flagged):,} passages)", t)
    for record, row, terms in zip(records, probabilities.round(6).tolist(), evidence, strict=False):
        dumps({**record, "scores": dict(zip(predictor.labels, row, strict=True)), "evidence": terms})
    mark("writing JSON", t)
    print(f"{len(records):,} records, {len(passages):,} passages")
    for name, seconds, cpu in marks:
        print(f"  {name:<32} {seconds:6.2f} s wall {cpu:6.2f} s CPU")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="a JSONL file with a text field")
    parser.add_argument("--evidence", type=int, default=5, metavar="K", help="evidence terms per label (0: none)")
    args = parser.parse_args()
    main(args.input, args.evidence)
