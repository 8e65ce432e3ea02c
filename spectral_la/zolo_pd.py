"""ZOLO-PD: the polar decomposition by Zolotarev's rational functions, in two iterations up to κ = 10¹⁶.

Algorithm (Nakatsukasa & Freund, "Computing fundamental matrix decompositions accurately via the
matrix sign function in two iterations: the power of Zolotarev's functions", SIAM Review 58(3),
2016, doi:10.1137/140990334; §3 and Algorithm 6.1, tall case m ≥ n):

1. Scale as QDWH: X₀ = X/α with α ≥ ‖X‖₂, and ℓ ≤ σ_min(X₀) (:func:`spectral_la.polar_driver.scaled_start`).
2. On [ℓ, 1] the best rational approximation of type (2r + 1, 2r) to the sign function is,
   up to a constant, Zolotarev's
       R(x) = x ∏ⱼ₌₁ʳ (x² + c₂ⱼ)/(x² + c₂ⱼ₋₁),
       cᵢ = ℓ² sn²(iK′/(2r+1); ℓ′) / cn²(iK′/(2r+1); ℓ′),  i = 1, …, 2r,
   with ℓ′ = √(1 − ℓ²) and K′ = K(ℓ′) the complete elliptic integral (Jacobi's sn, cn of
   modulus ℓ′). Its error equioscillates at 2r + 2 points including both ends, so R is largest
   on [ℓ, 1] at x = 1 and Ẑ = R/R(1) maps [ℓ, 1] into [ℓ₁, 1] with ℓ₁ = R(ℓ)/R(1).
3. In partial fractions R(x) = x(1 + Σⱼ aⱼ/(x² + c₂ⱼ₋₁)),
       aⱼ = −∏ₖ(c₂ⱼ₋₁ − c₂ₖ) / ∏ₖ≠ⱼ(c₂ⱼ₋₁ − c₂ₖ₋₁),
   so X_{k+1} = (X + Σⱼ aⱼ X(XᵀX + c₂ⱼ₋₁I)⁻¹)/R(1): r independent solves, run as one batch.
   Each is X(XᵀX + cI)⁻¹ = Q₁Q₂ᵀ/√c from the QR factorisation [X/√c; I] = [Q₁; Q₂]R while
   XᵀX + cI may be ill-conditioned, and a Cholesky solve once its condition number
   (1 + c)/(ℓ² + c) is at most 101 (QDWH's switch, NBG 2010 §4.2).
4. ℓ ← ℓ₁ and repeat until ℓ ≥ 1 − 10u: the composition of two Zolotarev functions is the
   Zolotarev function of type ((2r+1)², …) (Nakatsukasa & Freund 2016, §3.2), so two steps of
   type r = 8 reach 1 − ℓ₂ ≈ 5·10⁻¹⁶ from ℓ = 10⁻¹⁶ (:func:`zolotarev`; tested against
   mpmath). r is the smallest in 1…8 that reaches 1 − 10u in two steps (:func:`choose_r`).
   The count is that of the *scaled* problem: α overestimates ‖X‖₂ and ℓ₀ underestimates
   σ_min(X₀), so an X with κ = 10¹⁶ can start from ℓ₀ ≈ 4·10⁻¹⁷ (128 × 128, measured) and
   then takes a third step; ℓ₀ ≥ 10⁻¹⁶ always takes two.
5. U = X_k, H = sym(UᵀX); verified, with the rank-deficient second pass, exactly as QDWH
   (:func:`spectral_la.polar_driver.verified_polar`).

The coefficients are host scalars computed with mpmath at the working precision plus
2·log₂(1/ℓ) + 32 bits (ℓ′ is within ℓ²/2 of 1, where sn and cn need those extra bits).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import mpmath

from spectral_la.backend import Ops
from spectral_la.polar_driver import CHOLESKY_CUTOFF, PolarResult, polar_decomposition, polar_factor_only, scaled_start
from spectral_la.validation import check_in_range, check_int

__all__ = ["MAX_R", "ZolotarevStep", "choose_r", "zolo_pd", "zolotarev"]

#: The largest type used: r = 8 takes κ = 10¹⁶ to double precision in two steps (Nakatsukasa & Freund 2016, Table 3.1).
MAX_R = 8


class ZolotarevStep(NamedTuple):
    """One ZOLO-PD step's coefficients on [ℓ, 1] (module docstring, steps 2–3), as mpmath numbers."""

    c_odd: tuple  # c₁, c₃, …, c₂ᵣ₋₁: the shifts of the r solves
    a: tuple  # a₁, …, aᵣ: the partial-fraction weights
    scale: Any  # 1/R(1)
    ell_next: Any  # ℓ₁ = R(ℓ)/R(1), the new lower end


