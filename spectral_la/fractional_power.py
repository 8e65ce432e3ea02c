"""Exact singular-value maps through the SVD: fractional powers U Σ^p Vᵀ and msign U_r V_rᵀ.

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

from typing import Any

import torch

from spectral_la.backend import Ops, TorchOps, working
from spectral_la.daleckii_krein import singular_value_map_vjp
from spectral_la.validation import check_in_range

__all__ = ["default_rtol", "fractional_power", "msign", "singular_value_map"]


def default_rtol(ops: Ops, x: Any) -> Any:
    """max(m, n)·ε at the caller's precision (call it outside ``ops.guard()``)."""
    return max(x.shape[-2:]) * ops.machine_epsilon


def singular_value_map(ops: Ops, x: Any, p: Any, rtol: Any) -> Any:
    """U diag(σ^p) Vᵀ on the working array ``x``, at any scale of x.

    σ ≤ rtol·σ₁ are mapped to 0 (the numerical null space); ``rtol`` None keeps
    every σ (σ^0 = 1 for all, the full polar factor U Vᵀ). X = 2^e·Y is
    prescaled exactly by a power of two, so the SVD never meets overflow or
    underflow, and U Σ^p Vᵀ = 2^{e·p}·(U_Y Σ_Y^p V_Yᵀ).
    """
    y, e = ops.pow2_scale(x)
    u, s, vh = ops.svd(y)
    if rtol is None:
        fs = ops.power(s, p) if p else s * 0 + 1
    else:
        keep = s > ops.scalar(rtol) * s[..., :1]
        fs = ops.where(keep, ops.power(ops.where(keep, s, ops.scalar(1)), p), ops.scalar(0))
    out = (u * fs[..., None, :]) @ vh
    return ops.mul_pow2(out, e * p) if p else out


class _SingularValuePower(torch.autograd.Function):
    """U Σ^p Vᵀ with its Daleckii–Krein derivative (finite at repeated σ); torch path only."""

    @staticmethod
    def forward(ctx, x, p, rtol):
        ops = TorchOps(x.dtype, x.device)
        ctx.p, ctx.rtol = p, rtol
        ctx.save_for_backward(x)
        return singular_value_map(ops, x, p, rtol)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return singular_value_power_vjp(x, g, ctx.p, ctx.rtol), None, None


def singular_value_power_vjp(x: torch.Tensor, g: torch.Tensor, p: float, rtol: float | None) -> torch.Tensor:
    """X̄ of U Σ^p Vᵀ (rtol None: every σ kept, the polar factor for p = 0) at X, by Daleckii–Krein.

    Raises where the map has no derivative (:func:`check_differentiable`). Also the backward pass of
    ``polar(method="qdwh")``: the derivative belongs to the map, not to the method computing it.
    """
    ops = TorchOps(x.dtype, x.device)
    wide = x.shape[-2] < x.shape[-1]
    xt, gt = (x.mT, g.mT) if wide else (x, g)
    y, e = ops.pow2_scale(xt)
    w, s, vh = torch.linalg.svd(y, full_matrices=False)
    thr = rtol if rtol is not None else max(x.shape[-2:]) * float(torch.finfo(x.dtype).eps)
    check_differentiable(s, thr, p, "the polar factor" if rtol is None else None)
    keep = None if rtol is None else s > rtol * s[..., :1]
    # F(X) = 2^{ep} F(2^{-e} X): the chain rule scales the gradient by 2^{e(p−1)}.
    grad = ops.mul_pow2(singular_value_map_vjp(gt, w, s, vh, p, keep), e * (p - 1))
    return grad.mT if wide else grad


def check_differentiable(s: torch.Tensor, thr: float, p: float, what: str | None = None) -> None:
    """Raise where U Σ^p Vᵀ (p < 1) has no derivative: X numerically rank-deficient, or zero.

    At a rank-deficient X the map is not differentiable for p < 1: a perturbation into the null
    space creates a singular value δ that maps to δ^p (to 1 for msign and the polar factor), whose
    slope δ^{p−1} is unbounded as δ → 0; the polar factor's null-space part is not even determined
    by X. Numerically rank-deficient means σ_min ≤ thr·σ₁ (thr: the map's own rank threshold rtol,
    else max(m, n)·ε of X's dtype), where the computed σ_min is rounding and the derivative would
    be of size 1/σ_min ≈ 1e17 with no meaning (a finite difference gives another value, even
    another sign). p = 1 (the identity) never gets here: its derivative is the identity.
    """
    deficient = (s[..., -1] <= thr * s[..., 0]) | (s[..., 0] == 0)
    if bool(deficient.any()):
        what = what or ("msign" if p == 0 else f"U Σ^{p:g} Vᵀ")
        raise ValueError(
            f"{what} has no derivative at this X: it is numerically rank-deficient (σ_min ≤ {thr:.3g}·σ₁, or zero), "
            "where a perturbation into the null space moves the result by an unbounded multiple of its size"
        )


