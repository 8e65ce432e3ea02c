"""Speed and error of the matmul-only roots / fractional powers against their exact counterparts.

One run, one machine: ratios `exact_over_ours` (speed-up over eigh / SVD) and the
max error against the exact result, in fp32.

Run: ``python benchmarks/roots.py [--device cuda] [--sizes 256 512 1024] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import math
import platform
from functools import partial

import torch
from torch.utils.benchmark import Timer

import spectral_la as sl


def _time(fn, min_run_time: float) -> float:
    return Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time).median


def _spd(n: int, kappa: float, device: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=g))
    lam = torch.logspace(0, -math.log10(kappa), n, dtype=torch.float64)
    return ((q * lam) @ q.T).float().to(device)


def cases(n: int, device: str):
    a = _spd(n, 1e3, device)
    x = torch.randn(n, 4 * n, device=device)
    x0 = x / (torch.linalg.matrix_norm(x) + 1e-7)
    yield (
        "coupled_newton r=2, 25 steps",
        partial(sl.coupled_inverse_root, a, 2, steps=25, check_finite=False),
        partial(sl.inverse_root, a, 2),
        lambda res: res.root,
    )
    yield (
        "coupled_newton r=4, 25 steps",
        partial(sl.coupled_inverse_root, a, 4, steps=25, check_finite=False),
        partial(sl.inverse_root, a, 4),
        lambda res: res.root,
    )
    yield (
        "coupled_ns r=2, 25 steps",
        partial(sl.coupled_inverse_root, a, 2, method="newton_schulz", steps=25, check_finite=False),
        partial(sl.inverse_root, a, 2),
        lambda res: res.root,
    )
    yield (
        "muon_p p=1/3 bivariate",
        partial(sl.muon_p, x, 1 / 3, check_finite=False),
        partial(sl.fractional_power, x0, 1 / 3),
        lambda y: y,
    )
    yield (
        "muon_p p=0.5 coupled, 30 steps",
        partial(sl.muon_p, x, 0.5, method="coupled", steps=30, check_finite=False),
        partial(sl.fractional_power, x0, 0.5),
        lambda y: y,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--min-run-time", type=float, default=0.5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    rows = []
    for n in args.sizes:
        for name, ours, exact, pick in cases(n, args.device):
            t_ours, t_exact = _time(ours, args.min_run_time), _time(exact, args.min_run_time)
            err = float((pick(ours()).double() - exact().double()).abs().max())
            rows.append(
                {
                    "method": name,
                    "n": n,
                    "ms": t_ours * 1e3,
                    "exact_ms": t_exact * 1e3,
                    "exact_over_ours": t_exact / t_ours,
                    "max_error_vs_exact": err,
                }
            )
    machine = (
        torch.cuda.get_device_name()
        if args.device == "cuda"
        else f"{platform.processor() or 'cpu'}, {torch.get_num_threads()} threads"
    )
    print(f"device: {args.device} ({machine}); torch {torch.__version__}; fp32")
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in r.values()) + " |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"device": args.device, "machine": machine, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
