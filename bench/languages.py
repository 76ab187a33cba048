"""One joint model over every language, or one model per language? Measured on grouped folds of the corpus.

Every configuration is scored on the same grouped K folds of the whole corpus (a document never
straddles folds; unsure rows are left out of every fit and scored like the rest, as `training.train`
does). Thresholds are chosen per language on the out-of-fold scores, for each configuration alike (best
F1), so the comparison is of the models, not of the threshold policy. Printed per language: macro-F1 over
the labels with a positive row in that language, and each label's F1.

Configurations:
- ``english-only``: one model on the English rows alone (today's model; its English figure is the
  baseline the others must not fall below);
- ``joint-1500``: one model on every row, 1,500 character n-grams (the shipped parameters);
- ``joint-3000``, ``joint-6000``: the same with more character n-grams (more languages share the budget);
- ``per-language``: one model per supported language, trained on its rows alone (other languages scored
  by the English one).

    python bench/languages.py [--folds 5] [--configs joint-1500,per-language]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifier.config import CORPUS_PATH
from classifier.estimator import AlertClassifier
from classifier.served_thresholds import threshold_matrix
from training.data import load_dataset
from training.splits import grouped_folds, out_of_fold_proba
from training.thresholds import choose_thresholds
from training.train import DEFAULT_PARAMS

LANGUAGES = ("en", "de", "uk")
CONFIGS = ("english-only", "joint-1500", "joint-3000", "joint-6000", "per-language")


def _oof(params, texts, Y, labels, folds, trains, rows, n_jobs):
    """Out-of-fold probabilities of `rows` (indices), the fold models fit on `rows` that are trusted."""
    index = {row: k for k, row in enumerate(rows)}
    sub_folds = []
    for train, test in folds:
        train = [index[i] for i in train if i in index and trains[i]]
        test = [index[i] for i in test if i in index]
        sub_folds.append((np.array(train, dtype=int), np.array(test, dtype=int)))
    sub_texts = [texts[i] for i in rows]
    return out_of_fold_proba(AlertClassifier(**params), sub_texts, Y[rows], labels, sub_folds, n_jobs=n_jobs)


def evaluate(config: str, dataset, folds, n_jobs: int) -> dict[str, dict]:
    """Per language: macro-F1 over labels with positives, and each label's F1."""
    texts, Y, labels, langs = dataset.texts, dataset.Y, dataset.labels, dataset.langs
    trains = ~dataset.unsure
    n = len(texts)
    P = np.zeros(Y.shape)
    scored = np.zeros(n, dtype=bool)
    if config == "english-only":
        rows = np.flatnonzero(langs == "en")
        P[rows] = _oof(DEFAULT_PARAMS, texts, Y, labels, folds, trains, rows, n_jobs)
        scored[rows] = True
    elif config.startswith("joint-"):
        params = {**DEFAULT_PARAMS, "char_features": int(config.split("-")[1])}
        rows = np.arange(n)
        P[:] = _oof(params, texts, Y, labels, folds, trains, rows, n_jobs)
        scored[:] = True
    elif config == "per-language":
        for code in LANGUAGES:
            rows = np.flatnonzero(langs == code)
            P[rows] = _oof(DEFAULT_PARAMS, texts, Y, labels, folds, trains, rows, n_jobs)
            scored[rows] = True
    else:
        raise SystemExit(f"unknown configuration {config!r}; choose from {', '.join(CONFIGS)}")
    out = {}
    for code in LANGUAGES:
        rows = np.flatnonzero((langs == code) & scored)
        if not len(rows):
            continue
        policy = choose_thresholds(Y[rows], P[rows], labels, {})
        thresholds = threshold_matrix(labels, [policy[x]["threshold"] for x in labels], {}, {}, langs[rows])
        predicted = (P[rows] >= thresholds).astype(int)
        f1 = {}
        for j, label in enumerate(labels):
            y, p = Y[rows, j], predicted[:, j]
            tp, fp, fn = int((y & p).sum()), int(((1 - y) & p).sum()), int((y & (1 - p)).sum())
            f1[label] = (2 * tp / (2 * tp + fp + fn)) if (2 * tp + fp + fn) else None
        with_positives = [f1[label] for j, label in enumerate(labels) if Y[rows, j].any()]
        out[code] = {"macro_f1": float(np.mean(with_positives)), "f1": f1, "rows": len(rows)}
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the comparison table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--data", default=str(CORPUS_PATH))
    args = parser.parse_args(argv)
    dataset = load_dataset(Path(args.data))
    folds = grouped_folds(dataset.Y, dataset.groups, args.folds)
    labels = dataset.labels
    print(f"{len(dataset.texts)} rows; languages {dataset.language_counts()}; {args.folds} grouped folds")
    print(f"{'configuration':<14}{'lang':>5}{'rows':>7}{'macro-F1':>10}" + "".join(f"{x[:12]:>14}" for x in labels)
          + f"{'seconds':>9}")  # fmt: skip
    for config in args.configs.split(","):
        started = time.perf_counter()
        results = evaluate(config, dataset, folds, args.processes)
        seconds = time.perf_counter() - started
        for code, r in results.items():
            cells = "".join(f"{'n/a' if r['f1'][x] is None else format(r['f1'][x], '.3f'):>14}" for x in labels)
            print(f"{config:<14}{code:>5}{r['rows']:>7}{r['macro_f1']:>10.3f}{cells}{seconds:>9.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