def apply_singular_value_power(X: Any, p: Any, rtol: Any) -> Any:
    """The shared body of :func:`fractional_power`, :func:`msign` and ``polar(method="svd")``."""
    if p == 1:  # the identity: no rank decision, and its derivative is the identity at every X
        ops, x, restore = working(X)
        return restore(x * 1)
    ops, x, restore = working(X)
    if rtol == "default":
        rtol = default_rtol(ops, x)  # the rank threshold is set by the input's precision
    if isinstance(x, torch.Tensor):
        return restore(_SingularValuePower.apply(x, float(p), rtol))
    with ops.guard():
        out = singular_value_map(ops, x, ops.scalar(p) if p else 0, rtol)
    return restore(out)


def fractional_power(X: Any, p: float, *, rtol: float | None = None) -> Any:
    """Fractional power of the singular values, U Σ^p Vᵀ, for p ∈ [0, 1].

    p = 0 gives :func:`msign` (U_r V_rᵀ), p = 1 returns X itself, and 0 < p < 1
    interpolates: it is the steepest-descent direction of the Schatten q-norm
    with q = 1 + 1/p (Muon^p, Dong & Sawin 2026, arXiv 2606.13867). Not the
    same as the square-matrix power X^p (``scipy.linalg.fractional_matrix_power``)
    unless X is symmetric positive semidefinite.

    Parameters
    ----------
    X : torch.Tensor, NumPy float array, mpmath.matrix or object ndarray, shape (..., m, n)
        Real input, batched over leading dimensions, of any scale (an exact
        power-of-two prescaling keeps the SVD away from overflow). torch: fp64
        and fp32 compute in their own dtype, bf16/fp16 in fp32; the result has
        X's dtype. mpmath: computed at ``mp.prec`` plus guard bits.
    p : real in [0, 1]
    rtol : real in [0, 1], optional
        Singular values σᵢ ≤ rtol·σ₁ are treated as zero and map to 0
        (default ``max(m, n)·ε``).

    Returns
    -------
    Same kind, shape and dtype as X. On torch it is differentiable with the
    Daleckii–Krein derivative (:mod:`spectral_la.daleckii_krein`), finite at
    repeated singular values; for p < 1 it raises where a kept σ is 0.

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
    return apply_singular_value_power(X, p, "default" if rtol is None else float(rtol))


def msign(X: Any, *, rtol: float | None = None) -> Any:
    """The matrix sign U_r V_rᵀ: singular values above rtol·σ₁ map to 1, the others to 0.

    This is the limit that every matmul-only iteration (Newton–Schulz, Polar
    Express, Gram NS) approaches: an odd polynomial maps σ = 0 to 0, so on a
    rank-deficient X they converge to the partial isometry U_r V_rᵀ, not to a
    polar factor (:func:`spectral_la.polar`, which is orthonormal on the whole
    space). For a full-rank X the two coincide. A zero matrix maps to zero.

    Parameters
    ----------
    X : torch.Tensor, NumPy float array, mpmath.matrix or object ndarray, shape (..., m, n)
    rtol : real in [0, 1], optional
        Rank tolerance: σᵢ ≤ rtol·σ₁ counts as zero (default ``max(m, n)·ε``,
        NumPy's ``matrix_rank`` convention, ε of X's compute precision).

    Examples
    --------
    >>> import torch
    >>> msign(torch.diag(torch.tensor([2.0, 0.0], dtype=torch.float64)))
    tensor([[1., 0.],
            [0., 0.]], dtype=torch.float64)
    """
    if rtol is not None:
        check_in_range(rtol, "rtol", 0, 1)
    return apply_singular_value_power(X, 0, "default" if rtol is None else float(rtol))
