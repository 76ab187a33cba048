"""fastText's side of the speed comparison (`bench/bench_model.py`): train the baseline, and score a JSONL file
the way `python -m classifier predict` does.

`train` fits a supervised fastText model (one-vs-all, word bigrams, 25 epochs) on a file in fastText's
format. `predict` reads JSONL records with a `text` field, predicts every label's probability with the
model, and writes one JSON object per record (other fields echoed, `labels` above 0.5, `scores`). JSON is
read and written with orjson, as `python -m classifier predict` does, so the comparison is of the models and
pipelines, not of JSON libraries; `--stdlib-json` uses Python's `json` module instead.

Runs in its own virtual environment (`make bench` builds `.venv-bench` from requirements-bench.txt):
fastText's own `fasttext_pybind` module would replace the one of `fasttext-predict`, which the project
identifies languages with, if both were installed in the project's environment.

Usage: python bench/fasttext_baseline.py train TRAIN.txt MODEL.bin
       python bench/fasttext_baseline.py predict MODEL.bin INPUT.jsonl OUTPUT.jsonl [--stdlib-json]
"""

import json
import sys

import fasttext
import orjson

CHUNK = 4096


def train(train_path: str, model_path: str) -> None:
    """Fit the baseline on `train_path` (fastText's format) and save it to `model_path`."""
    model = fasttext.train_supervised(train_path, loss="ova", wordNgrams=2, epoch=25, verbose=0)
    model.save_model(model_path)


def predict(model_path: str, input_path: str, output_path: str, stdlib_json: bool = False) -> None:
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


def main(argv: list[str]) -> int:
    """Run `train` or `predict` (see the module docstring); 2 with the usage for anything else, or when this
    Python has fasttext-predict's `fasttext` (prediction only) instead of fastText's own."""
    if not hasattr(fasttext, "train_supervised"):
        print(f"{sys.executable}: its fasttext module is fasttext-predict's, which cannot train; run this with "
              ".venv-bench/bin/python (make bench builds it from requirements-bench.txt)", file=sys.stderr)  # fmt: skip
        return 2
    if len(argv) == 3 and argv[0] == "train":
        train(argv[1], argv[2])
    elif len(argv) in (4, 5) and argv[0] == "predict" and argv[4:] in ([], ["--stdlib-json"]):
        predict(*argv[1:4], stdlib_json=argv[4:] == ["--stdlib-json"])
    else:
        print(__doc__.split("Usage: ")[1].strip(), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
