"""Benchmark of the feature paths: passages/s of `featurize` per tokenise x count path and batch size.

Each way of tokenising (numpy over the bytes of ASCII text, or the `TOKEN_RE` regex for every text)
and of counting (one sparse matrix product, sorting (text, feature) pairs, or `plain`: regex tokens
counted with a Python `Counter` per text, for little text) is forced in turn, and
`auto` is what `featurize` picks by itself (the thresholds in `classifier.features.counting`);
`numpy-unpacked` tokenises with numpy but looks every token up by its string instead of by its packed
int64 key, to show what packing buys. Batch sizes 1, 2, 5, 10, 100, 1,024 and 10,000, on two kinds of text:
corpus passages (most fold to ASCII) and the corpus passages that stay non-ASCII after folding (German,
Russian, accented names; 197 of 8,337), repeated.
The feature space is the default model's; the token table is warmed first (steady state, as in a
serving process). Each figure is passages per CPU second (process time, so that other processes on a
shared machine count less), the best of `--repeats` runs of `--seconds` each, the paths interleaved.

Usage: python bench/bench_features.py [--model VERSION_DIR] [--seconds 0.3] [--repeats 5]
Bounded: in-process, about 80 s of CPU time.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from classifier.artifacts import load_scorer
from classifier.config import CORPUS_PATH
from classifier.features import counting
from classifier.features.fold import feature_text
from classifier.features.tfidf import featurize
from classifier.versions import resolve_version_dir

ROOT = Path(__file__).resolve().parent.parent
BATCH_SIZES = (1, 2, 5, 10, 100, 1_024, 10_000)  # 1,024: the chunk `LinearScorer.predict_proba` featurises at once
# path -> (NUMPY_TOKENS_MIN_CHARS, SORT_COUNT_MAX_TOKENS, pack short ASCII tokens, PLAIN_COUNT_MAX_CHARS);
# None keeps the module's value.
PATHS = {
    "auto": (None, None, True, None),
    "numpy+product": (0, -1, True, -1),
    "numpy+sort": (0, 10**12, True, -1),
    "regex+product": (10**12, -1, True, -1),
    "regex+sort": (10**12, 10**12, True, -1),
    "plain": (10**12, 10**12, True, 10**12),
    "numpy-unpacked+product": (0, -1, False, -1),
}


def _no_packing(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """`pack_spans` as if no token packed: every token is then looked up by its string."""
    return np.full(len(starts), -1, dtype=np.int64)


@contextmanager
def forced(
    numpy_min_chars: int | None,
    sort_max_tokens: int | None,
    packing: bool = True,
    plain_max_chars: int | None = None,
):
    """Force `featurize`'s choice of path (None: leave the module's threshold)."""
    saved = counting.NUMPY_TOKENS_MIN_CHARS, counting.SORT_COUNT_MAX_TOKENS, counting.pack_spans
    saved_plain = counting.PLAIN_COUNT_MAX_CHARS
    if plain_max_chars is not None:
        counting.PLAIN_COUNT_MAX_CHARS = plain_max_chars
    if numpy_min_chars is not None:
        counting.NUMPY_TOKENS_MIN_CHARS = numpy_min_chars
    if sort_max_tokens is not None:
        counting.SORT_COUNT_MAX_TOKENS = sort_max_tokens
    if not packing:
        counting.pack_spans = _no_packing
    try:
        yield
    finally:
        counting.NUMPY_TOKENS_MIN_CHARS, counting.SORT_COUNT_MAX_TOKENS, counting.pack_spans = saved
        counting.PLAIN_COUNT_MAX_CHARS = saved_plain


def passages_per_second(batches: list[list[str]], space, seconds: float) -> float:
    """Passages featurised per CPU second, featurising `batches` in turn for at least `seconds` of CPU time."""
    done = 0
    start = time.process_time()
    while (elapsed := time.process_time() - start) < seconds:
        batch = batches[(done // len(batches[0])) % len(batches)]
        featurize(batch, space)
        done += len(batch)
    return done / elapsed


def make_batches(texts: list[str], batch_size: int) -> list[list[str]]:
    """Up to 20 consecutive batches of `batch_size` passages of `texts` (repeated as needed)."""
    n_batches = max(1, min(20, 20_000 // batch_size))
    return [[texts[(b * batch_size + i) % len(texts)] for i in range(batch_size)] for b in range(n_batches)]


def main() -> None:
    """Print passages/s per path, batch size and kind of text."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model version directory (default: the current version)")
    parser.add_argument("--seconds", type=float, default=0.3, help="CPU seconds per timed run (default 0.3)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure, best kept (default 5)")
    args = parser.parse_args()
    version_dir = args.model or resolve_version_dir(ROOT / "models")
    space = load_scorer(version_dir)[0].space
    with open(CORPUS_PATH, encoding="utf-8") as handle:
        corpus = [json.loads(line)["text"] for line in handle if line.strip()]
    kinds = {
        "corpus": corpus,
        "non-ASCII": [t for t in corpus if not feature_text(t).isascii()],
    }
    featurize(corpus, space)  # warm the token table: steady state, as in a serving process
    print(f"model {version_dir.name}; passages per CPU second, best of {args.repeats} interleaved runs")
    header = f"{'text':<10} {'path':<23}" + "".join(f"{'batch ' + format(n, ','):>14}" for n in BATCH_SIZES)
    for kind, texts in kinds.items():
        best = {path: [0.0] * len(BATCH_SIZES) for path in PATHS}
        for k, batch_size in enumerate(BATCH_SIZES):
            batches = make_batches(texts, batch_size)
            for _ in range(args.repeats):  # paths interleaved, so a busy spell on the machine hits them all
                for path, thresholds in PATHS.items():
                    with forced(*thresholds):
                        best[path][k] = max(best[path][k], passages_per_second(batches, space, args.seconds))
        print(header)
        for path, rates in best.items():
            print(f"{kind:<10} {path:<23}" + "".join(f"{rate:>14,.0f}" for rate in rates))


if __name__ == "__main__":
    main()
