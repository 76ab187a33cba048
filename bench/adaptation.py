"""How much labelling a new source's passages helps, by selection strategy: learning curves.

For each corpus source in turn (leave-one-source-out; sources with fewer than 400 rows are skipped): a
model is trained on the other sources (thresholds by 3-fold grouped CV on them, best F1), the source's
documents are split in half at random, and k passages picked from the first half by each strategy of
`training.select` are given their corpus labels and added to training (with the sample weight `--weight`);
the model is refitted and scored (macro-F1 at the base model's thresholds) on the second half. Three
seeds (each a different split of the documents, and a different random sample). With `--weights`, the
default strategy at k = 200 is also run with other sample weights of the added rows (corpus rows weigh 1).

Prints the table, writes bench/results/adaptation.json and bench/results/adaptation.png.
Usage: python bench/adaptation.py [--ks 50,100,200,400] [--seeds 3] [--weights 1,2,3] [--sources a,b] [--base-rows N]
       python bench/adaptation.py --from-json run1.json run2.json   (merge saved runs: table and plot)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from classifier.config import CORPUS_PATH, DEFAULT_LABELS
from classifier.estimator import AlertClassifier
from classifier.predictor import Predictor
from classifier.scorer import LinearScorer
from training.select import DEFAULT_STRATEGY, STRATEGIES, select
from training.splits import grouped_folds, out_of_fold_proba
from training.thresholds import choose_thresholds
from training.train import DEFAULT_PARAMS

RESULTS = Path(__file__).resolve().parent / "results"
MIN_SOURCE_ROWS = 400


def fit(texts, Y, thresholds=None, sample_weight=None) -> AlertClassifier:
    """The default model fitted on (texts, Y) (rows weighted by `sample_weight`), with the given thresholds."""
    model = AlertClassifier(**DEFAULT_PARAMS).fit(list(texts), Y, labels=list(DEFAULT_LABELS),
                                                  sample_weight=sample_weight)  # fmt: skip
    if thresholds is not None:
        model.set_thresholds(thresholds)
    return model


def macro_f1(model: AlertClassifier, texts, Y) -> float:
    """Macro-F1 of the model's decisions at its thresholds."""
    return float(f1_score(Y, model.predict(list(texts)), average="macro", zero_division=0))


def base_model(texts, Y, groups):
    """A model of the other sources with best-F1 thresholds from 3-fold grouped out-of-fold scores."""
    folds = grouped_folds(Y, groups, 3)
    oof = out_of_fold_proba(AlertClassifier(**DEFAULT_PARAMS), list(texts), Y, list(DEFAULT_LABELS), folds, n_jobs=1)
    policy = choose_thresholds(Y, oof, list(DEFAULT_LABELS), {})
    thresholds = np.array([policy[label]["threshold"] for label in DEFAULT_LABELS])
    return fit(texts, Y, thresholds), thresholds


