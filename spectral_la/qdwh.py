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

from typing import Any

from spectral_la.backend import Ops
from spectral_la.polar_driver import (
    CHOLESKY_CUTOFF,
    PolarResult,
    cholesky_step,
    polar_decomposition,
    polar_factor_only,
    scaled_start,
)

__all__ = ["QDWHResult", "dwh_weights", "qdwh", "qdwh_polar_factor"]

#: The result of :func:`qdwh` (the name before ZOLO-PD shared it; :class:`PolarResult` is the same type).
QDWHResult = PolarResult


def dwh_weights(ell: Any, host_math: Any) -> tuple[Any, Any, Any]:
    """Optimal weights (a, b, c) on [ℓ, 1], step 2 above; ``host_math`` is the scalar math module (math, mpmath.mp)."""
    l2 = ell * ell
    gamma = host_math.cbrt(4 * (1 - l2) / (l2 * l2))
    root = host_math.sqrt(1 + gamma)
    a = root + host_math.sqrt(2 - gamma + 2 * (2 - l2) / (l2 * root))
    b = (a - 1) ** 2 / 4
    return a, b, a + b - 1


def _qr_step(ops: Ops, x: Any, a: Any, b: Any, c: Any) -> Any:
    m, n = x.shape[-2:]
    sqrt_c = ops.host_math.sqrt(c)
    q, _ = ops.qr(ops.cat_rows(x * sqrt_c, ops.eye(n)))
    return x * (b / c) + (q[..., :m, :] @ q[..., m:, :].mT) * ((a - b / c) / sqrt_c)


def qdwh(X: Any, *, alpha: Any = None, ell: Any = None, max_iterations: int = 20) -> PolarResult:
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
    PolarResult(u, h, iterations, converged)
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
        step = _qr_step if c > CHOLESKY_CUTOFF else cholesky_step
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
