"""Other senses of the label words (issue 21 item 4): alert counts next to the corpus CV macro-F1.

For a model version (default: the bundled current one), or for a training configuration (`--params`, a JSON
object over `training.train.DEFAULT_PARAMS`, trained as `python -m training train` does into a temporary
directory), prints how many of the other-sense sentences of `tests/data/other_senses.py` raise any label
(target: at most a quarter), how many plain-sense ones raise their own label (target: all), and the grouped-fold
CV macro-F1 of the version's manifest, overall and per language (the model card's figures; `--cv` folds when
training). `--loso` adds leave-one-source-out macro-F1 at threshold 0.5 with the same parameters (as
`bench/cross_source.py --unsure-rows drop`). `--sentences` lists each sentence's labels and scores.
The sentences are test data: no model here trains on them.

Usage: python bench/other_senses.py [--model DIR] [--params JSON [--cv 5] [--processes 2]] [--loso] [--sentences]
e.g.   python bench/other_senses.py --params '{"hard_negative_weight": 4}' --cv 3 --loso
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the sentences live with the tests, the leave-one-source-out code in bench/

from bench.cross_source import leave_one_source_out, macro_f1_at_half  # noqa: E402
from classifier.config import CORPUS_PATH  # noqa: E402
from classifier.predictor import Predictor  # noqa: E402
from classifier.versions import resolve_version_dir  # noqa: E402
from tests.data.other_senses import OTHER_SENSES, PLAIN_SENSES, alert_counts  # noqa: E402
from training.data import load_dataset  # noqa: E402
from training.train import DEFAULT_PARAMS, train_model  # noqa: E402


def manifest_figures(version_dir: Path) -> dict:
    """CV macro-F1 overall and per language, and held-out macro-F1, from a version's manifest."""
    metrics = json.loads((version_dir / "manifest.json").read_text(encoding="utf-8"))["metrics"]
    return {
        "cv": metrics["cross_validation"]["macro"]["f1"],
        "cv_by_language": {code: m["macro"]["f1"] for code, m in metrics["cross_validation_by_language"].items()},
        "holdout": metrics["holdout"]["macro"]["f1"],
    }


def list_sentences(predictor: Predictor) -> None:
    """Print each sentence with the labels and scores the model gives it."""
    for kind, rows in (("other", OTHER_SENSES), ("plain", PLAIN_SENSES)):
        for (text, label), result in zip(rows, predictor.predict_texts([t for t, _ in rows]), strict=True):
            scores = " ".join(f"{name[:3]} {score:.2f}" for name, score in result["scores"].items())
            print(f"  {kind} [{label[:3]}] -> {','.join(result['labels']) or '-'}  ({scores})  {text}")


def report(name: str, predictor: Predictor, figures: dict, loso: float | None, seconds: float) -> None:
    """One line of the comparison table."""
    other, plain = alert_counts(predictor)
    languages = ", ".join(f"{code} {f1:.4f}" for code, f1 in figures["cv_by_language"].items())
    loso_text = f" | LOSO macro-F1@0.5 {loso:.4f}" if loso is not None else ""
    print(f"{name} | other senses alerting {other}/{len(OTHER_SENSES)} | plain alerting {plain}/{len(PLAIN_SENSES)} "
          f"| CV macro-F1 {figures['cv']:.4f} ({languages}) | held-out {figures['holdout']:.4f}{loso_text} "
          f"| {seconds:.0f} s")  # fmt: skip


def main() -> None:
    """Measure a version or a training configuration and print its line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a version directory or models directory (default: the bundled models/)")
    parser.add_argument("--params", help="train with these parameters (JSON object over DEFAULT_PARAMS) instead")
    parser.add_argument("--cv", type=int, default=5, help="grouped CV folds when training (default 5, as shipped)")
    parser.add_argument("--processes", type=int, default=2, help="parallel fits when training (default 2)")
    parser.add_argument("--loso", action="store_true", help="add leave-one-source-out macro-F1 at 0.5")
    parser.add_argument("--sentences", action="store_true", help="list every sentence's labels and scores")
    args = parser.parse_args()
    if args.model and args.params:
        parser.error("--model and --params exclude each other")
    params = json.loads(args.params) if args.params else None
    if params is not None and not isinstance(params, dict):
        parser.error("--params must be a JSON object")
    started = time.perf_counter()
    dataset = load_dataset(CORPUS_PATH) if params is not None or args.loso else None
    with tempfile.TemporaryDirectory() as scratch:
        if params is None:
            version_dir = resolve_version_dir(Path(args.model) if args.model else ROOT / "models")
            name = version_dir.name
            manifest = json.loads((version_dir / "manifest.json").read_text(encoding="utf-8"))
            used = {k: tuple(v) if isinstance(v, list) else v for k, v in manifest["params"].items()}
        else:
            used = {**DEFAULT_PARAMS, **{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}}
            version_dir = train_model(dataset=dataset, models_dir=scratch, params=used, cv=args.cv,
                                      n_jobs=args.processes, make_current=False, plots=False,
                                      progress=None)  # fmt: skip
            name = f"{json.dumps(params, sort_keys=True)}, {args.cv}-fold"
        predictor = Predictor.load(version_dir)
        figures = manifest_figures(version_dir)
    loso = None
    if args.loso:
        P = leave_one_source_out(dataset.texts, dataset.Y, dataset.sources, dataset.unsure, dataset.labels, used)
        loso = macro_f1_at_half(dataset.Y, P)
    report(name, predictor, figures, loso, time.perf_counter() - started)
    if args.sentences:
        list_sentences(predictor)


if __name__ == "__main__":
    main()
