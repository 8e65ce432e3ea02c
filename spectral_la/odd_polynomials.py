"""Odd polynomials p(x) = Σ c_j x^{2j+1} and their compositions: one evaluation, one critical-point finder.

Used by the design (Remez, the greedy Polar Express construction) and by the
certification (ball arithmetic); the matrix iteration itself lives in
:mod:`spectral_la.newton_schulz` and acts on singular values by the same p.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mpmath

__all__ = ["compose", "critical_points", "odd_derivative", "odd_polynomial"]


def odd_polynomial(coefficients: Sequence, x: Any) -> Any:
    """Σ c_j x^{2j+1} by Horner in x², in the number type of x (mpf, arb, float)."""
    x2 = x * x
    acc = x * 0
    for c in reversed(coefficients):
        acc = acc * x2 + c
    return acc * x


def odd_derivative(coefficients: Sequence, x: Any) -> Any:
    """p'(x) = Σ (2j+1) c_j x^{2j}."""
    return mpmath.fsum((2 * j + 1) * c * x ** (2 * j) for j, c in enumerate(coefficients))


def compose(rows: Sequence[Sequence], x: Any) -> Any:
    """f(x) = p_T ∘ … ∘ p₁(x) for the rows (c₀, c₁, …) of a schedule."""
    for row in rows:
        x = odd_polynomial(row, x)
    return x


def critical_points(coefficients: Sequence, *, dps: int = 60) -> list[tuple[Any, Any]]:
    """The positive real critical points x of p with an error bound: ``[(x, err), …]`` (mpf).

    p'(x) = q(x²) with q(y) = Σ (2j+1) c_j y^j, so the critical points are ±√y for
    the positive real roots y of q (mpmath.polyroots at ``dps`` digits, which
    also returns its error estimate; a root counts as real when its imaginary
    part is within 1e3 times that estimate). The bound on x is err_y/x.
    """
    k = len(coefficients) - 1
    if k == 0:
        return []
    with mpmath.workdps(dps):
        poly = [(2 * j + 1) * mpmath.mpf(coefficients[j]) for j in range(k, -1, -1)]
        roots, err = mpmath.polyroots(poly, maxsteps=400, extraprec=200, error=True)
        out = []
        for y in roots:
            if abs(mpmath.im(y)) <= 1e3 * err + mpmath.mpf(10) ** -(dps - 20) and mpmath.re(y) > 0:
                x = mpmath.sqrt(mpmath.re(y))
                out.append((x, 1e3 * err / x))
    return out
