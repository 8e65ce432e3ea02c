"""Accuracy of the exact references on torch against the same routine in mpmath.

For an exact reference the mpmath run (at 50 digits) is the truth, so the
torch error is pure rounding. It is reported in units of u·κ, the size that a
backward-stable method must achieve on a matrix of condition number κ
(Higham 2008, Thm 8.9 for the polar factor): numbers of order 1–10 mean the
routine is as accurate as its conditioning allows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mpmath
import torch
from tqdm.auto import tqdm

import spectral_la as sl
from spectral_la.analysis.spectra import geometric_singular_values, torch_matrix_with_spectrum
from spectral_la.spec import parse_spec

__all__ = ["REFERENCES", "qdwh_convergence", "reference_accuracy"]

#: name -> (function of a matrix, needs a symmetric PSD input). The maps of X are named by their spec
#: (spectral_la.spec, the names the CLI and every table use); the inverse roots, maps of a PSD A outside
#: the spec family, as inverse_root:<r> in the same grammar.
REFERENCES: dict[str, tuple[Callable[[Any], Any], bool]] = {
    **{
        name: (parse_spec(name), False)
        for name in ("polar", "polar_qdwh", "polar_zolo", "msign", "fractional_power:1/2")
    },
    "inverse_root:2": (lambda x: sl.inverse_root(x, 2), True),
    "inverse_root:4": (lambda x: sl.inverse_root(x, 4), True),
}


def _max_abs_diff(t: torch.Tensor, m: mpmath.matrix) -> float:
    ref = torch.tensor(m.tolist(), dtype=torch.float64)
    return float((t.double().cpu() - ref).abs().max())


def reference_accuracy(
    *,
    size=(24, 16),
    kappas=(1e2, 1e6, 1e10),
    dtypes=(torch.float64, torch.float32),
    device="cpu",
    dps: int = 50,
    progress: bool = True,
) -> list[dict]:
    """Max entrywise error of each exact reference vs its 50-digit mpmath run.

    Returns tidy rows: function, dtype, kappa, max_abs_error, error_over_u_kappa.
    Inverse roots use a symmetric PSD n×n input with eigenvalues 1 … 1/κ.
    """
    rows = []
    jobs = [
        (name, dt, k)
        for name in REFERENCES
        for dt in dtypes
        for k in kappas
        if not (dt == torch.float32 and k * torch.finfo(dt).eps > 1e-2)
    ]
    for name, dtype, kappa in tqdm(jobs, desc="reference accuracy", disable=not progress):
        fn, symmetric = REFERENCES[name]
        m, n = (size[1], size[1]) if symmetric else size
        x = torch_matrix_with_spectrum(
            m, n, geometric_singular_values(min(m, n), kappa), seed=0, dtype=dtype, symmetric=symmetric
        )
        if symmetric:
            x = (x + x.mT) / 2
        with mpmath.workdps(dps):
            ref = fn(mpmath.matrix(x.double().tolist()))
        err = _max_abs_diff(fn(x.to(device)), ref)
        u = torch.finfo(dtype).eps / 2
        # inverse roots: the result's scale is λ_min^{-1/r} = κ^{1/r}; divide it out.
        scale = kappa ** (1 / int(name[-1])) if symmetric else 1.0
        rows.append(
            {
                "function": name,
                "dtype": str(dtype).removeprefix("torch."),
                "kappa": kappa,
                "max_abs_error": err,
                "error_over_u_kappa": err / (u * kappa * scale),
            }
        )
    return rows


def qdwh_convergence(
    *,
    n: int = 128,
    kappas=(1e1, 1e4, 1e8, 1e12, 1e16),
    methods=("qdwh", "zolo"),
    dtype=torch.float64,
    device="cpu",
    progress: bool = True,
) -> list[dict]:
    """QDWH and ZOLO-PD per condition number (n × n): iterations, backward error, orthogonality, and the time
    over the SVD polar factor's on the same matrix (one timing each, in the same run)."""
    solvers = {"qdwh": sl.qdwh, "zolo": sl.zolo_pd}
    rows = []
    u = torch.finfo(dtype).eps / 2
    for kappa in tqdm(kappas, desc="qdwh/zolo vs kappa", disable=not progress):
        x = torch_matrix_with_spectrum(n, n, geometric_singular_values(n, kappa), seed=1, dtype=dtype, device=device)
        t_svd = _seconds(lambda x=x: sl.polar(x))
        for method in methods:
            res = solvers[method](x)
            back = float(torch.linalg.matrix_norm(x - res.u @ res.h) / torch.linalg.matrix_norm(x))
            orth = float(torch.linalg.matrix_norm(res.u.mT @ res.u - torch.eye(n, dtype=dtype, device=device)))
            rows.append(
                {
                    "method": method,
                    "kappa": kappa,
                    "iterations": res.iterations,
                    "converged": res.converged,
                    "backward_error": back,
                    "backward_over_u": back / u,
                    "orthogonality": orth,
                    "orthogonality_over_u": orth / u,
                    "time_over_svd": _seconds(lambda x=x, f=solvers[method]: f(x)) / t_svd,
                }
            )
    return rows


def _seconds(fn) -> float:
    """Best of three calls (after a warm-up): a ratio between two such timings is the report's speed figure."""
    import time

    fn()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
