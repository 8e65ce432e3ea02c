"""The BLAS symmetric-product route against torch's general products, at 1 and 2 threads, idle and under load.

Not a test: a measurement for ``benchmarks/RESULTS.md``. One fp32 Newton–Schulz run (``jordan_ns5``,
5 steps) on a seeded m × n matrix is timed with ``symmetric_products("on")`` (the ?syrk route at
every size, so that the shapes around :data:`~spectral_la.symmetric_products.AUTO_MIN_ROWS` test
the threshold "auto" applies) and ``"off"`` (torch's products only), alternated for ``--rounds``
rounds, at each thread count, once on an idle machine and once while a second process keeps one
core busy (a pure-Python loop: the contention of a shared CI machine or a data loader). The ratio
on/off per round, its median and range are the result.

    python -m spectral_la.benchmarks.symmetric_contention --json benchmarks/results_symmetric_contention.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import subprocess
import sys
from collections.abc import Iterator

import torch

import spectral_la as sl
from spectral_la.benchmarks.__main__ import matrix_shape
from spectral_la.benchmarks.harness import paired_seconds, write_json
from spectral_la.symmetric_products import symmetric_products


@contextlib.contextmanager
def busy_core(on: bool) -> Iterator[None]:
    """A second process spinning on one core while the block runs (nothing when ``on`` is False)."""
    if not on:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def rows(shapes, threads, rounds: int, min_run_time: float) -> list[dict]:
    out = []
    before = torch.get_num_threads()
    try:
        for m, n in shapes:
            x = torch.randn(m, n, generator=torch.Generator().manual_seed(0))

            def ns(how: str, x=x) -> None:
                with symmetric_products(how):
                    sl.newton_schulz(x, "jordan_ns5", check_finite=False)

            for t in threads:
                torch.set_num_threads(t)
                for load in (False, True):
                    with busy_core(load):
                        on, off, ratio, (lo, hi) = paired_seconds(
                            lambda: ns("on"), lambda: ns("off"), min_run_time, rounds
                        )
                    row = {
                        "shape": f"{m}x{n}",
                        "dtype": "float32",
                        "threads": t,
                        "other_load": "one core busy" if load else "idle",
                        "symmetric_ms": on * 1e3,
                        "plain_ms": off * 1e3,
                        "symmetric_over_plain": ratio,
                        "range": f"{lo:.3g}–{hi:.3g}",
                        "rounds": rounds,
                    }
                    print(json.dumps(row), flush=True)
                    out.append(row)
    finally:
        torch.set_num_threads(before)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=matrix_shape, default=[(512, 2048), (1024, 4096)], help="MxN shapes")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--min-run-time", type=float, default=0.3)
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    shapes = args.sizes
    result = rows(shapes, args.threads, args.rounds, args.min_run_time)
    if args.json:
        write_json(
            args.json,
            "cpu",
            result,
            "python -m spectral_la.benchmarks.symmetric_contention "
            + shlex.join(sys.argv[1:] if argv is None else argv),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
