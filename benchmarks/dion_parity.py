"""Parity of NorMuon, Dion2 and NorDion2 with microsoft/dion's own code, run side by side on one CPU.

Not a test (the tests cannot import dion; they restate its step as reference formulas): a
measurement for ``benchmarks/RESULTS.md``. Give it a checkout of microsoft/dion's ``dion`` package
(``--dion``, the directory that holds ``dion/``) and, for softening, one of the Soft-Muon branch
(``--dion-soft``). dion's ``torch.compile`` decorators are replaced by the identity while it is
imported, so it runs eagerly, as on a machine without a compiler toolchain.

    python -m spectral_la.benchmarks.dion_parity --dion /path/to/dion \
        --dion-soft /path/to/dion-soft-branch

Three measurements per optimizer and shape, 3 steps each, seeded inputs (gradients drawn from a
private generator, never torch's global RNG):

* ``fp32_ns``: both run the same fp32 Newton–Schulz callable (``newton_schulz_func``): weights and
  every state tensor compared with ``torch.equal`` (bit for bit), plus an ``adamw`` and a ``lion``
  group and two parameters of one shape (a stack);
* ``defaults``: both with their defaults (dion: its ``polar_express`` in bf16; ours: the spec
  ``ns:polar_express_modded`` in bf16): the relative Frobenius difference of each step's weight
  change, and whether Dion2/NorDion2 changed the same rows or columns;
* ``soft``: ``softening=s`` against the Soft-Muon branch with the fp32 callable (bit for bit), and
  ``softening=0`` against the branch's unsoftened step, matrix parameters only (the branch forked
  before dion's AdamW gained its ``step_dev`` state, so its AdamW state differs in layout).

Dion2 and NorDion2 select on the momentum, which the orthogonaliser never touches: with the
defaults, equal momenta after every step (``torch.equal``) mean the same slices were selected.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

import torch

from spectral_la.optim import Dion2, NorDion2, NorMuon
from spectral_la.spec import parse_spec

SHAPES = ((32, 64), (64, 32), (48, 48))
STEPS = 3
_FP32_NS = parse_spec("ns:jordan_ns5")


def fp32_ns(x: torch.Tensor, epsilon: Any = None) -> torch.Tensor:
    """The shared fp32 orthogonaliser: Jordan's quintic NS computed in float32 on the given matrix.

    Returned contiguous: the Soft-Muon branch re-stacks the orthogonaliser's output where dion's
    main hands on its layout, and a transposed (tall) result would then be reduced in another order.
    """
    return _FP32_NS(x.float(), compute_dtype=torch.float32).contiguous()


def load_dion(path: str, tag: str) -> Any:
    """microsoft/dion's package from ``path``, imported under its own name (one checkout at a time)."""
    for name in [n for n in sys.modules if n == "dion" or n.startswith("dion.")]:
        del sys.modules[name]
    sys.path.insert(0, path)
    compile_ = torch.compile

    def eager(fn: Any = None, **_: Any) -> Any:
        return fn if fn is not None else (lambda f: f)

    torch.compile = eager  # type: ignore[assignment]
    try:
        return importlib.import_module("dion")
    finally:
        torch.compile = compile_
        sys.path.remove(path)


def _model(shape: tuple[int, int], seed: int, extra: bool) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(*shape, generator=g) * 0.1)]
    if extra:
        params.append(torch.nn.Parameter(torch.randn(*shape, generator=g) * 0.1))
        params.append(torch.nn.Parameter(torch.randn(shape[1], generator=g)))
        params.append(torch.nn.Parameter(torch.randn(shape[0], generator=g)))
    return params


