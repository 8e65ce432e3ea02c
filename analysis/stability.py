"""Stability sweeps: dtype × conditioning × shape × rank deficiency × seed, cached and resumable.

Each configuration builds X = U diag(σ) Vᵀ (Haar-like U, V in float64) with
σ geometric from 1 to 1/κ on the first ⌈(1 − d)·k⌉ values and exact zeros on
the rest (d = rank deficiency), rounds it to the **storage dtype**, runs the method
with its products in the **compute dtype** (``compute_dtypes``; ``"default"`` is the
backend's: fp32 for bf16/fp16 storage), and compares with the method's exact
counterpart evaluated in float64 on the *rounded* input (so input rounding is not
counted as method error; the float64 reference itself is accurate to ~κ·u₆₄, far
below every non-fp64 error measured here). Rows: ``rel_error`` = ‖F(X) − R‖_F/‖R‖_F
(approximation plus rounding), ``rounding_error`` = ‖F(X) − F₆₄(X)‖_F/‖R‖_F (the same
method run in float64 on the same input: the dtype's share), ``finite`` (no NaN/Inf
in the output), the reference's rank threshold ``reference_rtol`` and ``measurable``.
For a batched shape the norms are the max over the batch.

The reference's numerical rank follows the reference's precision, not the storage
dtype's: the rounded input is known exactly in float64, so a full-rank X keeps every
singular value (rtol = max(m, n)·u₆₄; a threshold at the storage dtype's n·u, 0.25 for
bf16 at 64×64, cut real singular values and reported the iteration 1.55 away from a
wrong reference). A rank-deficient X's designed zeros become, after rounding, singular
values of at most ‖E‖₂ (E = rounded − exact, Weyl), while its designed smallest
singular value σ₁/κ moves by at most ‖E‖₂: where σ₁/κ > 4‖E‖₂ the threshold
√(‖E‖₂·σ₁/κ) separates the two with a factor ≥ 2 on each side; where it does not, no
rank decision is right and the row says ``measurable = False`` with NaN errors instead
of a number.

Results are appended to a CSV file row by row as they complete (flushed and
fsynced, :class:`~analysis.result_store.ResultStore`), and a rerun skips every
configuration already in the file: an interrupted sweep resumes where it
stopped, nothing computed is lost, and a row cut off by a kill or a full disk
is recomputed rather than read.
"""

from __future__ import annotations

import math
from itertools import product

import mpmath
import numpy as np
import torch

from spectral_la.analysis.methods import method
from spectral_la.analysis.spectra import torch_matrix_with_spectrum
from spectral_la.dtypes import DTYPE_NAMES, default_compute, dtype_name, parse_dtype
from spectral_la.validation import check_in_range, check_int, parse_shape

__all__ = ["FIELDS", "KEY_FIELDS", "normalized_grid", "parse_row", "run_case"]

KEY_FIELDS = ("method", "storage_dtype", "compute_dtype", "kappa", "shape", "rank_deficiency", "seed", "reference")
FIELDS = (*KEY_FIELDS, "rel_error", "rounding_error", "finite", "reference_rtol", "measurable")
#: Largest grid one call accepts (a typo in a range should not queue a million tasks).
MAX_GRID = 100_000
DTYPES = DTYPE_NAMES  # canonical names; aliases (bf16, fp32, …) are read by spectral_la.dtypes.parse_dtype


def _input(shape: str, kappa: float, deficiency: float, seed: int) -> torch.Tensor:
    dims = [int(v) for v in shape.split("x")]
    *batch, m, n = dims
    k = min(m, n)
    r = max(1, math.ceil((1 - deficiency) * k))
    sigma = torch.zeros(k, dtype=torch.float64)
    sigma[:r] = torch.logspace(0, -math.log10(kappa), r, dtype=torch.float64) if r > 1 else 1.0
    return torch_matrix_with_spectrum(m, n, sigma, seed=seed, batch=tuple(batch))


def normalized_grid(
    methods, dtypes, kappas, shapes, rank_deficiencies, seeds, reference="mpmath", compute_dtypes=("default",)
) -> list[dict]:
    """The grid with every value validated and written one canonical way (10 and 10.0 are one key).

    ``dtypes`` are storage dtypes; ``compute_dtypes`` entries are dtype names or ``"default"`` (the
    backend's compute dtype for that storage), stored as the dtype that ran. Exact maps compute in
    the default only.
    """
    for name, values in (
        ("methods", methods),
        ("dtypes", dtypes),
        ("kappas", kappas),
        ("shapes", shapes),
        ("rank_deficiencies", rank_deficiencies),
        ("seeds", seeds),
    ):
        if isinstance(values, str) or not len(values):
            raise ValueError(f"{name} must be a non-empty sequence, got {values!r}")
    if len(methods) * len(dtypes) * len(kappas) * len(shapes) * len(rank_deficiencies) * len(seeds) > MAX_GRID:
        raise ValueError(f"the grid has more than {MAX_GRID} configurations; split it")
    specs = {str(m.spec): m for m in map(method, methods)}  # unknown specs raise, naming the spec
    methods = list(specs)
    dtypes = [dtype_name(parse_dtype(d, "dtypes entry")) for d in dtypes]
    if isinstance(compute_dtypes, str) or not len(compute_dtypes):
        raise ValueError(f"compute_dtypes must be a non-empty sequence, got {compute_dtypes!r}")
    computes = [c if c == "default" else dtype_name(parse_dtype(c, "compute_dtypes entry")) for c in compute_dtypes]
    kappa_keys = []
    for k in kappas:
        k = float(check_in_range(k, "kappa", 1, 1e300))
        kappa_keys.append(repr(k))
    shape_keys = ["x".join(map(str, parse_shape(shape, "shape", max_dims=8))) for shape in shapes]
    def_keys = [repr(float(check_in_range(d, "rank_deficiency", 0, 1, hi_open=True))) for d in rank_deficiencies]
    seed_keys = [str(check_int(sd, "seed", 0, 2**63 - 1)) for sd in seeds]
    if reference not in ("mpmath", "float64"):
        raise ValueError(f"reference must be 'mpmath' or 'float64', got {reference!r}")
    out = []
    for m_name, d, c, kappa, shape, dfc, seed in product(
        methods, dtypes, computes, kappa_keys, shape_keys, def_keys, seed_keys
    ):
        compute = dtype_name(default_compute(DTYPES[d])) if c == "default" else c
        if not specs[m_name].matmul_only and compute != dtype_name(default_compute(DTYPES[d])):
            raise ValueError(f"compute_dtypes: {m_name} is an exact map; it computes in the default dtype only")
        out.append(dict(zip(KEY_FIELDS, (m_name, d, compute, kappa, shape, dfc, seed, reference), strict=True)))
    return list({tuple(t.values()): t for t in out}.values())  # "default" and its dtype name are one task