def main() -> None:
    """Run the learning curves and print, save and plot them."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(CORPUS_PATH))
    parser.add_argument("--ks", default="50,100,200,400")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--weights", default="", help="feedback weights to try with the default strategy at k=200")
    parser.add_argument("--sources", default="", help="comma-separated sources (default: all large enough)")
    parser.add_argument("--base-rows", type=int, default=0,
                        help="base model on this many rows of the other sources (default: all)")  # fmt: skip
    parser.add_argument("--from-json", nargs="+", metavar="FILE",
                        help="print the table and plot of saved runs (merged) instead of running")  # fmt: skip
    args = parser.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    weights = [float(w) for w in args.weights.split(",") if w]
    if args.from_json:
        results = [r for path in args.from_json for r in json.loads(Path(path).read_text())]
        names = sorted({r["source"] for r in results})
        print_table(results, names, ks, weights)
        plot(results, names, ks, RESULTS / "adaptation.png")
        return
    rows = [json.loads(line) for line in Path(args.data).read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = np.array([r["text"] for r in rows], dtype=object)
    Y = np.array([[label in r["labels"] for label in DEFAULT_LABELS] for r in rows], dtype=int)
    sources = np.array([r["source"] for r in rows])
    docs = np.array([r["doc"] for r in rows], dtype=object)
    unsure = np.array([r.get("unsure", False) for r in rows])
    names = (
        args.sources.split(",")
        if args.sources
        else sorted(s for s in set(sources) if (sources == s).sum() >= MIN_SOURCE_ROWS)
    )
    started = time.perf_counter()
    RESULTS.mkdir(exist_ok=True)
    results = []  # {source, seed, strategy, k, weight, f1}
    for source in names:
        train = (sources != source) & ~unsure  # as `training train` does: unsure rows left out of fits
        if args.base_rows and train.sum() > args.base_rows:  # a cheaper run on a busy machine
            keep = np.random.default_rng(0).choice(np.flatnonzero(train), args.base_rows, replace=False)
            train = np.isin(np.arange(len(rows)), keep)
        model0, thresholds = base_model(texts[train], Y[train], docs[train])
        predictor = Predictor(LinearScorer.from_estimator(model0), {"version": f"without-{source}"})
        in_source = np.flatnonzero(sources == source)
        source_docs = sorted(set(docs[in_source]))
        for seed in range(args.seeds):
            order = np.random.default_rng(seed).permutation(len(source_docs))
            first = {source_docs[i] for i in order[: len(order) // 2]}
            pool = [i for i in in_source if docs[i] in first]
            test = np.array([i for i in in_source if docs[i] not in first])
            f0 = macro_f1(model0, texts[test], Y[test])
            results.append({"source": source, "seed": seed, "strategy": "none", "k": 0, "weight": 1, "f1": f0})
            pool_rows = [{"text": texts[i], "doc": docs[i], "row": int(i)} for i in pool]
            runs = [(s, k, 1) for s in STRATEGIES for k in ks] + [(DEFAULT_STRATEGY, 200, w) for w in weights if w != 1]
            for strategy, k, weight in runs:
                picked = [p["row"] for p in select(predictor, pool_rows, k, strategy, seed=seed)]
                fit_rows = np.concatenate([np.flatnonzero(train), picked])
                sample_weight = np.where(np.arange(len(fit_rows)) < train.sum(), 1.0, weight) if weight != 1 else None
                model = fit(texts[fit_rows], Y[fit_rows], thresholds, sample_weight)
                f1 = macro_f1(model, texts[test], Y[test])
                results.append({"source": source, "seed": seed, "strategy": strategy, "k": k, "weight": weight,
                                "f1": f1})  # fmt: skip
            (RESULTS / "adaptation.json").write_text(json.dumps(results, indent=1))  # partial results survive
            done = [r for r in results if r["source"] == source and r["seed"] == seed]
            summary = ", ".join(f"{r['strategy']}@{r['k']}x{r['weight']} {r['f1']:.3f}" for r in done)
            print(
                f"[{time.perf_counter() - started:.0f} s] {source} seed {seed}: {summary}", file=sys.stderr, flush=True
            )
    (RESULTS / "adaptation.json").write_text(json.dumps(results, indent=1))
    print_table(results, names, ks, weights)
    plot(results, names, ks, RESULTS / "adaptation.png")
    print(f"\n{time.perf_counter() - started:.0f} s; results in {RESULTS}/adaptation.json and adaptation.png")


def mean_f1(results, strategy, k, source=None, weight=1) -> float:
    """Mean macro-F1 over seeds (and sources unless one is given)."""
    found = [r["f1"] for r in results if r["strategy"] == strategy and r["k"] == k and r["weight"] == weight
             and (source is None or r["source"] == source)]  # fmt: skip
    return float(np.mean(found)) if found else float("nan")


def print_table(results, names, ks, weights) -> None:
    """Mean macro-F1 on the second half, by strategy and k: over all sources, then per source."""
    print("Macro-F1 on the held-out half of the unseen source, mean over sources and seeds "
          f"(k = 0: {mean_f1(results, 'none', 0):.3f})")  # fmt: skip
    print(f"{'strategy':<10}" + "".join(f"{'k=' + str(k):>9}" for k in ks))
    for strategy in STRATEGIES:
        print(f"{strategy:<10}" + "".join(f"{mean_f1(results, strategy, k):>9.3f}" for k in ks))
    print("\nPer source (k = 0, then each strategy at k = 200):")
    print(f"{'source':<26}{'k=0':>8}" + "".join(f"{s:>9}" for s in STRATEGIES))
    for source in names:
        cells = "".join(f"{mean_f1(results, s, 200, source):>9.3f}" for s in STRATEGIES)
        print(f"{source:<26}{mean_f1(results, 'none', 0, source):>8.3f}{cells}")
    if weights:
        print(f"\nFeedback weight ({DEFAULT_STRATEGY}, k = 200), mean over sources and seeds:")
        for weight in sorted(set([1, *weights])):
            print(f"  weight {weight}: {mean_f1(results, DEFAULT_STRATEGY, 200, weight=weight):.3f}")


def plot(results, names, ks, path: Path) -> None:
    """Learning curves: mean macro-F1 against k per strategy, the k = 0 model as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for strategy in STRATEGIES:
        ax.plot(ks, [mean_f1(results, strategy, k) for k in ks], marker="o", label=strategy)
    ax.axhline(mean_f1(results, "none", 0), color="grey", linestyle="--", label="no new labels")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("labelled passages from the new source (k)")
    ax.set_ylabel("macro-F1 on its other documents")
    seeds = len({r["seed"] for r in results})
    ax.set_title(f"Adapting to an unseen source (mean of {len(names)} sources x {seeds} seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
