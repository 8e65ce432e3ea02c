"""``python -m spectral_la.benchmarks`` / ``spectral-la bench``: run the suites, print tables, write JSON."""

from __future__ import annotations

import argparse
import shlex
import sys

#: The suites of benchmarks/suites.py (SUITES), named here so that ``--help`` imports nothing heavy;
#: tests/test_benchmarks.py checks the two agree.
SUITE_NAMES = ("ns", "roots", "exact", "peers", "mp", "sweep")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= 65536:
        raise argparse.ArgumentTypeError(f"must be in [1, 65536], got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def _batched_shape(text: str) -> tuple[int, ...] | None:
    if text == "none":
        return None
    parts = text.split("x")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected BxMxN or 'none', got {text!r}")
    return tuple(_positive_int(p) for p in parts)


def matrix_shape(text: str) -> tuple[int, int]:
    """An ``MxN`` argument as (m, n), each in [1, 65536] (an argparse type; also the benchmark modules')."""
    parts = text.split("x")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected MxN, got {text!r}")
    return (_positive_int(parts[0]), _positive_int(parts[1]))


def _device(text: str) -> str:
    import torch

    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"not a torch device: {text!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text}: no CUDA GPU is available")
    if device.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"device must be cpu or cuda[:N], got {text!r}")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", choices=[*SUITE_NAMES, "all"], default="all", help="which suite (default all)")
    parser.add_argument("--device", type=_device, default="cpu", help="cpu or cuda[:N] (default cpu)")
    parser.add_argument(
        "--sizes",
        type=_positive_int,
        nargs="+",
        default=None,
        help="default: 256 512 on CPU, 512 1024 2048 4096 8192 on CUDA",
    )
    parser.add_argument(
        "--batched", type=_batched_shape, default="16x128x512", help="BxMxN, 'none' to skip (default 16x128x512)"
    )
    parser.add_argument(
        "--storage-dtypes",
        nargs="+",
        default=["float32", "bfloat16"],
        help="dtypes of the benchmarked matrices: fp64, fp32, bf16, fp16, … (default fp32 bf16)",
    )
    parser.add_argument(
        "--symmetric-shapes",
        type=matrix_shape,
        nargs="+",
        default=None,
        help="MxN shapes of the peers suite's symmetric-product rows (default 1024x4096 on CPU, "
        "4096x4096 4096x16384 on CUDA)",
    )
    parser.add_argument(
        "--min-run-time", type=_positive_float, default=0.3, help="seconds each timing runs (default 0.3)"
    )
    parser.add_argument("--json", default="benchmarks/latest.json", help="JSON output (default benchmarks/latest.json)")
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="cost curves instead of the suites: time against n for every polar route, against n/m for NS, "
        "and the mpmath path against n and digits, with fitted exponents (--sizes: the n values, default "
        "128 256 512 1024 on CPU)",
    )
    parser.add_argument("--figure", default=None, help="--scaling only: the figure (default benchmarks/scaling.png)")


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    import torch

    from spectral_la.benchmarks.harness import machine, print_table, write_json
    from spectral_la.benchmarks.suites import SUITES
    from spectral_la.dtypes import parse_dtype

    if args.scaling:
        return _run_scaling(args, argv)
    if args.figure is not None:
        raise ValueError("bench: --figure draws the cost curves of --scaling; pass --scaling with it")
    sizes = args.sizes or ([512, 1024, 2048, 4096, 8192] if args.device.startswith("cuda") else [256, 512])
    batched = args.batched
    dtypes = [parse_dtype(d, "--storage-dtypes") for d in args.storage_dtypes]
    suites = list(SUITES) if args.suite == "all" else [args.suite]
    print(f"device: {args.device} ({machine(args.device)}); torch {torch.__version__}")
    rows = []
    for name in suites:
        print(f"\n## suite {name}\n")
        suite_rows = [
            {"suite": name, **r}
            for r in SUITES[name](
                sizes, batched, dtypes, args.device, args.min_run_time, symmetric_shapes=args.symmetric_shapes
            )
        ]
        print_table(suite_rows)
        rows += suite_rows
    if args.json:
        command = "spectral-la bench " + shlex.join(argv if argv is not None else sys.argv[1:])
        write_json(args.json, args.device, rows, command)
        print(f"\nwritten to {args.json}")
    return 0


def _run_scaling(args: argparse.Namespace, argv: list[str] | None) -> int:
    import torch

    from spectral_la.benchmarks.harness import machine, print_table, write_json
    from spectral_la.benchmarks.scaling import plot_scaling, scaling_rows, summary_rows

    # The cost curves time fp32 square inputs of every polar route: the suites' options have no meaning there.
    given = {
        "--suite": args.suite != "all",
        "--batched": args.batched != _batched_shape("16x128x512"),
        "--storage-dtypes": args.storage_dtypes != ["float32", "bfloat16"],
        "--symmetric-shapes": args.symmetric_shapes is not None,
    }
    if any(given.values()):
        raise ValueError(f"bench --scaling takes --sizes, --device, --min-run-time, --json and --figure, not "
                         f"{', '.join(flag for flag, on in given.items() if on)}")  # fmt: skip
    sizes = args.sizes or ([512, 1024, 2048, 4096] if args.device.startswith("cuda") else [128, 256, 512, 1024])
    where = f"{args.device} ({machine(args.device)}), torch {torch.__version__}"
    print(f"device: {where}")
    rows = scaling_rows(sizes, device=args.device, min_run_time=args.min_run_time)
    print_table(summary_rows(rows))
    if args.json:
        command = "spectral-la bench " + shlex.join(argv if argv is not None else sys.argv[1:])
        write_json(args.json, args.device, rows, command)
        print(f"\nwritten to {args.json}")
    print(f"figure: {plot_scaling(rows, args.figure or 'benchmarks/scaling.png', where)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spectral_la.benchmarks", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv), argv)


if __name__ == "__main__":
    sys.exit(main())