def _groups(params: list[torch.nn.Parameter]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = [{"params": params[:2] if len(params) > 1 else params}]
    if len(params) > 1:
        groups += [{"params": [params[2]], "algorithm": "adamw"}, {"params": [params[3]], "algorithm": "lion"}]
    return groups


def _grads(params: list[torch.nn.Parameter], seed: int, step: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1000 * seed + step)
    return [torch.randn(p.shape, generator=g) for p in params]


def _run(make: Any, shape: tuple[int, int], seed: int, extra: bool) -> tuple[list, list]:
    """Weights after each step and the changes of each step, for one optimizer factory."""
    params = _model(shape, seed, extra)
    opt = make(_groups(params))
    weights, states = [], []
    for t in range(1, STEPS + 1):
        for p, grad in zip(params, _grads(params, seed, t), strict=True):
            p.grad = grad.clone()
        before = [p.detach().clone() for p in params]
        opt.step()
        weights.append(([p.detach().clone() for p in params], before))
        states.append({i: {k: v.clone() for k, v in opt.state[p].items()} for i, p in enumerate(params)})
    return weights, states


def _equal(a: tuple[list, list], b: tuple[list, list]) -> bool:
    wa, sa = a
    wb, sb = b
    same_w = all(
        torch.equal(x, y) for (xs, _), (ys, _) in zip(wa, wb, strict=True) for x, y in zip(xs, ys, strict=True)
    )
    same_s = all(
        set(da[i]) == set(db[i]) and all(torch.equal(da[i][k], db[i][k]) for k in da[i])
        for da, db in zip(sa, sb, strict=True)
        for i in da
    )
    return same_w and same_s


def measure(dion: Any, dion_soft: Any | None, s: float = 0.3) -> list[dict]:
    rows = []
    pairs = [("normuon", NorMuon, "NorMuon"), ("dion2", Dion2, "Dion2"), ("nordion2", NorDion2, "NorDion2")]
    for name, ours_cls, theirs_name in pairs:
        theirs_cls = getattr(dion, theirs_name)
        for shape in SHAPES:
            seed = sum(shape)
            ours = _run(lambda g, c=ours_cls: c(g, newton_schulz_func=fp32_ns), shape, seed, True)
            theirs = _run(lambda g, c=theirs_cls: c(g, newton_schulz_func=fp32_ns), shape, seed, True)
            row: dict[str, Any] = {"optimizer": name, "shape": list(shape), "param_dtype": "float32"}
            row["fp32_ns_bitwise"] = _equal(ours, theirs)
            ours_d = _run(lambda g, c=ours_cls: c(g), shape, seed, False)
            theirs_d = _run(lambda g, c=theirs_cls: c(g), shape, seed, False)
            rel = []
            for (wa, ba), (wb, bb) in zip(ours_d[0], theirs_d[0], strict=True):
                da, db = wa[0] - ba[0], wb[0] - bb[0]
                rel.append(float((da - db).norm() / db.norm()))
            row["defaults_rel_fro_per_step"] = rel
            row["defaults_same_selection"] = (
                None
                if name == "normuon"
                else [
                    torch.equal(a[0]["momentum"], b[0]["momentum"]) for a, b in zip(ours_d[1], theirs_d[1], strict=True)
                ]
            )
            if dion_soft is not None:
                soft_cls = getattr(dion_soft, theirs_name)
                for value in (0.0, s):
                    ours_s = _run(
                        lambda g, c=ours_cls, v=value: c(g, newton_schulz_func=fp32_ns, softening=v), shape, seed, False
                    )
                    theirs_s = _run(
                        lambda g, c=soft_cls, v=value: c(g, newton_schulz_func=fp32_ns, softening=v), shape, seed, False
                    )
                    row[f"soft_{value:g}_bitwise"] = _equal(ours_s, theirs_s)
            rows.append(row)
            print(json.dumps(row))
    return rows


def ns_rounding(dion: Any, shapes: tuple = ((8, 64), (16, 32), (32, 64), (64, 32), (12, 48))) -> list[dict]:
    """dion's bf16 ``polar_express`` and our ``ns:polar_express_modded`` in bf16, each against the same
    polynomial in float64, on one seeded Gaussian bf16 matrix per shape: how much of the gap between
    the two default steps is either one's rounding."""
    polar_express = importlib.import_module("dion.polar_express").polar_express
    spec = parse_spec("ns:polar_express_modded")
    g = torch.Generator().manual_seed(0)
    rows = []
    for shape in shapes:
        x = torch.randn(*shape, generator=g).bfloat16()
        theirs = polar_express(x, epsilon=torch.tensor(1e-8)).double()
        ours = spec(x, compute_dtype=torch.bfloat16).double()
        exact = spec(x.double(), compute_dtype=torch.float64)
        rel = lambda a, b: float((a - b).norm() / b.norm())  # noqa: E731
        row = {"shape": list(shape), "input": "bf16 Gaussian, seed 0", "ours_vs_dion": rel(ours, theirs),
               "dion_vs_fp64": rel(theirs, exact), "ours_vs_fp64": rel(ours, exact)}  # fmt: skip
        rows.append(row)
        print(json.dumps(row))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dion", required=True, help="directory holding microsoft/dion's dion/ package (0a059a4)")
    parser.add_argument("--dion-soft", help="directory holding the Soft-Muon branch's dion/ package (33777ce)")
    parser.add_argument("--softening", type=float, default=0.3)
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    soft = load_dion(args.dion_soft, "soft") if args.dion_soft else None
    soft_classes = {n: getattr(soft, n) for n in ("NorMuon", "Dion2", "NorDion2")} if soft else None
    dion = load_dion(args.dion, "main")
    rows = measure(dion, argparse.Namespace(**soft_classes) if soft_classes else None, args.softening)
    rounding = ns_rounding(dion)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"steps": rows, "ns_rounding": rounding}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