#: Digits of the high-precision reference (float64 rows); 30 resolve u₆₄·κ up to κ = 1e14 with 0 guard
#: digits to spare, and the mpmath path adds its own guard bits.
REFERENCE_DPS = 30


def _to_mp(x: torch.Tensor) -> np.ndarray:
    return np.vectorize(mpmath.mpf, otypes=[object])(x.numpy())


def _from_mp(y) -> torch.Tensor:
    return torch.from_numpy(np.vectorize(float, otypes=[float])(np.asarray(y, dtype=object)).astype(np.float64))


def reference_rtol(x64: torch.Tensor, x_in: torch.Tensor, kappa: float, deficient: bool) -> float | None:
    """The reference's rank threshold (module docstring), or None where no rank decision is right."""
    u64 = float(torch.finfo(torch.float64).eps) / 2
    n = max(x_in.shape[-2:])
    if not deficient:
        return n * u64
    sigma1 = float(torch.linalg.matrix_norm(x64, ord=2).min())  # 1 by construction, up to float64 rounding
    noise = max(float(torch.linalg.matrix_norm(x_in - x64, ord=2).max()), n * u64 * sigma1)
    smallest = sigma1 / kappa
    if smallest <= 4 * noise:
        return None
    return math.sqrt(noise * smallest) / sigma1


def run_case(cfg: dict, device: str) -> dict:
    m = method(cfg["method"])
    kappa, deficiency = float(cfg["kappa"]), float(cfg["rank_deficiency"])
    x64 = _input(cfg["shape"], kappa, deficiency, int(cfg["seed"]))
    storage = DTYPES[cfg["storage_dtype"]]
    x = x64.to(dtype=storage, device=device)
    compute = DTYPES[cfg["compute_dtype"]]
    kw = {"compute_dtype": compute} if m.matmul_only and compute != default_compute(storage) else {}
    y = m.apply(x, **kw).double().cpu()
    x_in = x.double().cpu()  # the rounded input, exactly
    k = min(x64.shape[-2:])
    rtol = reference_rtol(x64, x_in, kappa, deficient=max(1, math.ceil((1 - deficiency) * k)) < k)
    if rtol is None:
        nan = float("nan")
        return {
            **cfg,
            "rel_error": nan,
            "rounding_error": nan,
            "finite": bool(torch.isfinite(y).all()),
            "reference_rtol": nan,
            "measurable": False,
        }
    if cfg["reference"] == "mpmath" and cfg["storage_dtype"] == "float64" and compute == torch.float64:
        # float64 measured against float64 would be zero by construction: reference and the method's
        # own rounding-free run both come from the mpmath path at REFERENCE_DPS digits.
        with mpmath.workdps(REFERENCE_DPS):
            xm = _to_mp(x_in)
            ref = _from_mp(m.exact(xm, rtol=rtol))
            same_in_fp64 = _from_mp(m.apply(xm))
    else:  # lower precisions: the float64 reference errs by ≲ κ·u₆₄, far below their own rounding
        ref = m.exact(x_in, rtol=rtol)
        same_in_fp64 = m.apply(x_in)
    scale = torch.linalg.matrix_norm(ref).max()
    return {
        **cfg,
        "rel_error": float(torch.linalg.matrix_norm(y - ref).max() / scale),
        "rounding_error": float(torch.linalg.matrix_norm(y - same_in_fp64).max() / scale),
        "finite": bool(torch.isfinite(y).all()),
        "reference_rtol": rtol,
        "measurable": True,
    }


def parse_row(row: dict) -> dict | None:
    """A stored row with typed values, or None if any value does not parse (it is then recomputed)."""
    if row["finite"] not in ("True", "False") or row["measurable"] not in ("True", "False"):
        return None
    try:
        return {
            **row,
            "rel_error": float(row["rel_error"]),
            "rounding_error": float(row["rounding_error"]),
            "reference_rtol": float(row["reference_rtol"]),
            "finite": row["finite"] == "True",
            "measurable": row["measurable"] == "True",
        }
    except ValueError:
        return None


def normalised_grid(*args, **kwargs) -> list[dict]:
    """Deprecated: the UK spelling of :func:`normalized_grid` (public names use US spelling)."""
    import warnings

    warnings.warn("normalised_grid is deprecated; use normalized_grid", DeprecationWarning, stacklevel=2)
    return normalized_grid(*args, **kwargs)
