"""Optimizer steps against the peers they replace, timed in alternation on one machine.

Not a test: a measurement for ``benchmarks/RESULTS.md``. Two parts:

* ``muon``: :class:`spectral_la.optim.Muon` with torch.optim.Muon's defaults against
  ``torch.optim.Muon`` itself (as installed): the orthogonalisation alone (our ``torch_muon`` spec
  through the optimizer's orthogonaliser vs torch's ``_zeropower_via_newtonschulz``) and the whole
  ``step()``, for fp32 and bf16 parameters; and ``batch_same_shape=True`` on the stdlib LM's eight
  matrices (two layers of in_proj 384×128, out_proj 128×128, linear1 512×128, linear2 128×512)
  against torch's per-parameter loop.
* ``dion`` (with ``--dion``, a checkout of microsoft/dion's ``dion`` package): NorMuon, Dion2 and
  NorDion2 against dion's own classes, run eagerly (its ``torch.compile`` replaced by the identity,
  as in :mod:`benchmarks.dion_parity`), both with the same fp32 Newton–Schulz callable, so the ratio
  is the optimizers' own work around one orthogonaliser; Dion2 at fraction 0.25 against itself at
  fraction 1.0; and the limit column of each of our steps (its FLOPs and their rate over the
  machine's fp32 matmul rate, measured in the same run).

Every ratio is the median of ``--rounds`` alternated rounds (ours, theirs, ours, …) with the range
of the per-round ratios beside it. Gradients come from a private seeded generator.

    python -m spectral_la.benchmarks.optimizer_speed --json benchmarks/results_optimizer_speed.json \
        --dion /path/to/dion-checkout
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable
from typing import Any

import torch

from spectral_la.benchmarks.__main__ import matrix_shape
from spectral_la.benchmarks.harness import matmul_rate, paired_seconds, write_json
from spectral_la.benchmarks.suites import limit_columns

LM_SHAPES = ((384, 128), (128, 128), (512, 128), (128, 512)) * 2


def _params(shapes, dtype: torch.dtype, seed: int = 0) -> tuple[list[torch.nn.Parameter], list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter((torch.randn(*s, generator=g) * 0.02).to(dtype)) for s in shapes]
    grads = [torch.randn(*s, generator=g).to(dtype) for s in shapes]
    return params, grads


def _stepper(opt_cls: Callable, shapes, dtype: torch.dtype, **kw: Any) -> Callable[[], None]:
    """A closure that runs one ``step()`` of a fresh optimizer on fixed gradients (weights drift; the
    work per step does not)."""
    params, grads = _params(shapes, dtype)
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    opt = opt_cls(params, **kw)
    opt.step()  # the momentum buffers exist from here on, as in training
    return opt.step


def _pair(
    label: str, shape: str, dtype: str, ours: Callable, theirs: Callable, rounds: int, mrt: float, *, compute: str
) -> dict:
    """One alternated comparison as a row: the parameters' (storage) dtype and the orthogonaliser's compute dtype."""
    t_ours, t_theirs, ratio, (lo, hi) = paired_seconds(ours, theirs, mrt, rounds)
    row: dict[str, Any] = {"case": label, "shape": shape, "param_dtype": dtype, "compute_dtype": compute}
    row |= {"ours_ms": t_ours * 1e3, "theirs_ms": t_theirs * 1e3}
    row |= {"ratio": ratio, "ratio_range": f"{lo:.3g}–{hi:.3g}", "rounds": rounds}
    print(json.dumps(row), flush=True)
    return row


def muon_rows(shapes, rounds: int, min_run_time: float) -> list[dict]:
    """optim.Muon vs torch.optim.Muon, both with torch's defaults (bf16 products)."""
    from torch.optim import Muon as TorchMuon
    from torch.optim._muon import _zeropower_via_newtonschulz

    from spectral_la.optim import Muon
    from spectral_la.optim import functional as F
    from spectral_la.optim.muon import torch_muon_spec

    ortho = F.orthogonalizer(torch_muon_spec(), None, torch.bfloat16, False, 0.0)
    rows = []
    for shape in shapes:
        label = "x".join(map(str, shape))
        for dtype in (torch.float32, torch.bfloat16):
            name = str(dtype).removeprefix("torch.")
            x = _params([shape], dtype, seed=1)[1][0]
            rows.append(
                _pair(
                    "orthogonalisation: torch_muon vs torch.optim.Muon's NS",
                    label,
                    name,
                    lambda x=x: ortho(x, 1e-7),
                    lambda x=x: _zeropower_via_newtonschulz(x, (3.4445, -4.7750, 2.0315), 5, 1e-7),
                    rounds,
                    min_run_time,
                    compute="bfloat16",
                )
            )
            rows.append(
                _pair(
                    "step(): optim.Muon vs torch.optim.Muon",
                    label,
                    name,
                    _stepper(Muon, [shape], dtype, lr=0.02),
                    _stepper(TorchMuon, [shape], dtype, lr=0.02),
                    rounds,
                    min_run_time,
                    compute="bfloat16",
                )
            )
    rows.append(
        _pair(
            "step(): optim.Muon batch_same_shape=True vs torch.optim.Muon's loop (stdlib LM, 8 matrices)",
            "+".join(dict.fromkeys("x".join(map(str, s)) for s in LM_SHAPES)) + " (×2)",
            "float32",
            _stepper(Muon, LM_SHAPES, torch.float32, lr=0.02, batch_same_shape=True),
            _stepper(TorchMuon, LM_SHAPES, torch.float32, lr=0.02),
            rounds,
            min_run_time,
            compute="bfloat16",
        )
    )
    return rows


