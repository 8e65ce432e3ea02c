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
(−1, 1) above x ≈ 0.580 with the published (c, d) (``PowerRecurrence.stable_bound``):
the recurrence is only meant for the σ̂ range of Frobenius-normalised gradients of
high effective rank. ``muon_p`` checks it (``check_finite``): an X whose largest
normalised singular value may lie above the bound raises :class:`DivergedError`
(the bound comes from ‖(X₀X₀ᵀ)²‖_F, a product the first step forms anyway).
:func:`muon_p_scalar_map` gives the map by running this same code on 1 × 1
matrices, so the analysis layer can find where it diverges.

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

from spectral_la.backend import Ops, sigma_batch, working
from spectral_la.coupled_inverse_root import StoppingRule, check_positive_definite, coupled_newton, default_tol
from spectral_la.errors import DivergedError, NotConvergedError, SingularMatrixError
from spectral_la.kernels import matrix_power, on_wide, to_wide
from spectral_la.normalization import SOURCE_FROBENIUS, apply_normalization
from spectral_la.validation import MAX_STEPS, check_in_range, check_int

__all__ = ["MUON_P_RECURRENCES", "PowerRecurrence", "muon_p", "muon_p_scalar_map"]


@dataclass(frozen=True, kw_only=True)
class PowerRecurrence:
    """One bivariate recurrence of Muon^p: Y ← Y − c·(Y^b − X₀^a), or the p = 1/2 form with d (:func:`muon_p`)."""

    p: Fraction
    c: float
    d: float | None = None  # only for the p = 1/2 form
    steps: int = 6
    source: str = "princeton-pli/muon-p, utils.py (poly_* functions)"

    @property
    def stable_bound(self) -> float:
        """Largest σ̂ at which the fixed point y* = σ̂^p still attracts (1.0: all of [0, 1]).

        Linearised at y*, one step multiplies the error by 1 − c·b·y*^{b−1} (odd family; with
        y* ≤ 1 it stays above −1 on all of [0, 1] when c·b < 2, true for every published c), or by
        1 − 4(c σ̂^{5/2} + d σ̂²) (p = 1/2), which falls below −1 where c σ̂^{5/2} + d σ̂² = 1/2:
        σ̂ ≈ 0.580 for the published (c, d). Above it the iterate oscillates away from y*: after
        the published 6 steps the error is 0.22–0.5 on [0.6, 0.66], the map reaches −1.30 at
        σ̂ = 0.72 and −2.2e18 at 0.8 (the error passes 1 at σ̂ ≈ 0.692, where the report's
        recurrence table, which measures |f − σ̂^p| ≤ 1, puts its divergence).
        """
        if self.d is None:
            return 1.0 if self.c * self.p.denominator < 2 else 0.0
        lo, hi = 0.0, 1.0  # c x^2.5 + d x² − 1/2 is increasing on the root's side; 60 bisections
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if self.c * mid**2.5 + self.d * mid**2 < 0.5 else (lo, mid)
        return lo

    def step(self, ops: Ops, x: Any, y: Any, x_power: Any, gram_squared: Any = None) -> Any:
        """One step on wide arrays; ``x_power`` is X₀^a (precomputed, fixed).

        ``gram_squared``: (YYᵀ)² when the caller has it already (the first p = 1/2 step, Y = X₀).
        """
        if self.d is not None:  # p = 1/2: Y − ((YYᵀ)² − XXᵀ)(cX + dY)
            if gram_squared is None:
                gram_squared = ops.gram(ops.gram(y))
            return y - (gram_squared - x_power) @ (x * ops.scalar(self.c) + y * ops.scalar(self.d))
        b = self.p.denominator
        y_b = matrix_power(ops, ops.gram(y), (b - 1) // 2, symmetric=True) @ y if b > 1 else y
        return y - (y_b - x_power) * ops.scalar(self.c)

    def fixed_input(self, ops: Ops, x: Any) -> Any:
        """X₀X₀ᵀ for p = 1/2, X₀^a otherwise."""
        if self.d is not None:
            return ops.gram(x)
        a = self.p.numerator
        return matrix_power(ops, ops.gram(x), (a - 1) // 2, symmetric=True) @ x if a > 1 else x


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


def _bivariate(ops: Ops, x: Any, rec: PowerRecurrence, steps: int, check: bool = False) -> Any:
    x_fixed = rec.fixed_input(ops, x)
    y = x
    first = None
    if rec.d is not None and steps > 0:
        first = x_fixed @ x_fixed  # (X₀X₀ᵀ)²: the first step's product, and the input of the range check
        if check:
            check_in_stable_range(ops, x_fixed, first, rec)
    elif check and rec.stable_bound < 1:
        raise AssertionError("only the p = 1/2 recurrence has a stable bound below 1")
    for k in range(steps):
        y = rec.step(ops, x, y, x_fixed, first if k == 0 else None)
    return y


def check_in_stable_range(ops: Ops, gram: Any, gram_squared: Any, rec: PowerRecurrence) -> None:
    """Raise :class:`DivergedError` when σ̂₁ of X₀ may lie above the recurrence's stable bound.

    With G = X₀X₀ᵀ (eigenvalues λᵢ = σ̂ᵢ², Σλᵢ ≤ 1) and Nₖ = ‖G^{2^k}‖_F, per matrix:
    σ̂₁ ≤ uₖ = Nₖ^{1/2^{k+1}} and σ̂₁ ≥ lₖ = (Nₖ/N_{k−1})^{1/2^k} (λ₁^{2^k} bounds the Rayleigh
    quotient of G^{2^{k−1}}). Since Σλᵢ ≤ 1, uₖ ≤ σ̂₁^{1 − 2^{−k}}: the first bound, from
    (X₀X₀ᵀ)², which the first step forms anyway, costs one reduction and clears every input with
    σ̂₁ ≤ 0.580^{4/3} ≈ 0.48. Above that up to four more squarings of the small Gram matrix
    (normalised, Hₖ = (H_{k−1}/‖H_{k−1}‖)², so nothing under- or overflows; uₖ = u_{k−1}·‖Hₖ‖^{1/2^{k+1}},
    lₖ = u_{k−1}·‖Hₖ‖^{1/2^k}) narrow [lₖ, uₖ]; an input still undecided after them (σ̂₁ within
    about 1% below the bound) raises too: the check never lets a possibly unstable input through.
    """
    bound = rec.stable_bound
    n0 = ops.fro(gram)
    h = gram_squared / _nonzero(ops, n0 * n0)
    h_norm = ops.fro(h)
    u_prev = ops.sqrt(n0)  # u₀ = N₀^{1/2}
    power = 2  # 2^k
    for k in range(1, _MAX_SQUARINGS + 1):
        upper = u_prev * ops.power(h_norm, ops.scalar(1 / (2 * power)))
        if ops.batch_max(upper) <= bound:
            return
        lower = u_prev * ops.power(h_norm, ops.scalar(1 / power))
        low, up = ops.batch_max(lower), ops.batch_max(upper)
        if low > bound or k == _MAX_SQUARINGS:
            where = f"at least {low:.4g}" if low > bound else f"in [{low:.4g}, {up:.4g}]"
            raise DivergedError(
                f"Muon^p p = {rec.p}: the largest normalised singular value σ̂₁ of X₀ = X/(‖X‖_F + 1e-7) is "
                f"{where}, above the recurrence's stable bound {bound:.4g} (PowerRecurrence.stable_bound), where "
                "the fixed point y = σ̂^p repels and the iterate oscillates away; use method='coupled' or another p"
            )
        h = h / _nonzero(ops, h_norm)
        h = h @ h
        u_prev, h_norm, power = upper, ops.fro(h), 2 * power


#: Squarings of the Gram matrix the range check may spend.
_MAX_SQUARINGS = 5


def _nonzero(ops: Ops, d: Any) -> Any:
    """d where positive, else 1 (a zero batch member divides by 1 and keeps bounds 0)."""
    return ops.where(d > 0, d, d * 0 + 1)


def _coupled(ops: Ops, x: Any, p: Any, eps: Any, steps: int | None, max_iterations: int) -> tuple[Any, int, bool]:
    """(X₀X₀ᵀ + εI)^{-k/r} X₀ on the wide working array; a zero member maps to zero.

    With ε = 0 the map is homogeneous of degree p: (X₀X₀ᵀ)^{-k/r}X₀ = 2^{ep}·(YYᵀ)^{-k/r}Y for
    X₀ = 2^e·Y, so it runs on the power-of-two rescaled Y (max |Y| ∈ [½, 1)). X₀ itself can be tiny
    (X/(‖X‖_F + 1e-7) of an X of norm 1e-30 is 1e-23), and its Gram matrix would underflow and
    look rank-deficient though X is well conditioned.
    """
    if not eps:
        y, e = ops.pow2_scale(x)
        out, it, converged = _coupled_scaled(ops, y, p, eps, steps, max_iterations)
        return ops.mul_pow2(out, e * float(p)), it, converged
    return _coupled_scaled(ops, x, p, eps, steps, max_iterations)


def _coupled_scaled(
    ops: Ops, x: Any, p: Any, eps: Any, steps: int | None, max_iterations: int
) -> tuple[Any, int, bool]:
    q = _as_fraction((1 - float(p)) / 2, 64, "(1 − p)/2")
    eye = ops.eye(x.shape[-2])
    gram = ops.gram(x) + eye * ops.scalar(eps)
    gram = ops.where(ops.fro(x) > 0, gram, eye + 0 * gram)  # zero X: root I, output 0
    rel = 10 * x.shape[-2] * ops.machine_epsilon
    try:
        check_positive_definite(ops, gram, gram, eps, rel, name="X₀X₀ᵀ")
    except SingularMatrixError:
        raise SingularMatrixError(
            f"X is numerically rank-deficient and eps = {eps}: σ^p has infinite slope at σ = 0, so the coupled "
            "route needs X₀X₀ᵀ + eps·I positive definite; pass eps > 0 or use method='bivariate'"
        ) from None
    tol = default_tol(ops, x.shape[-2])
    root, it, _, converged = coupled_newton(ops, gram, q.denominator, StoppingRule(steps, max_iterations, 1, tol))
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
        ``"bivariate"``: the published recurrences of Dong & Sawin (arXiv 2606.13867,
        princeton-pli/muon-p) for p ∈ {1/2, 1/3, 1/5, 1/7, 3/5, 1/15, 13/15}: Y₀ = X₀ and, for
        p = a/b with a, b odd, Y ← Y − c·(Y^b − X₀^a) (fixed point y^b = x^a); for p = 1/2,
        Y ← Y − ((YYᵀ)² − X₀X₀ᵀ)(c X₀ + d Y). The p = 1/2 recurrence is defined only for
        σ̂₁ ≤ 0.580 (its fixed point repels above; :attr:`PowerRecurrence.stable_bound`): with
        ``check_finite`` an input that may exceed it raises :class:`~spectral_la.DivergedError`.
        ``"coupled"``: any p with (1 − p)/2 = k/r, r ≤ 64:
        Y = (X₀X₀ᵀ + εI)^{-k/r} X₀ with the inverse root from coupled Newton
        (:func:`spectral_la.coupled_inverse_root`). The full derivation is in the module
        ``spectral_la.muon_p`` (``sys.modules["spectral_la.muon_p"].__doc__``).
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
        x0 = apply_normalization(ops, x, SOURCE_FROBENIUS)
        if method == "bivariate":
            y = on_wide(lambda w: _bivariate(ops, w, rec, rec.steps if steps is None else steps, check_finite), x0)
        else:
            wide, back = to_wide(x0)  # as on_wide, keeping the iteration info
            out, iterations, converged = _coupled(ops, wide, p, eps, steps, max_iterations)
            y = back(out)
            if steps is None and not converged:
                raise NotConvergedError(
                    f"Muon^p coupled route: coupled Newton did not reach its tolerance in {iterations} iterations "
                    "(X₀X₀ᵀ + eps·I is too ill-conditioned); pass eps > 0 or a larger max_iterations"
                )
    return restore(y)


def muon_p_scalar_map(p: float, sigma: Any, steps: int | None = None, *, check_range: bool = True) -> Any:
    """The bivariate recurrence's map σ̂ ↦ y_T(σ̂), run by the matrix code on 1 × 1 matrices.

    ``sigma`` holds already-normalised singular values σ̂, of any kind
    :func:`spectral_la.scalar_map` accepts; the result has the same kind.
    ``check_range``: raise :class:`~spectral_la.DivergedError` for a σ̂ above the recurrence's
    stable bound (:attr:`PowerRecurrence.stable_bound`, 0.580 for p = 1/2), where the map is
    not the recurrence's fixed point but whatever the oscillation reached; pass False to see
    exactly that (the analysis layer draws the blow-up).
    """
    check_in_range(p, "p", 0, 1, lo_open=True, hi_open=True)
    rec = _recurrence(p)
    steps = rec.steps if steps is None else check_int(steps, "steps", 0, MAX_STEPS)
    ops, x, restore = sigma_batch(sigma)
    with ops.guard():
        if check_range and steps > 0:
            top = float(ops.batch_max(abs(x))) if x.shape[0] else 0.0
            if top > rec.stable_bound:
                raise DivergedError(
                    f"Muon^p p = {rec.p}: σ̂ = {top:.4g} lies above the recurrence's stable bound "
                    f"{rec.stable_bound:.4g} (PowerRecurrence.stable_bound); pass check_range=False to evaluate it"
                )
        return restore(_bivariate(ops, x, rec, steps))
