"""What language identification costs `python -m classifier predict`: the same run with it and without.

Runs the command's `main` in this process on the same JSONL input, alternating rounds with language
identification on and off, and prints the CPU seconds of each round and the cost of identification as a
share of the run's throughput. Off is `predict` as it was before languages: no identification anywhere
(every passage undetermined, so every one is scored with the global thresholds) and every block split with
the English Punkt parameters (segmentation identifies no block). Rounds with identification also time
the identifier inside the run (the predictor's passages and segmentation's blocks): that share, taken
within one run, moves less with the machine's speed from minute to minute than the difference of two runs.

    python bench/bench_language_cost.py --input lines.jsonl [--rounds 3] [--model DIR]
    python bench/bench_language_cost.py --make-input 100000 --input /tmp/en.jsonl   # English corpus lines
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifier import cli, predictor, segment
from classifier.config import CORPUS_PATH


def make_input(path: Path, lines: int) -> None:
    """`lines` JSONL records cycling through the corpus's English rows."""
    with open(CORPUS_PATH, encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle if '"lang"' not in line]
    with open(path, "w", encoding="utf-8") as out:
        for i, text in zip(range(lines), itertools.cycle(texts), strict=False):
            out.write(json.dumps({"id": i, "text": text}) + "\n")


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (predict's worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _timed(function, spent: list[float]):
    """`function`, adding the CPU seconds of each call (this process) to spent[0]."""

    def timed(*args, **kwargs):
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[0] += time.process_time() - started

    return timed


def run_once(args, identify: bool, spent: list[float] | None = None) -> float:
    """CPU seconds of one `predict` run (its worker processes, forked with the patch in place, included);
    with identification, spent[0] gains the CPU seconds spent in the identifier (one process only)."""
    output = Path(tempfile.mkdtemp()) / "out.jsonl"
    argv = ["predict", "-i", str(args.input), "-o", str(output), "--processes", str(args.processes)]
    argv += ["--model", args.model] if args.model else []
    started = _cpu()
    if identify:
        spent = spent if spent is not None else [0.0]
        with (
            mock.patch.object(predictor, "identify_codes", _timed(predictor.identify_codes, spent)),
            mock.patch.object(segment, "_block_language", _timed(segment._block_language, spent)),
        ):
            code = cli.main(argv)
    else:
        with (
            mock.patch.object(predictor, "identify_codes", lambda texts, *_, **__: [None] * len(texts)),
            mock.patch.object(segment, "_block_language", lambda block, language, memo=None: language or "en"),
        ):
            code = cli.main(argv)
    seconds = _cpu() - started
    if code != 0:
        raise SystemExit(f"predict exited with {code}")
    output.unlink()
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Print each round and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--make-input", type=int, metavar="LINES")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model")
    parser.add_argument("--processes", type=int, default=1, help="predict's --processes (default 1: least noisy)")
    args = parser.parse_args(argv)
    if args.make_input:
        make_input(args.input, args.make_input)
    run_once(args, True)  # warm: imports, model load, Punkt
    with_id, without, inside = [], [], []
    for round_no in range(1, args.rounds + 1):
        without.append(run_once(args, False))
        spent = [0.0]
        with_id.append(run_once(args, True, spent))
        inside.append(spent[0] / with_id[-1])
        print(f"round {round_no}: without identification {without[-1]:.2f} s CPU, with {with_id[-1]:.2f} s "
              f"(of which {spent[0]:.2f} s in the identifier, {inside[-1]:.1%})", flush=True)  # fmt: skip
    a, b = statistics.median(without), statistics.median(with_id)
    print(f"median CPU: without {a:.2f} s, with {b:.2f} s; identification costs {(b - a) / b:.1%} of the run's "
          f"throughput ({(b - a) / a:.1%} more CPU)")  # fmt: skip
    if args.processes == 1:
        print(f"inside the runs with identification: median {statistics.median(inside):.1%} of the CPU was spent "
              "in the identifier")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
