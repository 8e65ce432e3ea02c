"""Odd-polynomial (Newton–Schulz-type) iterations for the polar factor, matmul only.

For a wide X (m ≤ n; a tall X is transposed so the Gram matrix is the smaller
one) each step of a schedule row (c₀, c₁, …, c_k) computes

    A = X Xᵀ   (m × m, symmetric, formed once per step),
    S = c₁A + c₂A² + … + c_kA^k   (Horner in A: k − 1 products),
    X ← c₀X + S X,

which is X ↦ p(X) with p(x) = Σ c_j x^{2j+1}: every singular value σ of X
goes to p(σ) and U, V are kept (Higham, *Functions of Matrices*, 2008, §8.3;
Amsel et al. 2025, arXiv 2505.16932, eq. (4)). A degree-5 step costs 3 matmuls.
After the normalisation X₀ = X/(scale·‖X‖ + eps) (:class:`Normalization`),
T steps map each σ to f(σ/(scale·‖X‖ + eps)) with f = p_T ∘ … ∘ p₁.

**The scalar map comes from the same code**: :func:`scalar_map` runs the
iteration on a batch of 1 × 1 matrices, where it is exactly the scalar
recurrence x ← p_k(x) (ARCHITECTURE.md, principle 1).

GPU discipline: matmuls and fused add-multiplies only (``addmm``/``baddbmm``),
no host synchronisation inside the iteration (the input finiteness check is
the only one and can be switched off), batched over leading dimensions,
compute dtype chosen explicitly.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import numpy as np

from spectral_la.backend import Ops, sigma_batch, working
from spectral_la.errors import DivergedError
from spectral_la.kernels import iterate, on_wide
from spectral_la.normalization import (
    NO_NORMALIZATION,
    Normalization,
    apply_normalization,
    normalize_with_gram,
    resolve_normalization,
)
from spectral_la.schedules import Schedule, schedules

__all__ = ["newton_schulz", "scalar_map"]


def newton_schulz(
    X: Any,
    schedule: str | Schedule = "polar_express",
    steps: int | None = None,
    *,
    normalize: Any = None,
    compute_dtype: Any = None,
    check_finite: bool = True,
) -> Any:
    """Approximate polar factor U Vᵀ of X by an odd-polynomial schedule (matmul only).

    Parameters
    ----------
    X : torch.Tensor, mpmath.matrix or object ndarray, shape (..., m, n)
        Batched over leading dimensions; each matrix is normalised on its own.
    schedule : str or Schedule
        A name in :data:`spectral_la.schedules` or a :class:`Schedule`.
    steps : int, optional
        Number of steps (default: the schedule's). 0 returns the normalised X.
    normalize : None, a kind name ("frobenius", "frobenius_clamp", "spectral", "scale_safe", "aol", "none")
        or a Normalization
        None uses the schedule's own (e.g. Polar Express: X/(1.01‖X‖_F + 1e-7)).
    compute_dtype : torch.dtype, optional
        torch compute dtype; default fp64/fp32 as given, bf16/fp16 upcast to
        fp32 (pass ``torch.bfloat16`` to iterate in bf16 as Muon does on GPU).
        The result has X's dtype.
    check_finite : bool
        Reject NaN/Inf in X, and raise :class:`DivergedError` for a result that is not finite or far
        outside the schedule's band (:func:`check_iterates`; two host syncs on a GPU; off in a
        training loop).

    Returns
    -------
    Same kind and shape as X: U f(Σ̂) Vᵀ with Σ̂ the normalised singular values
    and f the composed polynomial (:func:`scalar_map`).

    Examples
    --------
    >>> import torch
    >>> X = torch.diag(torch.tensor([1.0, 0.5, 0.1], dtype=torch.float64))
    >>> Y = newton_schulz(X, "newton_schulz_quintic", steps=10, normalize="none")
    >>> torch.allclose(Y, torch.eye(3, dtype=torch.float64))
    True
    """
    ops, x, restore, rows, norm, normalized = prepare(X, schedule, steps, normalize, compute_dtype, check_finite)
    with ops.guard():
        y = normalized_iteration(ops, x, rows, norm)
    if check_finite:
        check_iterates(ops, y, rows, normalized, schedule)
    return restore(y)


def check_iterates(ops: Ops, y: Any, rows: list[tuple], normalized: bool, schedule: str | Schedule) -> None:
    """Raise :class:`DivergedError` if a fixed-step iteration left its band (one reduction, one host sync).

    From a normalised input (σ̂ ≤ 1) the result has singular values f(σ̂) with |f| ≤ B, the bound of
    the rows on [0, 1] (:func:`map_bound`), so ‖Y‖_F ≤ B·√r, r = min(m, n), in exact arithmetic. A
    result that is not finite, or whose norm exceeds 2·max(B, 1)·√r, comes from a σ̂ that rounding put
    above the range the rows keep bounded: e.g. Emerging-Optimizers' cans rows in bf16 (p₁(1) ≈ 1.99
    with slope ≈ 26 there) turn σ̂ = 1.0002 into 5e7. Without a normalisation (``normalized`` False,
    the caller's ``normalize="none"``) only finiteness is checked. ``y`` is the working array (before
    ``restore``): its norm is taken by the backend, scale-safely (NaN and Inf fail the comparison).
    A direction pushed out by less than that factor is not caught (the norm mixes all r of them).
    """
    r = min(y.shape[-2], y.shape[-1])
    size = ops.batch_max(ops.fro(y))
    cap = 2 * max(map_bound(tuple(rows)), 1.0) * r**0.5 if normalized else math.inf
    if size <= cap:  # False for NaN
        return
    name = schedules.resolve(schedule).name
    what = "left the finite range" if not math.isfinite(float(size)) else f"left its band (‖Y‖_F > {cap:.3g})"
    raise DivergedError(
        f"the iteration of schedule {name!r} {what}: rounding put a normalised singular value above the range "
        "the rows keep bounded; use fewer steps, a wider compute dtype or a schedule with a safety margin above "
        "1 (analysis.schedule_response.schedule_bands: max_f_on_[u,1.01u])"
    )


@functools.lru_cache(maxsize=256)
def map_bound(rows: tuple) -> float:
    """max |f(σ)| over σ ∈ [0, 1] of the composed rows f (float64, a linear and a log grid; cached)."""
    sigma = np.concatenate([np.linspace(0, 1, 2001), np.logspace(-8, 0, 2001)])
    ops, x, restore = sigma_batch(sigma)
    return float(np.abs(restore(iterate(ops, x, list(rows)))).max())


class Prepared(NamedTuple):
    """What every NS-family entry point starts from (:func:`prepare`)."""

    ops: Ops
    x: Any
    restore: Any
    rows: list
    normalization: Normalization
    normalized: bool  # whether the iteration starts from a normalised X (σ̂ ≤ 1): what check_iterates needs


def prepare(
    X: Any, schedule: str | Schedule, steps: int | None, normalize: Any, compute_dtype: Any, check_finite: bool
) -> Prepared:
    """Shared prologue of the NS-family entry points (used by gram NS, soften)."""
    sched = schedules.resolve(schedule)
    rows = sched.coefficients(steps)
    norm = resolve_normalization(normalize, sched.normalization)
    if norm.before_cast and compute_dtype is not None and norm.kind != "none":
        ops_in, x_in, restore = working(X, check_finite_entries=check_finite)
        if ops_in.changes_precision(compute_dtype):
            # normalise in the input's precision, then round to the compute dtype (Normalization.before_cast)
            x0 = on_wide(lambda w: apply_normalization(ops_in, w, norm), x_in)
            ops, x0, _ = working(x0, compute_dtype=compute_dtype, check_finite_entries=False)
            return Prepared(ops, x0, restore, rows, NO_NORMALIZATION, True)
    ops, x, restore = working(X, compute_dtype=compute_dtype, check_finite_entries=check_finite)
    return Prepared(ops, x, restore, rows, norm, norm.kind != "none")


def normalized_iteration(ops: Ops, x: Any, rows: list[tuple], norm: Normalization) -> Any:
    """Normalise and iterate on the wide orientation of x; the body of :func:`newton_schulz`."""

    def run(w: Any) -> Any:
        x0, gram = normalize_with_gram(ops, w, norm)
        return iterate(ops, x0, rows, gram)

    return on_wide(run, x)


def scalar_map(schedule: str | Schedule, sigma: Any, steps: int | None = None) -> Any:
    """f(σ) = p_T ∘ … ∘ p₁(σ) of a schedule, evaluated by the matrix iteration itself on 1 × 1 matrices.

    ``sigma``: a torch tensor or NumPy float array of any shape (evaluated in
    its dtype), or an mpmath / Python number or a sequence of them (evaluated at
    ``mp.prec``); the result has the same kind (:func:`spectral_la.backend.sigma_batch`).
    No normalisation is applied: σ is the already-normalised singular value.
    """
    rows = schedules.resolve(schedule).coefficients(steps)
    ops, x, restore = sigma_batch(sigma)
    with ops.guard():
        return restore(iterate(ops, x, rows))
