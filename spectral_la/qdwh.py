"""QDWH: the QR-based dynamically weighted Halley iteration for the polar decomposition.

Algorithm (Nakatsukasa, Bai & Gygi, "Optimizing Halley's iteration for
computing the matrix polar decomposition", SIAM J. Matrix Anal. Appl. 31(5),
2010, doi:10.1137/090774999; numbered steps of its Algorithm 5.1, tall case
m ≥ n; a wide X is handled through Xᵀ):

1. Scale: X₀ = X/α with α ≥ ‖X‖₂, so every σᵢ(X₀) ∈ (0, 1], and take
   ℓ₀ ≤ σ_min(X₀).
2. Weights from ℓ = ℓ_k (the optimal rational of type (3, 2) on [ℓ, 1]):
   γ = (4(1 − ℓ²)/ℓ⁴)^{1/3},
   a = √(1 + γ) + ½·√(8 − 4γ + 8(2 − ℓ²)/(ℓ²√(1 + γ))),
   b = (a − 1)²/4,  c = a + b − 1.
3. Step X_{k+1} = X_k (aI + b X_kᵀX_k)(I + c X_kᵀX_k)⁻¹, which maps each
   singular value by f(x) = x(a + bx²)/(1 + cx²), evaluated inverse-free:
   * QR step (while c > 100): [√c X; I] = [Q₁; Q₂] R,
     X ← (b/c) X + (a − b/c)/√c · Q₁Q₂ᵀ;
   * Cholesky step (c ≤ 100, the matrix I + cXᵀX has κ ≤ 101):
     X ← (b/c) X + (a − b/c) X (I + cXᵀX)⁻¹.
4. ℓ_{k+1} = ℓ_k(a + bℓ_k²)/(1 + cℓ_k²). Once ℓ_k ≥ 1 − 10u the weights are
   Halley's (3, 1, 3), and the iteration stops when
   ‖X_{k+1} − X_k‖_F ≤ (10u)^{1/3}‖X_{k+1}‖_F (cubic convergence makes the
   error after that step O(u)).
5. U = X_k, H = sym(Uᵀ X).

For κ(X) ≤ 10¹⁶ in double precision at most 6 steps are needed (NBG 2010,
§5), and the algorithm is backward stable (Nakatsukasa & Higham, SIMAX 2012):
‖X − UH‖/‖X‖ and ‖UᵀU − I‖ are small multiples of the unit roundoff u.

Start estimates. α = min(‖X‖_F, √(‖X‖₁‖X‖_∞)), both guaranteed upper
bounds of ‖X‖₂ (Higham, *Accuracy and Stability*, 2002, §6.3). ℓ₀ =
1/‖R⁻¹‖_F ≤ σ_min(R) = σ_min(X₀), with R from a QR factorization of X₀
(within √n of σ_min); it is floored at u², which still gives ≤ 6 steps in
double precision.

Scale. X is first divided by the power of two 2^e nearest its largest entry
(exact), so no norm, QR or Gram matrix overflows or underflows for any finite
X; U does not depend on the scale and H = 2^e·H_Y (which overflows only if H
itself does).

Verification and rank deficiency. Every result is checked: ‖UᵀU − I‖_F and
‖Y − U·sym(UᵀY)‖_F/‖Y‖_F must both be ≤ 10·n·u (:func:`not_polar_factor`).
QDWH needs σ_min(X) > 0: its step maps 0 to 0, so on a rank-deficient X the
null-space singular values stay at 0 or at rounding level and end anywhere in
[0, 1]. Members that fail the check are rerun on Y + δG with a fixed Gaussian
G and δ = u·‖Y‖_F/‖G‖_F, a perturbation of the size of one rounding of Y: its
null-space singular values are about δ/n, far above the ℓ floor u², so QDWH
(started from ℓ = u², then Halley steps until the check passes) converges to
an orthonormal U. That U is a polar factor of X to backward error
O(u) (X = UH, H PSD to rounding) and equals U_r V_rᵀ on the range of Xᵀ; on
the null space it is one of the many valid completions (a zero matrix gets an
orthonormal U and H = 0). ``converged`` is True only when every member
passes the check.

Batches. One ℓ₀ (the minimum over the batch) drives all members so that the
weights are host scalars: the torch path synchronises with the host once for
ℓ₀ and once per convergence check, never per matmul.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from spectral_la.backend import Ops, working
from spectral_la.validation import MAX_STEPS, check_in_range, check_int, check_result_finite

__all__ = ["QDWHResult", "qdwh", "dwh_weights"]

#: QR-based step while c exceeds this; the Cholesky step after (NBG 2010, §4.2).
CHOLESKY_CUTOFF = 100


class QDWHResult(NamedTuple):
    """Polar decomposition X = u @ h computed by QDWH."""

    u: Any
    """Polar factor, shape (..., m, n): orthonormal columns (m ≥ n) or rows."""
    h: Any
    """Symmetric positive semidefinite factor, shape (..., n, n)."""
    iterations: int
    """Number of QDWH steps taken."""
    converged: bool
    """Whether every member's U was verified to be a polar factor: orthonormal
    and X = U·H to backward error 10·n·u (module docstring). Never True for a
    wrong result."""


def dwh_weights(ell: Any, sm: Any) -> tuple[Any, Any, Any]:
    """Optimal weights (a, b, c) on [ℓ, 1], step 2 above; ``sm`` is the scalar math module."""
    l2 = ell * ell
    gamma = sm.cbrt(4 * (1 - l2) / (l2 * l2))
    root = sm.sqrt(1 + gamma)
    a = root + sm.sqrt(2 - gamma + 2 * (2 - l2) / (l2 * root))
    b = (a - 1) ** 2 / 4
    return a, b, a + b - 1


def _qr_step(ops: Ops, x: Any, a: Any, b: Any, c: Any) -> Any:
    m, n = x.shape[-2:]
    sqrt_c = ops.host_math.sqrt(c)
    q, _ = ops.qr(ops.cat_rows(x * sqrt_c, ops.eye(n)))
    return x * (b / c) + (q[..., :m, :] @ q[..., m:, :].mT) * ((a - b / c) / sqrt_c)


def halley_step(ops: Ops, x: Any) -> Any:
    """One Halley step, weights (3, 1, 3): the converged QDWH step, used to finish a rank-deficient pass."""
    return _cholesky_step(ops, x, ops.scalar(3), ops.scalar(1), ops.scalar(3))


def _cholesky_step(ops: Ops, x: Any, a: Any, b: Any, c: Any) -> Any:
    gram = ops.eye(x.shape[-1]) + (x.mT @ x) * c
    return x * (b / c) + ops.solve_spd_right(x, gram) * (a - b / c)


def sigma_min_lower_bound(ops: Ops, x0: Any) -> Any:
    """1/‖R⁻¹‖_F ≤ σ_min(X₀), minimised over the batch (0 if singular)."""
    _, r = ops.qr(x0)
    worst = ops.batch_max(ops.fro(ops.inv_upper(r)))
    return 1 / worst if worst < math.inf else ops.scalar(0)  # inf or NaN: singular R


def qdwh(X: Any, *, alpha: Any = None, ell: Any = None, max_iterations: int = 20) -> QDWHResult:
    """Polar decomposition X = U H by QDWH (Nakatsukasa, Bai & Gygi 2010).

    Parameters
    ----------
    X : torch.Tensor, mpmath.matrix or object ndarray, shape (..., m, n)
        Real input, batched over leading dims. torch: fp64/fp32 compute in
        their dtype, bf16/fp16 in fp32, results come back in X's dtype; the
        mpmath path runs at ``mp.prec`` plus guard bits.
    alpha : float, optional
        An upper bound of ‖X‖₂ for the scaling X₀ = X/α. Default: per matrix,
        min(‖X‖_F, √(‖X‖₁‖X‖_∞)).
    ell : float in (0, 1], optional
        A lower bound of σ_min(X/α). Default: estimated from a QR of X/α
        (module docstring); a smaller value only costs iterations.
    max_iterations : int
        Iteration cap of each pass (a rank-deficient X takes a second,
        perturbed pass once the first pass's weights have converged);
        ``converged`` is False when the verified result is not reached.

    Returns
    -------
    QDWHResult(u, h, iterations, converged)
        Any rank: a rank-deficient or zero X gets an orthonormal u (module
        docstring). ``iterations`` counts the steps of both passes.

    Examples
    --------
    >>> import torch
    >>> X = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=torch.float64)
    >>> u, h, its, ok = qdwh(X)
    >>> bool(torch.allclose(u @ h, X)) and bool(torch.allclose(u.mT @ u, torch.eye(2, dtype=X.dtype)))
    True
    """
    return polar_decomposition(X, alpha, ell, max_iterations, _iterate)


def qdwh_polar_factor(X: Any) -> tuple[Any, bool]:
    """U of X = UH by QDWH, and whether it was verified (:func:`polar_factor_only`)."""
    return polar_factor_only(X, 20, _iterate)


def polar_decomposition(X: Any, alpha: Any, ell: Any, max_iterations: int, iterate: Any) -> QDWHResult:
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
    return QDWHResult(restore(u), h, iterations, converged)


def polar_factor_only(X: Any, max_iterations: int, iterate: Any) -> tuple[Any, bool]:
    """U of X = UH by a polar iteration and whether it was verified; H is not returned, so it may overflow.

    For :func:`spectral_la.polar`: an fp16 X with entries near 6e4 has an H beyond fp16's range
    while U (orthonormal) is always representable.
    """
    ops, x, restore = working(X)
    with ops.guard():
        u, _, _, converged = verified_polar(ops, x, None, None, max_iterations, iterate)
    return restore(u), converged


def verified_polar(
    ops: Ops, x: Any, alpha: Any, ell: Any, max_iterations: int, iterate: Any
) -> tuple[Any, Any, int, bool]:
    """(U, H, iterations, converged) of X = UH by a scaled polar iteration, verified, any rank (module docstring).

    ``iterate(ops, y, alpha, ell, max_iterations) -> (U, iterations, weights_converged)`` runs the
    iteration on a tall, power-of-two-prescaled Y (QDWH's :func:`_iterate`, ZOLO-PD's); this driver
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


