"""Muon^p: matmul-only approximations of the fractional power U Σ^p Vᵀ, p ∈ (0, 1).

Target. With X₀ = X/(‖X‖_F + 1e-7) (per matrix), the exact map is
``fractional_power(X₀, p)`` = U diag(σ̂ᵢ^p) Vᵀ, σ̂ᵢ = σᵢ/(‖X‖_F + 1e-7).
Dong & Sawin ("Muon^p: Muon with fractional spectral powers", arXiv
2606.13867) prove that no fixed univariate odd polynomial iteration computes
it, and use **bivariate** recurrences in (X₀, Y) with Y₀ = X₀; odd matrix
powers act on singular values, Y^b = (YYᵀ)^{(b−1)/2} Y.

``method="bivariate"`` -- the recurrences of the public code
(princeton-pli/muon-p, ``utils.py``), one per supported p, 6 steps by default:

* p = a/b with a, b odd:  Y ← Y − c·(Y^b − X₀^a)   (fixed point y^b = x^a);
  (a, b, c) = (1, 3, 0.66), (1, 5, 0.2), (1, 7, 1/7), (3, 5, 0.2), (1, 15, 1/15),
  (13, 15, 1/15);
* p = 1/2:  Y ← Y − ((YYᵀ)² − X₀X₀ᵀ)(c X₀ + d Y),  (c, d) = (3.0, −0.795918)
  (fixed point y⁴ = x²).

On a singular value the step is the scalar map y ← g(y, x); linearising at
the fixed point y* = x^p gives the contraction factor
1 − c·b·y*^{b−1} (odd family), which tends to 1 as x → 0 (small singular
values converge slowly) and must stay above −1 (c·b·y*^{b−1} < 2) or the
iteration oscillates away. For p = 1/2 the factor 1 − 4y*³(c x + d y*) leaves
(−1, 1) for x near 1 with the published (c, d): the recurrence is only meant
for the σ̂ range of Frobenius-normalised gradients. :func:`muon_p_scalar_map`
gives the map by running this same code on 1 × 1 matrices, so the analysis
layer can find where it diverges.

``method="coupled"`` -- any p with (1 − p)/2 = k/r, r ≤ 64 (e.g. 0.1 … 0.9):
Y = (X₀X₀ᵀ + εI)^{-k/r} X₀ on the smaller Gram side, with the inverse r-th
root from coupled Newton (:func:`spectral_la.coupled_inverse_root`) and the
k-th power by binary powering. It maps σ̂ to σ̂(σ̂² + ε)^{-(1−p)/2}, which is
σ̂^p up to a relative ε/σ̂² (ε = 0 requires full rank).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from spectral_la.backend import sigma_batch, working
from spectral_la.coupled_inverse_root import check_positive_definite, coupled_newton, default_tol, matrix_power
from spectral_la.errors import NotConvergedError, SingularMatrixError
from spectral_la.newton_schulz import apply_normalization, on_wide
from spectral_la.schedules import SOURCE_EPS, Normalization
from spectral_la.validation import MAX_STEPS, check_in_range, check_int

__all__ = ["MUON_P_RECURRENCES", "PowerRecurrence", "muon_p", "muon_p_scalar_map"]

#: Muon^p normalisation: X₀ = X/(‖X‖_F + 1e-7), computed scale-safely like every schedule's.
MUON_P_NORMALIZATION = Normalization(kind="frobenius", eps=SOURCE_EPS)


@dataclass(frozen=True, kw_only=True)
class PowerRecurrence:
    """One bivariate recurrence of Muon^p (see module docstring)."""

    p: Fraction
    c: float
    d: float | None = None  # only for the p = 1/2 form
    steps: int = 6
    source: str = "princeton-pli/muon-p, utils.py (poly_* functions)"

    def step(self, ops: Any, x: Any, y: Any, x_power: Any) -> Any:
        """One step on wide arrays; ``x_power`` is X₀^a (precomputed, fixed)."""
        if self.d is not None:  # p = 1/2: Y − ((YYᵀ)² − XXᵀ)(cX + dY)
            g = y @ y.mT
            return y - (g @ g - x_power) @ (x * ops.scalar(self.c) + y * ops.scalar(self.d))
        b = self.p.denominator
        y_b = matrix_power(ops, y @ y.mT, (b - 1) // 2) @ y if b > 1 else y
        return y - (y_b - x_power) * ops.scalar(self.c)

    def fixed_input(self, ops: Any, x: Any) -> Any:
        """X₀X₀ᵀ for p = 1/2, X₀^a otherwise."""
        if self.d is not None:
            return x @ x.mT
        a = self.p.numerator
        return matrix_power(ops, x @ x.mT, (a - 1) // 2) @ x if a > 1 else x


MUON_P_RECURRENCES: dict[Fraction, PowerRecurrence] = {
    rec.p: rec
    for rec in (
        PowerRecurrence(p=Fraction(1, 2), c=3.0, d=-0.795918),
        PowerRecurrence(p=Fraction(1, 3), c=0.66),
        PowerRecurrence(p=Fraction(1, 5), c=0.2),
        PowerRecurrence(p=Fraction(1, 7), c=1 / 7),
        PowerRecurrence(p=Fraction(3, 5), c=0.2),
        PowerRecurrence(p=Fraction(1, 15), c=1 / 15),
        PowerRecurrence(p=Fraction(13, 15), c=1 / 15),
    )
}


def _as_fraction(value: float, max_denominator: int, what: str) -> Fraction:
    frac = Fraction(value).limit_denominator(max_denominator)
    if abs(float(frac) - float(value)) > 1e-12:
        raise ValueError(f"{what} = {value} is not a fraction with denominator ≤ {max_denominator}")
    return frac


def _recurrence(p: Any) -> PowerRecurrence:
    frac = Fraction(p).limit_denominator(64)
    rec = MUON_P_RECURRENCES.get(frac)
    if rec is None or abs(float(frac) - float(p)) > 1e-12:
        supported = ", ".join(str(k) for k in MUON_P_RECURRENCES)
        raise ValueError(
            f"p = {p} has no published bivariate recurrence (supported: {supported}); use method='coupled'"
        )
    return rec


def _bivariate(ops: Any, x: Any, rec: PowerRecurrence, steps: int) -> Any:
    x_fixed = rec.fixed_input(ops, x)
    y = x
    for _ in range(steps):
        y = rec.step(ops, x, y, x_fixed)
    return y


def _coupled(ops: Any, x: Any, p: Any, eps: Any, steps: int | None, max_iterations: int) -> tuple[Any, int, bool]:
    """(X₀X₀ᵀ + εI)^{-k/r} X₀ on the wide working array; a zero member maps to zero."""
    q = _as_fraction((1 - float(p)) / 2, 64, "(1 − p)/2")
    eye = ops.eye(x.shape[-2])
    gram = x @ x.mT + eye * ops.scalar(eps)
    gram = ops.where(ops.fro(x) > 0, gram, eye + 0 * gram)  # zero X: root I, output 0
    rel = 10 * x.shape[-2] * 2 * ops.eps
    try:
        check_positive_definite(ops, gram, gram, eps, rel, name="X₀X₀ᵀ")
    except SingularMatrixError:
        raise SingularMatrixError(
            f"X is numerically rank-deficient and eps = {eps}: σ^p has infinite slope at σ = 0, so the coupled "
            "route needs X₀X₀ᵀ + eps·I positive definite; pass eps > 0 or use method='bivariate'"
        ) from None
    tol = default_tol(ops, x.shape[-2])
    root, it, _, converged = coupled_newton(ops, gram, q.denominator, steps, max_iterations, 1, tol)
    return matrix_power(ops, root, q.numerator) @ x, it, converged


def muon_p(
    X: Any,
    p: float,
    steps: int | None = None,
    *,
    method: str = "bivariate",
    eps: float = 0.0,
    max_iterations: int = 100,
    compute_dtype: Any = None,
    check_finite: bool = True,
) -> Any:
    """Matmul-only U Σ̂^p Vᵀ of X₀ = X/(‖X‖_F + 1e-7) (Muon^p direction).

    Parameters
    ----------
    X : torch.Tensor, mpmath.matrix or object ndarray, shape (..., m, n)
    p : float in (0, 1)
    steps : int, optional
        ``"bivariate"``: recurrence steps (default 6, as published).
        ``"coupled"``: fixed coupled-Newton steps, the result returned as it is
        (an approximation, no convergence claim); default: iterate to
        tolerance, one host sync per step, and raise
        :class:`~spectral_la.NotConvergedError` if it is not reached.
    method : {"bivariate", "coupled"}
        See the module docstring.
    eps : float ≥ 0
        ``"coupled"`` only: regularisation of X₀X₀ᵀ. With eps = 0 a
        numerically rank-deficient X raises :class:`~spectral_la.SingularMatrixError`
        (σ^p has infinite slope at 0); a zero X (or batch member) maps to zero.
    max_iterations : int
        ``"coupled"`` only: cap of the tolerance-driven mode.
    compute_dtype, check_finite
        As in :func:`spectral_la.newton_schulz`.

    Examples
    --------
    >>> import torch
    >>> from spectral_la import fractional_power
    >>> X = torch.randn(16, 48, dtype=torch.float64)
    >>> X0 = X / (torch.linalg.matrix_norm(X) + 1e-7)
    >>> err = (muon_p(X, 0.5, method="coupled") - fractional_power(X0, 0.5)).abs().max()
    >>> bool(err < 1e-10)
    True
    """
    check_in_range(p, "p", 0, 1, lo_open=True, hi_open=True)
    check_in_range(eps, "eps", 0, None)
    if method not in ("bivariate", "coupled"):
        raise ValueError(f"method must be 'bivariate' or 'coupled', got {method!r}")
    if steps is not None:
        check_int(steps, "steps", 1, MAX_STEPS)
    check_int(max_iterations, "max_iterations", 1, MAX_STEPS)
    if method == "bivariate":
        rec = _recurrence(p)
        if eps:
            raise ValueError("eps applies to method='coupled' only")
    else:
        _as_fraction((1 - float(p)) / 2, 64, "(1 − p)/2")
    ops, x, restore = working(X, compute_dtype=compute_dtype, check_finite_entries=check_finite)
    with ops.guard():
        x0 = apply_normalization(ops, x, MUON_P_NORMALIZATION)
        if method == "bivariate":
            y = on_wide(lambda w: _bivariate(ops, w, rec, rec.steps if steps is None else steps), x0)
        else:
            info: list = []
            y = on_wide(lambda w: info.append(_coupled(ops, w, p, eps, steps, max_iterations)) or info[0][0], x0)
            _, iterations, converged = info[0]
            if steps is None and not converged:
                raise NotConvergedError(
                    f"Muon^p coupled route: coupled Newton did not reach its tolerance in {iterations} iterations "
                    "(X₀X₀ᵀ + eps·I is too ill-conditioned); pass eps > 0 or a larger max_iterations"
                )
    return restore(y)


def muon_p_scalar_map(p: float, sigma: Any, steps: int | None = None) -> Any:
    """The bivariate recurrence's map σ̂ ↦ y_T(σ̂), run by the matrix code on 1 × 1 matrices.

    ``sigma`` holds already-normalised singular values σ̂, of any kind
    :func:`spectral_la.scalar_map` accepts; the result has the same kind.
    """
    check_in_range(p, "p", 0, 1, lo_open=True, hi_open=True)
    rec = _recurrence(p)
    steps = rec.steps if steps is None else check_int(steps, "steps", 0, MAX_STEPS)
    ops, x, restore = sigma_batch(sigma)
    with ops.guard():
        return restore(_bivariate(ops, x, rec, steps))
