"""Speed of the Newton–Schulz family against its matmul limit and against SVD polar.

For each schedule, shape and dtype, one run measures (torch.utils.benchmark,
median of blocked autorange; CUDA synchronised by the timer):

* ``ours``      -- spectral_la.newton_schulz / gram_newton_schulz / soften;
* ``chain``     -- the same matmuls with the same shapes and nothing else (the
                   practical limit of a matmul-only method), on an orthonormal
                   input so values stay bounded;
* ``svd``       -- polar factor from torch.linalg.svd (U @ Vh) in fp32.

and prints the ratios ``ours/chain`` (overhead; target ≤ 1.10 on GPU) and
``svd/ours`` (speed-up over the exact route). Ratios come from one run on one
machine; absolute times are only meaningful on a GPU.

Run: ``python benchmarks/newton_schulz.py [--device cuda] [--sizes 512 1024] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from functools import partial

import torch
from torch.utils.benchmark import Timer

import spectral_la as sl

METHODS: dict[str, Callable] = {
    "ns polar_express": lambda x, dt: sl.newton_schulz(x, "polar_express", compute_dtype=dt, check_finite=False),
    "ns jordan_ns5": lambda x, dt: sl.newton_schulz(x, "jordan_ns5", compute_dtype=dt, check_finite=False),
    "gram_ns polar_express": lambda x, dt: sl.gram_newton_schulz(x, compute_dtype=dt, check_finite=False),
    "soften s=0.3": lambda x, dt: sl.soften(x, 0.3, compute_dtype=dt, check_finite=False),
}


def matmul_chain(x: torch.Tensor, steps: int) -> torch.Tensor:
    """The matmuls of `steps` degree-5 NS steps on a wide x: X Xᵀ, A², B X."""
    for _ in range(steps):
        a = x @ x.mT
        b = a @ a
        x = b @ x
    return x


def gram_chain(x: torch.Tensor, steps: int) -> torch.Tensor:
    """The matmuls of Gram NS with one restart after step 2 (degree 5)."""
    r = x @ x.mT
    q = None
    for k in range(steps):
        if k == 2:
            x, q = q @ x, None
            r = x @ x.mT
        h = r @ r
        q = h if q is None else h @ q
        if k + 1 < steps:
            r = (h @ r) @ h
    return q @ x


def svd_polar(x: torch.Tensor) -> torch.Tensor:
    u, _, vh = torch.linalg.svd(x.float(), full_matrices=False)
    return u @ vh


def _time(fn: Callable, min_run_time: float) -> float:
    return Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time).median


def run(shapes, dtypes, device: str, min_run_time: float, with_svd: bool = True) -> list[dict]:
    rows = []
    for shape in shapes:
        x32 = torch.randn(*shape, device=device)
        wide = x32 if shape[-2] <= shape[-1] else x32.mT
        ortho = svd_polar(wide)  # orthonormal rows: the chain stays bounded
        t_svd = _time(partial(svd_polar, x32), min_run_time) if with_svd else float("nan")
        for dtype in dtypes:
            x = x32.to(dtype)
            o = ortho.to(dtype)
            t_chain = _time(partial(matmul_chain, o, 5), min_run_time)
            t_gram_chain = _time(partial(gram_chain, o, 5), min_run_time)
            for name, method in METHODS.items():
                t = _time(partial(method, x, dtype), min_run_time)
                base = t_gram_chain if name.startswith("gram") else t_chain
                rows.append(
                    {
                        "method": name,
                        "shape": "x".join(map(str, shape)),
                        "dtype": str(dtype).removeprefix("torch."),
                        "ms": t * 1e3,
                        "chain_ms": base * 1e3,
                        "ours_over_chain": t / base,
                        "svd_ms": t_svd * 1e3,
                        "svd_over_ours": t_svd / t,
                    }
                )
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--batched", default="16x128x512", help="per-head batched shape, 'none' to skip")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--min-run-time", type=float, default=0.5)
    parser.add_argument("--no-svd", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    shapes = [(n, n) for n in args.sizes] + [(n, 4 * n) for n in args.sizes]
    if args.batched != "none":
        shapes.append(tuple(int(v) for v in args.batched.split("x")))
    dtypes = [getattr(torch, d) for d in args.dtypes]
    rows = run(shapes, dtypes, args.device, args.min_run_time, not args.no_svd)
    machine = (
        torch.cuda.get_device_name()
        if args.device == "cuda"
        else f"{platform.processor() or 'cpu'}, {torch.get_num_threads()} threads"
    )
    print(f"device: {args.device} ({machine}); torch {torch.__version__}")
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in r.values()) + " |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {"device": args.device, "machine": machine, "torch": torch.__version__, "rows": rows}, fh, indent=1
            )


if __name__ == "__main__":
    main()
