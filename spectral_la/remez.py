"""Remez exchange for the best odd polynomial approximation on an interval, in mpmath.

Find p(x) = Σ_{j=0}^{k} c_j x^{2j+1} minimising max_{x∈[a, b]} |t(x) − p(x)|
for a smooth target t on 0 < a < b. By Chebyshev's alternation theorem
(odd polynomials on an interval of (0, ∞) form a Haar space) the optimum is
characterised by k + 2 points a ≤ x₀ < … < x_{k+1} ≤ b where the error
e = t − p takes its maximum modulus E with alternating signs. The exchange
(Remez 1934; Powell, *Approximation Theory and Methods*, 1981, ch. 9):

1. solve Σ_j c_j x_i^{2j+1} + (−1)^i E = t(x_i), i = 0 … k + 1 (linear);
2. locate the local extrema of e on [a, b] (endpoints, and zeros of e′
   found from a dense grid and refined by the secant method);
3. take k + 2 of them with alternating signs containing the global maximum;
4. stop when max|e| ≤ (1 + rtol)|E| (the levelled error is then optimal to rtol).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mpmath

from spectral_la.odd_polynomials import odd_derivative, odd_polynomial

__all__ = ["RemezResult", "odd_polynomial", "remez_odd"]  # odd_polynomial: re-exported for callers


@dataclass(frozen=True)
class RemezResult:
    coefficients: tuple  # mpf c_0 … c_k
    error: mpmath.mpf  # max |t − p| on [a, b]
    levelled: mpmath.mpf  # |E| of the final reference
    points: tuple  # the alternation points
    iterations: int


def _solve_reference(points, target):
    k1 = len(points) - 1  # number of coefficients
    rows = [[x ** (2 * j + 1) for j in range(k1)] + [(-1) ** i] for i, x in enumerate(points)]
    sol = mpmath.lu_solve(mpmath.matrix(rows), mpmath.matrix([target(x) for x in points]))
    return tuple(sol[j] for j in range(k1)), sol[k1]


def _extrema(err: Callable, derr: Callable, a, b, grid: int) -> list:
    """Endpoints and interior local extrema of err on [a, b] (geometric grid, secant refinement)."""
    ratio = (b / a) ** (mpmath.mpf(1) / (grid - 1))
    xs = [a * ratio**i for i in range(grid)]
    xs[-1] = b
    vals = [err(x) for x in xs]
    found = [a]
    for i in range(1, grid - 1):
        if (vals[i] - vals[i - 1]) * (vals[i + 1] - vals[i]) <= 0:  # a turning point near xs[i]
            lo, hi = xs[i - 1], xs[i + 1]
            try:
                x = mpmath.findroot(derr, (xs[i], (xs[i] + xs[i + 1]) / 2), solver="secant")
                if not lo <= x <= hi:
                    raise ValueError
            except (ValueError, ZeroDivisionError):
                x = max((xs[i - 1], xs[i], xs[i + 1]), key=lambda t: abs(err(t)))
            found.append(x)
    found.append(b)
    return sorted(set(found))


def _alternating(points, err, keep: int) -> list:
    """k + 2 alternating extrema containing the global maximum (standard exchange rule)."""
    merged: list = []
    for x in points:
        v = err(x)
        if merged and mpmath.sign(v) == mpmath.sign(merged[-1][1]):
            if abs(v) > abs(merged[-1][1]):
                merged[-1] = (x, v)
        else:
            merged.append((x, v))
    while len(merged) > keep:
        # drop the end with the smaller |e| (never the global maximum)
        if abs(merged[0][1]) < abs(merged[-1][1]):
            merged.pop(0)
        else:
            merged.pop()
    if len(merged) < keep:
        raise ArithmeticError("Remez exchange lost alternation (degenerate target or interval)")
    return [x for x, _ in merged]


def remez_odd(
    target: Callable,
    derivative: Callable,
    degree: int,
    a,
    b,
    *,
    grid: int = 400,
    rtol: float = 1e-25,
    max_iterations: int = 60,
) -> RemezResult:
    """Best odd polynomial of ``degree`` (odd) for ``target`` on [a, b], 0 < a < b, at ``mp.prec``."""
    if degree < 1 or degree % 2 == 0:
        raise ValueError(f"degree must be a positive odd integer, got {degree}")
    a, b = mpmath.mpf(a), mpmath.mpf(b)
    if not 0 < a < b:
        raise ValueError(f"the interval must satisfy 0 < a < b, got [{a}, {b}]")
    k1 = (degree + 1) // 2
    n = k1 + 1
    # Chebyshev extrema on [a, b] as the first reference.
    points = [(a + b) / 2 - (b - a) / 2 * mpmath.cos(mpmath.pi * i / (n - 1)) for i in range(n)]
    for it in range(1, max_iterations + 1):
        coeffs, level = _solve_reference(points, target)

        def err(x, c=coeffs):
            return target(x) - odd_polynomial(c, x)

        def derr(x, c=coeffs):
            return derivative(x) - odd_derivative(c, x)

        extrema = _extrema(err, derr, a, b, grid)
        worst = max(abs(err(x)) for x in extrema)
        if worst <= abs(level) * (1 + mpmath.mpf(rtol)):
            return RemezResult(coeffs, worst, abs(level), tuple(points), it)
        points = _alternating(extrema, err, n)
    raise ArithmeticError(f"Remez exchange did not converge in {max_iterations} iterations")