def _iterate(ops: Ops, y: Any, alpha: Any, ell: Any, max_iterations: int) -> tuple[Any, int, bool]:
    """Steps 1–4 on a tall, prescaled Y: (U, iterations, whether the weights reached Halley's).

    The weights converge (ℓ_k ≥ 1 − 10u) within 6 steps for every σ ≥ ℓ₀; a U
    that then fails verification has singular values outside [ℓ₀, 1]: rank
    deficiency, for the perturbed second pass. Before that, the cap was simply
    too small.
    """
    u_round = ops.unit_roundoff
    x0, ell = scaled_start(ops, y, alpha, ell)

    tol_ell = 10 * u_round
    tol_x = ops.host_math.cbrt(10 * u_round)
    iterations, converged, weights_converged = 0, False, False
    while iterations < max_iterations:
        a, b, c = dwh_weights(ell, ops.host_math)
        step = _qr_step if c > CHOLESKY_CUTOFF else _cholesky_step
        x_next = step(ops, x0, a, b, c)
        ell = min(ell * (a + b * ell * ell) / (1 + c * ell * ell), ops.scalar(1))
        iterations += 1
        if ell >= 1 - tol_ell:
            weights_converged = True
            # One host synchronisation per check, only once the weights have converged.
            change = ops.fro(x_next - x0) - ops.fro(x_next) * tol_x
            converged = bool(ops.batch_max(change) <= 0)
        x0 = x_next
        if converged:
            break
    return x0, iterations, weights_converged


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