@functools.lru_cache(maxsize=256)
def _zolotarev(ell: mpmath.mpf, r: int, prec: int) -> ZolotarevStep:
    with mpmath.workprec(prec + 2 * max(0, -int(mpmath.floor(mpmath.log(ell, 2)))) + 32):
        ell = mpmath.mpf(ell)
        m_prime = 1 - ell * ell  # the parameter ℓ′² of sn, cn
        k_prime = mpmath.ellipk(m_prime)
        c = []
        for i in range(1, 2 * r + 1):
            u = i * k_prime / (2 * r + 1)
            c.append(ell**2 * (mpmath.ellipfun("sn", u, m=m_prime) / mpmath.ellipfun("cn", u, m=m_prime)) ** 2)
        c_odd, c_even = c[0::2], c[1::2]

        def rational(x):
            v = x
            for co, ce in zip(c_odd, c_even, strict=True):
                v *= (x * x + ce) / (x * x + co)
            return v

        a = []
        for j, cj in enumerate(c_odd):
            num = mpmath.fprod(cj - ce for ce in c_even)
            den = mpmath.fprod(cj - ck for k, ck in enumerate(c_odd) if k != j)
            a.append(-num / den)
        r1 = rational(mpmath.mpf(1))
        ell_next = min(rational(ell) / r1, mpmath.mpf(1))
        return ZolotarevStep(tuple(+v for v in c_odd), tuple(+v for v in a), +(1 / r1), +ell_next)


#: Smallest ℓ zolo_pd takes: its shifts, of order ℓ², stay above float64's underflow (about 1e-308).
MIN_ELL = 1e-150


def zolotarev(ell: Any, r: int) -> ZolotarevStep:
    """The Zolotarev step of type (2r + 1, 2r) on [ℓ, 1] at mpmath's working precision (module docstring)."""
    r = check_int(r, "r", 1, MAX_R)
    ell = mpmath.mpf(ell)
    if not 0 < ell <= 1:
        raise ValueError(f"ell must be in (0, 1], got {ell}")
    return _zolotarev(ell, r, max(mpmath.mp.prec, 53))


def choose_r(ell: Any, tol: Any) -> int:
    """The smallest r ≤ :data:`MAX_R` whose two steps take [ℓ, 1] into [1 − tol, 1]; MAX_R if none does."""
    for r in range(1, MAX_R + 1):
        one = zolotarev(ell, r)
        if 1 - zolotarev(one.ell_next, r).ell_next <= tol:
            return r
    return MAX_R


def _solves(ops: Ops, x: Any, shifts: list, ell: Any) -> list:
    """X(XᵀX + cI)⁻¹ for each shift c, batched: QR where XᵀX + cI may be ill-conditioned, Cholesky where not."""
    m, n = x.shape[-2:]
    sm = ops.host_math
    # (1 + c)/(ℓ² + c) > cutoff + 1, written without the division: ℓ² may underflow to 0 (ℓ = 1e-300)
    by_qr = [k for k, c in enumerate(shifts) if (1 + c) > (CHOLESKY_CUTOFF + 1) * (ell * ell + c)]
    by_chol = [k for k in range(len(shifts)) if k not in by_qr]
    out: list = [None] * len(shifts)
    if by_qr:
        inv_roots = [ops.scalar(1 / sm.sqrt(shifts[k])) for k in by_qr]
        q, _ = ops.qr(ops.cat_rows(ops.stack([x * s for s in inv_roots]), ops.eye(n)))
        prods = q[..., :m, :] @ q[..., m:, :].mT
        for i, k in enumerate(by_qr):
            out[k] = prods[i] * inv_roots[i]
    if by_chol:
        gram = x.mT @ x
        eye = ops.eye(n)
        grams = ops.stack([gram + eye * shifts[k] for k in by_chol])
        sol = ops.solve_spd_right(ops.stack([x] * len(by_chol)), grams)
        for i, k in enumerate(by_chol):
            out[k] = sol[i]
    return out


