"""``python -m benchmarks`` / ``spectral-la bench``: run the suites, print tables, write JSON."""

from __future__ import annotations

import argparse
import shlex
import sys

import torch

from benchmarks.harness import machine, print_table, write_json
from benchmarks.suites import SUITES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", choices=[*SUITES, "all"], default="all")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=None, help="default: 256 512 on CPU, 512 1024 2048 4096 8192 on CUDA"
    )
    parser.add_argument("--batched", default="16x128x512", help="per-head batched shape, 'none' to skip")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--min-run-time", type=float, default=0.3)
    parser.add_argument("--json", default="benchmarks/latest.json")


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("--device cuda: no CUDA GPU is available", file=sys.stderr)
        return 2
    sizes = args.sizes or ([512, 1024, 2048, 4096, 8192] if args.device.startswith("cuda") else [256, 512])
    batched = None if args.batched == "none" else tuple(int(v) for v in args.batched.split("x"))
    dtypes = [getattr(torch, d) for d in args.dtypes]
    suites = list(SUITES) if args.suite == "all" else [args.suite]
    print(f"device: {args.device} ({machine(args.device)}); torch {torch.__version__}")
    rows = []
    for name in suites:
        print(f"\n## suite {name}\n")
        suite_rows = [
            {"suite": name, **r} for r in SUITES[name](sizes, batched, dtypes, args.device, args.min_run_time)
        ]
        print_table(suite_rows)
        rows += suite_rows
    if args.json:
        command = "spectral-la bench " + shlex.join(argv if argv is not None else sys.argv[1:])
        write_json(args.json, args.device, rows, command)
        print(f"\nwritten to {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv), argv)


if __name__ == "__main__":
    sys.exit(main())
