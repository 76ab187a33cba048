"""fastText's side of the speed comparison: score a JSONL file the way `python -m classifier predict` does.

Reads JSONL records with a `text` field, predicts every label's probability with a fastText model,
and writes one JSON object per record (other fields echoed, `labels` above 0.5, `scores`).
JSON is read and written with orjson, as `python -m classifier predict` does, so the comparison is of
the models and pipelines, not of JSON libraries; `--stdlib-json` uses Python's `json` module instead.
Usage: python bench/fasttext_predict.py MODEL.bin INPUT.jsonl OUTPUT.jsonl [--stdlib-json]
"""

import json
import sys

import fasttext
import orjson

CHUNK = 4096


def main(model_path: str, input_path: str, output_path: str, stdlib_json: bool = False) -> None:
    """Score `input_path` with the fastText model into `output_path`."""
    if stdlib_json:
        loads = json.loads

        def dumps(record: dict) -> str:
            return json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    else:
        loads = orjson.loads

        def dumps(record: dict) -> str:
            return orjson.dumps(record).decode()

    model = fasttext.load_model(model_path)
    labels = [label.removeprefix("__label__") for label in model.get_labels() if label != "__label__none"]
    with open(input_path, encoding="utf-8") as src, open(output_path, "w", encoding="utf-8") as out:
        lines = [line for line in src if line.strip()]
        for start in range(0, len(lines), CHUNK):
            records = [loads(line) for line in lines[start : start + CHUNK]]
            texts = [r.pop("text").replace("\n", " ") for r in records]
            predicted_labels, probabilities = model.predict(texts, k=-1, threshold=0.0)
            for record, names, probs in zip(records, predicted_labels, probabilities, strict=True):
                scores = {n.removeprefix("__label__"): round(float(p), 6) for n, p in zip(names, probs, strict=True)}
                scores = {label: scores.get(label, 0.0) for label in labels}
                record["labels"] = [label for label in labels if scores[label] >= 0.5]
                record["scores"] = scores
                out.write(dumps(record) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4], stdlib_json="--stdlib-json" in sys.argv[4:])
