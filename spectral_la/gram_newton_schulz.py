"""Gram Newton–Schulz: the odd-polynomial iteration run on the small Gram matrix.

For a wide X (m ≤ n) every iterate of an odd-polynomial schedule is
X_k = Q_k X₀ with Q_k a polynomial in R₀ = X₀X₀ᵀ (m × m). With the step
polynomial p(x) = x·h(x²), h(y) = c₀ + c₁y + c₂y² + …:

    H = h(R),   Q ← H Q,   R ← H R H,

all m × m and commuting (so R H² = H R H in exact arithmetic), and X is
touched only at the start (R₀) and at the end (X_T = Q_T X₀). In exact
arithmetic it equals :func:`spectral_la.newton_schulz` step for step; in
floating point R drifts from Q X₀ (Q X₀)ᵀ because the rounding of R is never
corrected, so the public implementation *restarts* -- recomputes X = Q X₀ and
R = X Xᵀ -- after step 2 (``restart_after``). A degree-5 step costs 4
m × m × m products against plain NS's 2 m × m × n + 1 m × m × m: a saving when
n ≫ m, none for a square X.

Source: Dao-AILab, gram-newton-schulz (public code and its description); the
identity X_k = Q_k X₀ is the standard polynomial-in-the-Gram-matrix view of NS
(Higham 2008, §8.3).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from spectral_la.backend import Ops
from spectral_la.kernels import gram_polynomial, on_wide
from spectral_la.newton_schulz import check_iterates, prepare
from spectral_la.normalization import apply_normalization
from spectral_la.schedules import Schedule
from spectral_la.validation import MAX_STEPS, check_int

__all__ = ["gram_newton_schulz"]


def _gram_iterate(ops: Ops, x: Any, rows: list[tuple], restart_after: frozenset[int]) -> Any:
    q = None
    r = ops.gram(x)
    eye = ops.eye(x.shape[-2])
    for k, row in enumerate(rows):
        if k in restart_after and q is not None:
            x, q = q @ x, None
            r = ops.gram(x)
        h = gram_polynomial(ops, r, row) + eye * ops.scalar(row[0])
        q = h if q is None else h @ q
        if k + 1 < len(rows):
            r = (h @ r) @ h
    return x if q is None else q @ x


def gram_newton_schulz(
    X: Any,
    schedule: str | Schedule = "polar_express",
    steps: int | None = None,
    *,
    normalize: Any = None,
    compute_dtype: Any = None,
    restart_after: Iterable[int] = (2,),
    check_finite: bool = True,
) -> Any:
    """Newton–Schulz on the Gram matrix; same contract as :func:`spectral_la.newton_schulz`.

    Parameters
    ----------
    X, schedule, steps, normalize, compute_dtype, check_finite
        As in :func:`spectral_la.newton_schulz`.
    restart_after : iterable of int
        Step counts after which X = Q X₀ and R = X Xᵀ are recomputed (default
        ``(2,)`` as in the public implementation; ``()`` never restarts).

    Examples
    --------
    >>> import torch
    >>> from spectral_la import newton_schulz
    >>> X = torch.randn(16, 256, dtype=torch.float64)
    >>> bool(torch.allclose(gram_newton_schulz(X), newton_schulz(X), atol=1e-10))
    True
    """
    restarts = frozenset(check_int(k, "restart_after entry", 1, MAX_STEPS) for k in restart_after)
    ops, x, restore, rows, norm, normalized = prepare(X, schedule, steps, normalize, compute_dtype, check_finite)
    with ops.guard():
        y = on_wide(lambda w: _gram_iterate(ops, apply_normalization(ops, w, norm), rows, restarts), x)
    if check_finite:
        check_iterates(ops, y, rows, normalized, schedule)
    return restore(y)
