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

Rank deficiency. QDWH needs σ_min(X) > 0. Its step maps 0 to 0, so on a
rank-deficient X the null-space singular values stay at rounding level and
grow by an amount that depends on the rounding: the iterate may or may not
reach an orthonormal U. ``converged`` says which (it checks ‖UᵀU − I‖); when
it is False neither orthogonality nor the O(u) backward error is guaranteed
(a property test met ‖X − UH‖/‖X‖ ≈ 700u on a rank-2 5 × 5 matrix). Use the
SVD route (:func:`spectral_la.polar`) for a rank-deficient X: it maps zero
singular values to 0.

Batches. One ℓ₀ (the minimum over the batch) drives all members so that the
weights are host scalars: the torch path synchronises with the host once for
ℓ₀ and once per convergence check, never per matmul.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from spectral_la._backend import working
from spectral_la._validate import check_in_range

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
    """Whether the stopping rule was met within ``max_iterations`` and U has
    orthonormal columns (rows) to working accuracy; False for a numerically
    rank-deficient X whose null-space singular values did not reach 1."""


def dwh_weights(ell: Any, sm: Any) -> tuple[Any, Any, Any]:
    """Optimal weights (a, b, c) on [ℓ, 1], step 2 above; ``sm`` is the scalar math module."""
    l2 = ell * ell
    gamma = sm.cbrt(4 * (1 - l2) / (l2 * l2))
    root = sm.sqrt(1 + gamma)
    a = root + sm.sqrt(2 - gamma + 2 * (2 - l2) / (l2 * root))
    b = (a - 1) ** 2 / 4
    return a, b, a + b - 1


def _qr_step(ops: Any, x: Any, a: Any, b: Any, c: Any) -> Any:
    m, n = x.shape[-2:]
    sqrt_c = ops.sm.sqrt(c)
    q, _ = ops.qr(ops.cat_rows(x * sqrt_c, ops.eye(n)))
    return x * (b / c) + (q[..., :m, :] @ q[..., m:, :].mT) * ((a - b / c) / sqrt_c)


def _cholesky_step(ops: Any, x: Any, a: Any, b: Any, c: Any) -> Any:
    gram = ops.eye(x.shape[-1]) + (x.mT @ x) * c
    return x * (b / c) + ops.solve_spd_right(x, gram) * (a - b / c)


def _sigma_min_lower_bound(ops: Any, x0: Any) -> Any:
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
        Iteration cap; ``converged`` is False when it is reached.

    Returns
    -------
    QDWHResult(u, h, iterations, converged)
        A zero matrix gives u = 0, h = 0 (and counts as converged).

    Examples
    --------
    >>> import torch
    >>> X = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=torch.float64)
    >>> u, h, its, ok = qdwh(X)
    >>> bool(torch.allclose(u @ h, X)) and bool(torch.allclose(u.mT @ u, torch.eye(2, dtype=X.dtype)))
    True
    """
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or max_iterations < 1:
        raise ValueError(f"max_iterations must be a positive int, got {max_iterations!r}")
    if alpha is not None:
        check_in_range(alpha, "alpha", 0, None, lo_open=True)
    if ell is not None:
        check_in_range(ell, "ell", 0, 1, lo_open=True)
    ops, x, restore = working(X)
    with ops.guard():
        u, h, iterations, converged = _qdwh(ops, x, alpha, ell, max_iterations)
    return QDWHResult(restore(u), restore(h), iterations, converged)


def _qdwh(ops: Any, x: Any, alpha: Any, ell: Any, max_iterations: int) -> tuple[Any, Any, int, bool]:
    wide = x.shape[-2] < x.shape[-1]
    xt = x.mT if wide else x
    u_round = ops.eps
    if alpha is None:
        n1, ninf = ops.norm1_inf(xt)
        est = ops.sqrt(n1 * ninf)
        fro = ops.fro(xt)
        alpha_t = ops.where(est < fro, est, fro)
        alpha_t = ops.where(alpha_t > 0, alpha_t, ops.scalar(1))  # zero matrix: keep it zero
    else:
        alpha_t = ops.scalar(alpha) + 0 * ops.fro(xt)
    x0 = xt / alpha_t
    if ell is None:
        ell = _sigma_min_lower_bound(ops, x0)
        ell = min(max(ops.scalar(ell), u_round**2), ops.scalar(1))
    else:
        ell = ops.scalar(ell)

    tol_ell = 10 * u_round
    tol_x = ops.sm.cbrt(10 * u_round)
    iterations, converged = 0, False
    while iterations < max_iterations:
        a, b, c = dwh_weights(ell, ops.sm)
        step = _qr_step if c > CHOLESKY_CUTOFF else _cholesky_step
        x_next = step(ops, x0, a, b, c)
        ell = min(ell * (a + b * ell * ell) / (1 + c * ell * ell), ops.scalar(1))
        iterations += 1
        if ell >= 1 - tol_ell:
            # One host synchronisation per check, only once the weights have converged.
            change = ops.fro(x_next - x0) - ops.fro(x_next) * tol_x
            converged = bool(ops.batch_max(change) <= 0)
        x0 = x_next
        if converged:
            break

    if converged:
        converged = _is_orthonormal(ops, x0, nonzero=alpha_t)
    u = x0.mT if wide else x0
    h = u.mT @ x
    return u, (h + h.mT) / 2, iterations, converged


def _is_orthonormal(ops: Any, u: Any, nonzero: Any) -> bool:
    """‖UᵀU − I‖_F ≤ √(n·u) for every member with X ≠ 0 (zero members give U = 0).

    A converged iterate is orthonormal to O(√n·u); a singular value that has
    not reached 1 (a rank-deficient X, whose zero singular values QDWH maps to
    0 in exact arithmetic and to rounding-dependent values in floating point)
    leaves an O(1) defect. √(n·u) separates the two by many orders.
    """
    n = u.shape[-1]
    defect = ops.fro(u.mT @ u - ops.eye(n))
    zero = ops.fro(u) == 0
    return bool(ops.batch_max(ops.where(zero, ops.scalar(0), defect)) <= ops.sm.sqrt(n * ops.eps))
