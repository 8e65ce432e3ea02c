"""The polar driver shared by QDWH and ZOLO-PD: validation, orientation, scaling, verification, rank deficiency.

A scaled polar iteration (:mod:`spectral_la.qdwh`, :mod:`spectral_la.zolo_pd`) supplies one
function, ``iterate(ops, y, alpha, ell, max_iterations) -> (U, iterations, weights_converged)``,
that runs its steps on a tall Y prescaled by a power of two. This module owns everything else:

* the public entry (:func:`polar_decomposition`, :func:`polar_factor_only`): argument checks,
  the backend (:func:`spectral_la.backend.working`), the result type :class:`PolarResult`;
* orientation (a wide X through Xᵀ) and the exact power-of-two prescaling, so no norm, QR or
  Gram matrix overflows or underflows for any finite X (U is scale-invariant, H = 2^e·H_Y);
* the start (:func:`scaled_start`: α ≥ ‖Y‖₂ from min(‖Y‖_F, √(‖Y‖₁‖Y‖_∞)) (Higham, *Accuracy
  and Stability*, 2002, §6.3), ℓ₀ = 1/‖R⁻¹‖_F ≤ σ_min floored at u²);
* verification of every result (:func:`not_polar_factor`) and the rank-deficient second pass
  on Y + δG (a backward error of one unit roundoff), finished by Halley steps.

The mathematics of each part is in :mod:`spectral_la.qdwh`'s docstring (Nakatsukasa, Bai &
Gygi, SIMAX 2010; Nakatsukasa & Higham, SIMAX 2012).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from spectral_la.backend import Ops, working
from spectral_la.validation import MAX_STEPS, check_in_range, check_int, check_result_finite

__all__ = [
    "CHOLESKY_CUTOFF",
    "VERIFY",
    "PolarIterate",
    "PolarResult",
    "cholesky_step",
    "halley_step",
    "not_polar_factor",
    "polar_decomposition",
    "polar_factor_only",
    "scaled_start",
    "sigma_min_lower_bound",
    "verified_polar",
]

#: A DWH-type step runs as a QR while c exceeds this, by a Cholesky solve after (NBG 2010, §4.2):
#: I + cXᵀX then has κ ≤ 101.
CHOLESKY_CUTOFF = 100

#: ``iterate(ops, y, alpha, ell, max_iterations) -> (U, iterations, weights_converged)`` of a polar iteration.
PolarIterate = Callable[[Ops, Any, Any, Any, int], tuple[Any, int, bool]]


class PolarResult(NamedTuple):
    """Polar decomposition X = u @ h computed by a polar iteration (QDWH or ZOLO-PD)."""

    u: Any
    """Polar factor, shape (..., m, n): orthonormal columns (m ≥ n) or rows."""
    h: Any
    """Symmetric positive semidefinite factor, shape (..., n, n)."""
    iterations: int
    """Number of iteration steps taken (both passes of a rank-deficient X)."""
    converged: bool
    """Whether every member's U was verified to be a polar factor: orthonormal
    and X = U·H to backward error 10·n·u (module docstring). Never True for a
    wrong result."""


def cholesky_step(ops: Ops, x: Any, a: Any, b: Any, c: Any) -> Any:
    """X ← (b/c) X + (a − b/c) X (I + cXᵀX)⁻¹: the DWH step by a Cholesky solve (QDWH step 3)."""
    gram = ops.eye(x.shape[-1]) + (x.mT @ x) * c
    return x * (b / c) + ops.solve_spd_right(x, gram) * (a - b / c)


def halley_step(ops: Ops, x: Any) -> Any:
    """One Halley step, weights (3, 1, 3): the converged QDWH step, used to finish a rank-deficient pass."""
    return cholesky_step(ops, x, ops.scalar(3), ops.scalar(1), ops.scalar(3))


def sigma_min_lower_bound(ops: Ops, x0: Any) -> Any:
    """1/‖R⁻¹‖_F ≤ σ_min(X₀), minimised over the batch (0 if singular)."""
    _, r = ops.qr(x0)
    worst = ops.batch_max(ops.fro(ops.inv_upper(r)))
    return 1 / worst if worst < math.inf else ops.scalar(0)  # inf or NaN: singular R


def polar_decomposition(X: Any, alpha: Any, ell: Any, max_iterations: int, iterate: PolarIterate) -> PolarResult:
    """The public entry of a polar iteration (QDWH, ZOLO-PD): validate, run :func:`verified_polar`, restore."""
    max_iterations = check_int(max_iterations, "max_iterations", 1, MAX_STEPS)
    if alpha is not None:
        check_in_range(alpha, "alpha", 0, None, lo_open=True)
    if ell is not None:
        check_in_range(ell, "ell", 0, 1, lo_open=True)
    ops, x, restore = working(X)
    with ops.guard():
        u, h, iterations, converged = verified_polar(ops, x, alpha, ell, max_iterations, iterate)
    h = restore(h)
    check_result_finite(h, "H (of X = UH)")
    return PolarResult(restore(u), h, iterations, converged)


def polar_factor_only(X: Any, max_iterations: int, iterate: PolarIterate) -> tuple[Any, bool]:
    """U of X = UH by a polar iteration and whether it was verified; H is not returned, so it may overflow.

    For :func:`spectral_la.polar`: an fp16 X with entries near 6e4 has an H beyond fp16's range
    while U (orthonormal) is always representable.
    """
    ops, x, restore = working(X)
    with ops.guard():
        u, _, _, converged = verified_polar(ops, x, None, None, max_iterations, iterate)
    return restore(u), converged


def verified_polar(
    ops: Ops, x: Any, alpha: Any, ell: Any, max_iterations: int, iterate: PolarIterate
) -> tuple[Any, Any, int, bool]:
    """(U, H, iterations, converged) of X = UH by a scaled polar iteration, verified, any rank (module docstring).

    ``iterate(ops, y, alpha, ell, max_iterations) -> (U, iterations, weights_converged)`` runs the
    iteration on a tall, power-of-two-prescaled Y (QDWH's, ZOLO-PD's); this driver
    owns the orientation, the prescaling, the verification and the rank-deficient second pass.
    """
    wide = x.shape[-2] < x.shape[-1]
    xt = x.mT if wide else x
    # Exact power-of-two prescaling: the norms, QR and Gram matrices below never overflow or
    # underflow, whatever the scale of X (U is scale-invariant; H = 2^e·H_Y).
    y, e = ops.pow2_scale(xt)
    alpha_y = None if alpha is None else ops.mul_pow2(ops.scalar(alpha), -e)
    u, iterations, weights_converged = iterate(ops, y, alpha_y, ell, max_iterations)
    bad = not_polar_factor(ops, u, y)
    if weights_converged and ops.batch_max(bad) > 0:
        # Rank deficiency: QDWH maps σ = 0 to 0 and rounding-level σ anywhere in [0, 1].
        # Rerun on Y + δG, δ = u·‖Y‖_F/‖G‖_F (a backward error of one unit roundoff; G fixed):
        # its null-space σ are ~δ/n ≫ the ℓ floor u², so it converges to an orthonormal U, which
        # is a polar factor of Y to backward error O(u) and equals U_r V_rᵀ on the range of Yᵀ.
        g = ops.randn(tuple(y.shape))
        delta = ops.fro(y) * ops.scalar(ops.unit_roundoff) / ops.fro(g)
        perturbed = y + g * ops.where(delta > 0, delta, ops.scalar(ops.unit_roundoff))
        # ℓ = u² (the floor) rather than the QR estimate: the perturbed Y has κ ≈ n/u, where the
        # estimate 1/‖R⁻¹‖_F is itself inaccurate and may overshoot σ_min.
        u2, more, _ = iterate(ops, perturbed, None, ops.unit_roundoff * ops.unit_roundoff, max_iterations)
        iterations += more
        # Null-space σ of the perturbed Y lie near u, where the stopping rule's (10u)^{1/3}
        # threshold can fire before they reach 1 (in float32 they may end near 1e-3). Halley
        # steps (the converged weights (3, 1, 3)) triple such σ per step: continue until verified.
        for _ in range(max_iterations):
            if not ops.batch_max(ops.where(bad > 0, not_polar_factor(ops, u2, y), ops.scalar(0))) > 0:
                break
            u2 = halley_step(ops, u2)
            iterations += 1
        u = ops.where(bad > 0, u2, u)
        bad = not_polar_factor(ops, u, y)
    converged = not ops.batch_max(bad) > 0
    u, y = (u.mT, y.mT) if wide else (u, y)
    h = u.mT @ y  # X = U H in X's own orientation: H is n × n
    return u, ops.mul_pow2((h + h.mT) / 2, e), iterations, converged


def scaled_start(ops: Ops, y: Any, alpha: Any, ell: Any) -> tuple[Any, Any]:
    """Step 1: (X₀ = Y/α, ℓ₀) with α ≥ ‖Y‖₂ and ℓ₀ ≤ σ_min(X₀) floored at u² (module docstring)."""
    if alpha is None:
        n1, ninf = ops.norm1_inf(y)
        est = ops.sqrt(n1 * ninf)
        fro = ops.fro(y)
        alpha_t = ops.where(est < fro, est, fro)
        alpha_t = ops.where(alpha_t > 0, alpha_t, ops.scalar(1))  # zero matrix: keep it zero
    else:
        alpha_t = alpha + 0 * ops.fro(y)
    x0 = y / alpha_t
    if ell is None:
        ell = sigma_min_lower_bound(ops, x0)
        return x0, min(max(ops.scalar(ell), ops.unit_roundoff**2), ops.scalar(1))
    return x0, ops.scalar(ell)


#: Verification constant: ‖UᵀU − I‖_F and ‖Y − UH‖_F/‖Y‖_F must be ≤ VERIFY·n·u.
VERIFY = 10


def not_polar_factor(ops: Ops, u: Any, y: Any) -> Any:
    """Per member (shape (..., 1, 1)): 1 where U fails to be a polar factor of Y, else 0.

    A polar factor from a backward-stable QDWH (Nakatsukasa & Higham, SIMAX 2012)
    has ‖UᵀU − I‖_F and ‖Y − U·sym(UᵀY)‖_F/‖Y‖_F of order √n·u; each of the ≤ 6
    steps adds products with rounding error ≤ γ_n ≈ n·u (Higham 2002, §3.5), so
    VERIFY·n·u with VERIFY = 10 bounds a correct result, while a null-space
    singular value stuck below 1 leaves an O(1) orthogonality defect. The check
    costs two n × n products and one m × n product.
    """
    n = u.shape[-1]
    bound = ops.scalar(VERIFY * n) * ops.unit_roundoff
    defect = ops.fro(u.mT @ u - ops.eye(n))
    h = u.mT @ y
    backward = ops.fro(y - u @ ((h + h.mT) / 2)) - ops.fro(y) * bound
    fails = (defect > bound) | (backward > 0)
    return ops.where(fails, ops.scalar(1), ops.scalar(0))
