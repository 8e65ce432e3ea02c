"""Command line: ``spectral-la report`` (the main job)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spectral-la", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="measure every method and write reports/report.md")
    rep.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="torch device (default cpu)")
    rep.add_argument("--out", type=Path, default=Path("reports"), help="output folder (default ./reports)")
    rep.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)

    if args.command == "report":
        import torch

        if args.device == "cuda" and not torch.cuda.is_available():
            parser.error("--device cuda: no CUDA GPU is available")
        from analysis.report import build_report

        path = build_report(args.out, device=args.device, progress=not args.no_progress)
        print(path.read_text())
        print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
