"""Exact singular-value maps through the SVD: U f(Σ) Vᵀ, fractional powers.

For X = U Σ Vᵀ (thin SVD, σ₁ ≥ … ≥ σ_k ≥ 0, k = min(m, n)) a singular-value
map applies a scalar function to each σᵢ and keeps the singular vectors:
f(X) = U diag(f(σᵢ)) Vᵀ. This is the exact reference for every polynomial
approximation in the package (an odd polynomial acts on X exactly this way).

Numerical rank: singular values with σᵢ ≤ rtol·σ₁ are treated as exact zeros
and mapped to 0 (their singular vectors are not determined by X, so no other
value is meaningful). The default ``rtol = max(m, n)·ε`` (ε the machine
epsilon of the compute dtype, or of mpmath's working precision) is the
NumPy ``matrix_rank`` convention. A zero matrix therefore maps to zero.

Reference: N. J. Higham, *Functions of Matrices*, SIAM 2008, §8.1 (polar
decomposition via the SVD).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spectral_la._backend import working
from spectral_la._validate import check_in_range

__all__ = ["default_rtol", "fractional_power", "singular_value_map"]


def default_rtol(ops: Any, x: Any) -> Any:
    """max(m, n)·ε at the caller's precision (call it outside ``ops.guard()``)."""
    return max(x.shape[-2:]) * 2 * ops.eps


def singular_value_map(ops: Any, x: Any, f: Callable[[Any], Any], rtol: Any) -> Any:
    """U diag(f(σ)) Vᵀ on the working array ``x`` (σ ≤ rtol·σ₁ mapped to 0)."""
    u, s, vh = ops.svd(x)
    keep = s > ops.scalar(rtol) * s[..., :1]
    fs = ops.where(keep, f(ops.where(keep, s, ops.scalar(1))), ops.scalar(0))
    return (u * fs[..., None, :]) @ vh


def fractional_power(X: Any, p: float, *, rtol: float | None = None) -> Any:
    """Fractional power of the singular values, U Σ^p Vᵀ, for p ∈ [0, 1].

    p = 0 gives the polar factor U Vᵀ (the Muon direction ``msign(X)``), p = 1
    returns X itself, and 0 < p < 1 interpolates: it is the steepest-descent
    direction of the Schatten q-norm with q = 1 + 1/p (Muon^p, Dong & Sawin
    2026, arXiv 2606.13867). Not the same as the square-matrix power X^p
    (``scipy.linalg.fractional_matrix_power``) unless X is symmetric positive
    semidefinite.

    Parameters
    ----------
    X : torch.Tensor, mpmath.matrix or object ndarray, shape (..., m, n)
        Real input, batched over leading dimensions. torch: fp64 and fp32
        compute in their own dtype, bf16/fp16 in fp32; the result has X's dtype.
        mpmath: computed at ``mp.prec`` plus guard bits.
    p : float in [0, 1]
    rtol : float, optional
        Singular values σᵢ ≤ rtol·σ₁ are treated as zero and map to 0
        (default ``max(m, n)·ε``).

    Returns
    -------
    Same kind, shape and dtype as X.

    Examples
    --------
    >>> import torch
    >>> X = torch.tensor([[3.0, 0.0], [0.0, 4.0]], dtype=torch.float64)
    >>> fractional_power(X, 0.5)
    tensor([[1.7321, 0.0000],
            [0.0000, 2.0000]], dtype=torch.float64)
    """
    check_in_range(p, "p", 0, 1)
    if rtol is not None:
        check_in_range(rtol, "rtol", 0, 1)
    ops, x, restore = working(X)
    # The rank threshold is set by the input's precision, not by the guard digits.
    rtol = default_rtol(ops, x) if rtol is None else rtol
    with ops.guard():
        out = singular_value_map(ops, x, lambda s: ops.power(s, ops.scalar(p)), rtol)
    return restore(out)
