"""Scalar maps of coefficient schedules evaluated directly from their coefficients in mpmath.

Independent of spectral_la's iteration code: p(x) = Σ c_j x^{2j+1} by Horner,
composed step by step, plus the rounding amplification of a trajectory.
"""

from __future__ import annotations

import mpmath


def poly(row, x):
    x2 = x * x
    acc = mpmath.mpf(0)
    for c in reversed(row):
        acc = acc * x2 + mpmath.mpf(c)
    return acc * x


def dpoly(row, x):
    """p'(x) = Σ (2j+1) c_j x^{2j}."""
    return sum((2 * j + 1) * mpmath.mpf(c) * x ** (2 * j) for j, c in enumerate(row))


def compose(rows, x):
    x = mpmath.mpf(x)
    for row in rows:
        x = poly(row, x)
    return x


def amplification(rows, x):
    """max over k of Π_{j>k} |p_j'(x_j)| along the trajectory of x: how much a
    rounding error committed after step k is magnified by the remaining steps."""
    xs = [mpmath.mpf(x)]
    for row in rows:
        xs.append(poly(row, xs[-1]))
    worst, tail = mpmath.mpf(1), mpmath.mpf(1)
    for k in range(len(rows) - 1, 0, -1):
        tail *= abs(dpoly(rows[k], xs[k]))
        worst = max(worst, tail)
    return worst