def _step(ops: Ops, x: Any, z: ZolotarevStep, ell: Any) -> Any:
    """X ← (X + Σⱼ aⱼ X(XᵀX + c₂ⱼ₋₁I)⁻¹)/R(1)."""
    shifts = [ops.scalar(c) for c in z.c_odd]
    acc = x
    for a, term in zip(z.a, _solves(ops, x, shifts, ops.scalar(ell)), strict=True):
        acc = acc + term * ops.scalar(a)
    return acc * ops.scalar(z.scale)


def _grid_floor(ell: Any) -> Any:
    """The largest 2^(k/8) ≤ ℓ: still a lower bound of σ_min, and the coefficients of a grid point are cached
    (computing them costs 4–17 ms per step at r = 8; an arbitrary ℓ would pay that on every call)."""
    k = int(mpmath.floor(8 * mpmath.log(ell, 2)))
    while mpmath.power(2, mpmath.mpf(k) / 8) > ell:
        k -= 1
    return mpmath.power(2, mpmath.mpf(k) / 8)


def _iterate(ops: Ops, y: Any, alpha: Any, ell: Any, max_iterations: int) -> tuple[Any, int, bool]:
    """Steps 1–4 on a tall, prescaled Y: (U, iterations, whether ℓ reached 1 − 10u)."""
    x, ell = scaled_start(ops, y, alpha, ell)
    tol = 10 * ops.unit_roundoff
    ell = _grid_floor(mpmath.mpf(ell))
    r = choose_r(ell, tol)  # one type for every step: two steps of it reach 1 − tol from ℓ₀
    iterations = 0
    while iterations < max_iterations:
        z = zolotarev(ell, r)
        x = _step(ops, x, z, ell)
        iterations += 1
        ell = z.ell_next
        if ell >= 1 - tol:
            return x, iterations, True
    return x, iterations, False


def zolo_pd(X: Any, *, alpha: Any = None, ell: Any = None, max_iterations: int = 6) -> PolarResult:
    """Polar decomposition X = U H by ZOLO-PD (Nakatsukasa & Freund 2016).

    Parameters
    ----------
    X : torch.Tensor, mpmath.matrix or object ndarray, shape (..., m, n)
        Real input, batched over leading dims; dtypes as :func:`spectral_la.qdwh`.
    alpha : float, optional
        An upper bound of ‖X‖₂. Default: min(‖X‖_F, √(‖X‖₁‖X‖_∞)) per matrix.
    ell : float in [1e-150, 1], optional
        A lower bound of σ_min(X/α). Default: 1/‖R⁻¹‖_F from a QR of X/α. Below 1e-150 the
        Zolotarev shifts (of order ℓ²) underflow float64, so a smaller ℓ is refused (a matrix that
        far from full rank has no polar factor float64 can resolve anyway).
    max_iterations : int
        Iteration cap of each pass (two suffice for κ ≤ 10¹⁶ in double precision).

    Returns
    -------
    PolarResult(u, h, iterations, converged)
        The same contract as :func:`spectral_la.qdwh`: ``converged`` is True only for a
        verified polar factor (orthonormal, backward error ≤ 10·n·u), any rank.

    Examples
    --------
    >>> import torch
    >>> X = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=torch.float64)
    >>> u, h, its, ok = zolo_pd(X)
    >>> ok and its <= 2 and bool(torch.allclose(u @ h, X))
    True
    """
    if ell is not None:
        check_in_range(ell, "ell", MIN_ELL, 1)
    return polar_decomposition(X, alpha, ell, max_iterations, _iterate)


def zolo_polar_factor(X: Any) -> tuple[Any, bool]:
    """U of X = UH by ZOLO-PD and whether it was verified (:func:`spectral_la.polar_driver.polar_factor_only`)."""
    return polar_factor_only(X, 6, _iterate)
