"""Stability sweeps: dtype × conditioning × shape × rank deficiency × seed, cached and resumable.

Each configuration builds X = U diag(σ) Vᵀ (Haar-like U, V in float64) with
σ geometric from 1 to 1/κ on the first ⌈(1 − d)·k⌉ values and exact zeros on
the rest (d = rank deficiency), rounds it to the dtype, runs the method, and
compares with the method's exact counterpart evaluated in float64 on the
*rounded* input (so input rounding is not counted as method error; the
float64 reference itself is accurate to ~κ·u₆₄, far below every non-fp64
error measured here). Rows: ``rel_error`` = ‖F(X) − R‖_F/‖R‖_F (approximation
plus rounding), ``rounding_error`` = ‖F(X) − F₆₄(X)‖_F/‖R‖_F (the same method
run in float64 on the same input: the dtype's share), and ``finite`` (no
NaN/Inf in the output). For a batched shape the norms are the max over the batch.

Results are appended to a CSV file row by row as they complete (flushed), and
a rerun skips every configuration already in the file: an interrupted sweep
resumes where it stopped and nothing computed is lost.
"""

from __future__ import annotations

import csv
import math
from itertools import product
from pathlib import Path

import torch
from tqdm.auto import tqdm

from analysis.methods import method
from analysis.spectra import torch_matrix_with_spectrum

__all__ = ["KEY_FIELDS", "stability_sweep"]

KEY_FIELDS = ("method", "dtype", "kappa", "shape", "rank_deficiency", "seed")
FIELDS = (*KEY_FIELDS, "rel_error", "rounding_error", "finite")
DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _input(shape: str, kappa: float, deficiency: float, seed: int) -> torch.Tensor:
    dims = [int(v) for v in shape.split("x")]
    *batch, m, n = dims
    k = min(m, n)
    r = max(1, math.ceil((1 - deficiency) * k))
    sigma = torch.zeros(k, dtype=torch.float64)
    sigma[:r] = torch.logspace(0, -math.log10(kappa), r, dtype=torch.float64) if r > 1 else 1.0
    return torch_matrix_with_spectrum(m, n, sigma, seed=seed, batch=tuple(batch))


def _key(row: dict) -> tuple:
    return tuple(str(row[f]) for f in KEY_FIELDS)


def stability_sweep(
    methods=("ns:polar_express", "ns:jordan_ns5"),
    *,
    dtypes=("float64", "float32", "bfloat16", "float16"),
    kappas=(1e1, 1e4, 1e8, 1e12, 1e16),
    shapes=("64x64", "128x32", "32x128", "8x32x32"),
    rank_deficiencies=(0.0, 0.5),
    seeds=(0,),
    cache: str | Path = "reports/stability.csv",
    device: str = "cpu",
    progress: bool = True,
) -> list[dict]:
    """Run (or resume) the sweep; returns the tidy rows of the requested grid (module docstring)."""
    for d in dtypes:
        if d not in DTYPES:
            raise ValueError(f"dtype {d!r} not in {sorted(DTYPES)}")
    cache = Path(cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    done: dict[tuple, dict] = {}
    if cache.exists():
        with cache.open(newline="") as fh:
            for row in csv.DictReader(fh):
                done[_key(row)] = row
    grid = [
        dict(zip(KEY_FIELDS, combo, strict=True))
        for combo in product(methods, dtypes, kappas, shapes, rank_deficiencies, seeds)
    ]
    todo = [cfg for cfg in grid if _key(cfg) not in done]
    new_file = not cache.exists() or cache.stat().st_size == 0
    with cache.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        if new_file:
            writer.writeheader()
        for cfg in tqdm(todo, desc="stability sweep", disable=not progress):
            m = method(cfg["method"])
            x64 = _input(cfg["shape"], cfg["kappa"], cfg["rank_deficiency"], cfg["seed"])
            x = x64.to(dtype=DTYPES[cfg["dtype"]], device=device)
            y = m.apply(x).double().cpu()
            x_in = x.double().cpu()  # the rounded input, exactly
            ref = m.exact(x_in)
            same_in_fp64 = m.apply(x_in)
            scale = torch.linalg.matrix_norm(ref).max()
            row = {
                **cfg,
                "rel_error": float(torch.linalg.matrix_norm(y - ref).max() / scale),
                "rounding_error": float(torch.linalg.matrix_norm(y - same_in_fp64).max() / scale),
                "finite": bool(torch.isfinite(y).all()),
            }
            writer.writerow(row)
            fh.flush()
            done[_key(row)] = {k: str(v) for k, v in row.items()}
    out = []
    for cfg in grid:
        row = done[_key(cfg)]
        out.append(
            {
                **cfg,
                "rel_error": float(row["rel_error"]),
                "rounding_error": float(row["rounding_error"]),
                "finite": str(row["finite"]) == "True",
            }
        )
    return out
