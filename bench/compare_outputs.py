"""Compare two JSONL outputs of `predict` or `score` record by record, field by field.

For a restructuring that must not change results: run the old and the new code on the same input with the
same model, then this. Prints, for each top-level field (and each field of a passage and of an alert), in
how many records it is equal, different, only in the old output or only in the new one, with a first example
of each difference. Scores are compared exactly (both sides round them the same way).

Usage: python bench/compare_outputs.py OLD.jsonl NEW.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from collections.abc import Iterable

# Fields whose values are lists of objects, compared element-wise by index.
LIST_FIELDS = ("passages",)
# Fields whose values are objects of objects (label -> {...}), compared per inner field.
NESTED_FIELDS = ("alerts",)


def _objects(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def compare_values(prefix: str, old: dict, new: dict, counts: defaultdict, examples: dict) -> None:
    """Count, per key of `old` and `new` (named under `prefix`), whether the two agree."""
    for key in dict.fromkeys([*old, *new]):
        name = f"{prefix}{key}"
        if key not in new:
            counts[name]["only old"] += 1
            examples.setdefault((name, "only old"), old[key])
        elif key not in old:
            counts[name]["only new"] += 1
            examples.setdefault((name, "only new"), new[key])
        elif key in LIST_FIELDS and _objects(old[key]) and _objects(new[key]):
            counts[name]["equal" if old[key] == new[key] else "different"] += 1
            if len(old[key]) != len(new[key]):
                counts[f"{name}[] count"]["different"] += 1
                examples.setdefault((f"{name}[] count", "different"), (len(old[key]), len(new[key])))
            for a, b in zip(old[key], new[key], strict=False):
                compare_values(f"{name}[].", a, b, counts, examples)
        elif key in NESTED_FIELDS and isinstance(old[key], dict) and isinstance(new[key], dict):
            counts[name]["equal" if old[key] == new[key] else "different"] += 1
            for label in dict.fromkeys([*old[key], *new[key]]):
                a, b = old[key].get(label, {}), new[key].get(label, {})
                compare_values(f"{name}.*.", a if isinstance(a, dict) else {"value": a},
                               b if isinstance(b, dict) else {"value": b}, counts, examples)  # fmt: skip
        else:
            same = old[key] == new[key]
            counts[name]["equal" if same else "different"] += 1
            if not same:
                examples.setdefault((name, "different"), (old[key], new[key]))


def records(path: str) -> Iterable[dict]:
    """The JSON objects of a JSONL file, in order."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def main() -> None:
    """Compare the two files and print the table and the first example of each difference."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old")
    parser.add_argument("new")
    args = parser.parse_args()
    counts: defaultdict[str, Counter] = defaultdict(Counter)
    examples: dict = {}
    n = 0
    for old, new in zip(records(args.old), records(args.new), strict=True):
        compare_values("", old, new, counts, examples)
        n += 1
    print(f"{n} records")
    print(f"{'field':<34}{'equal':>9}{'different':>11}{'only old':>10}{'only new':>10}")
    for name, c in counts.items():
        print(f"{name:<34}{c['equal']:>9}{c['different']:>11}{c['only old']:>10}{c['only new']:>10}")
    print("\nFirst example of each difference:")
    for (name, kind), value in examples.items():
        print(f"- {name} ({kind}): {json.dumps(value, ensure_ascii=False)[:300]}")


if __name__ == "__main__":
    main()
