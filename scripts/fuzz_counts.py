"""Count the outcomes of the whole-range robustness checker over a deterministic draw of cases.

    .venv/bin/python scripts/fuzz_counts.py [--cases N] [--seed S]

Prints, per function and in total: tried, correct, clear error, flagged (converged=False), skipped
(outside the function's domain by construction) and silent wrong (must be 0). The README records
the numbers of the default run. The checker and its tolerances: tests/robustness.py.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.robustness import DTYPES, FUNCTIONS, ROOT_FUNCTIONS, Case, check, exponent_range  # noqa: E402


def draw(rng: random.Random) -> Case:
    function = rng.choice(FUNCTIONS)
    dtype = rng.choice(sorted(DTYPES))
    lo, hi = exponent_range(dtype)
    exponent = rng.choice([lo, hi, 0, rng.randint(lo, hi), rng.randint(lo, hi)])
    m, n = rng.randint(1, 9), rng.randint(1, 9)
    if function in ROOT_FUNCTIONS:
        m = n
    return Case(function, dtype, exponent, m, n, rng.choice([0, 0, 2]), rng.randint(1, min(m, n)), rng.randint(0, 9999))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    wrong = []
    for _ in range(args.cases):
        case = draw(rng)
        try:
            outcome = check(case)
        except AssertionError as exc:
            outcome = "silent wrong"
            wrong.append(str(exc))
        counts[case.function][outcome] += 1
        counts["total"][outcome] += 1
    cols = ["correct", "error", "flagged", "skip", "silent wrong"]
    print("| function | tried | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 2) + "|")
    for name in [*FUNCTIONS, "total"]:
        c = counts[name]
        print(f"| {name} | {sum(c.values())} | " + " | ".join(str(c[k]) for k in cols) + " |")
    for w in wrong:
        print(w, file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