def dion_rows(dion: Any, shape: tuple[int, int], rounds: int, min_run_time: float) -> list[dict]:
    """NorMuon, Dion2, NorDion2 vs dion's eager classes with one fp32 NS callable; Dion2's fraction."""
    from spectral_la.benchmarks.dion_parity import fp32_ns
    from spectral_la.optim import Dion2, NorDion2, NorMuon

    label = "x".join(map(str, shape))
    rate = matmul_rate(1024, torch.float32, "cpu", min_run_time)
    rows = []
    for ours_cls, name in ((NorMuon, "NorMuon"), (Dion2, "Dion2"), (NorDion2, "NorDion2")):
        ours = _stepper(lambda ps, c=ours_cls: c(ps, newton_schulz_func=fp32_ns), [shape], torch.float32)
        theirs = _stepper(lambda ps, n=name: getattr(dion, n)(ps, newton_schulz_func=fp32_ns), [shape], torch.float32)
        row = _pair(f"step(): {name} vs dion {name} (eager), same fp32 NS", label, "float32", ours, theirs, rounds,
                    min_run_time, compute="float32")  # fmt: skip
        rows.append(row | limit_columns(ours, row["ours_ms"] / 1e3, rate))
    for cls, name in ((Dion2, "Dion2"), (NorDion2, "NorDion2")):
        quarter = _stepper(lambda ps, c=cls: c(ps, fraction=0.25, newton_schulz_func=fp32_ns), [shape], torch.float32)
        whole = _stepper(lambda ps, c=cls: c(ps, fraction=1.0, newton_schulz_func=fp32_ns), [shape], torch.float32)
        row = _pair(f"step(): {name} fraction 0.25 vs fraction 1.0 (ours, same fp32 NS)", label, "float32", quarter,
                    whole, rounds, min_run_time, compute="float32")  # fmt: skip
        rows.append(row | limit_columns(quarter, row["ours_ms"] / 1e3, rate))
    return rows


def main(argv: list[str] | None = None) -> int:
    from spectral_la.benchmarks.dion_parity import load_dion

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", nargs="+", type=matrix_shape, default=[(256, 1024)], help="Muon shapes MxN (default 256x1024)"
    )
    parser.add_argument("--dion", help="directory holding microsoft/dion's dion/ package (the dion part runs with it)")
    parser.add_argument("--dion-shape", type=matrix_shape, default=(1024, 4096))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-run-time", type=float, default=0.3)
    parser.add_argument("--skip-muon", action="store_true")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    shapes = args.sizes
    rows = [] if args.skip_muon else muon_rows(shapes, args.rounds, args.min_run_time)
    if args.dion:
        rows += dion_rows(load_dion(args.dion, "main"), args.dion_shape, args.rounds, args.min_run_time)
    if args.json:
        write_json(
            args.json,
            "cpu",
            rows,
            "python -m spectral_la.benchmarks.optimizer_speed " + shlex.join(sys.argv[1:] if argv is None else argv),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
