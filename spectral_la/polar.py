"""The polar factor of X = U_p H, by SVD or by QDWH, for every X (any rank, any scale).

The polar decomposition X = U_p H has U_p with orthonormal columns (or rows,
for wide X) and H = (XᵀX)^{1/2} symmetric positive semidefinite. For X of full
rank U_p = U Vᵀ (thin SVD) is unique and equals :func:`spectral_la.msign`; for
a rank-deficient X, H is still unique but U_p is determined only on the range
of Xᵀ: any orthonormal completion on the null space gives X = U_p H. Both
methods here return *a* polar factor -- orthonormal, with X = U_p H and H PSD to
working accuracy -- and agree on the range part U_r V_rᵀ. The matmul-only
iterations approach :func:`spectral_la.msign` instead, which is zero on the
null space. Reference: N. J. Higham, *Functions of Matrices*, SIAM 2008, ch. 8.
"""

from __future__ import annotations

from typing import Any

import torch

from spectral_la.errors import NotConvergedError
from spectral_la.fractional_power import apply_singular_value_power, singular_value_power_vjp
from spectral_la.qdwh import qdwh_polar_factor

__all__ = ["polar"]

METHODS = ("svd", "qdwh")


class _QDWHPolar(torch.autograd.Function):
    """U by QDWH, differentiated as the map it computes (Daleckii–Krein, as the SVD route)."""

    @staticmethod
    def forward(ctx, x):
        u, converged = qdwh_polar_factor(x)
        if not converged:
            raise NotConvergedError(
                "QDWH did not reach a verified polar factor of X within its iteration cap; use method='svd'"
            )
        ctx.save_for_backward(x)
        return u

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        work = x if x.dtype in (torch.float32, torch.float64) else x.float()
        return singular_value_power_vjp(work, g.to(work.dtype), 0.0, None).to(x.dtype)


def polar(X: Any, method: str = "svd") -> Any:
    """Polar factor U_p of X = U_p H, shape (..., m, n), on torch, NumPy or mpmath.

    Parameters
    ----------
    X : torch.Tensor, NumPy float array, mpmath.matrix or object ndarray, shape (..., m, n)
        Any rank and any finite scale.
    method : {"svd", "qdwh"}
        ``"svd"``: U Vᵀ from the thin SVD, *every* singular pair kept (so a
        rank-deficient X gets the completion LAPACK's singular vectors give,
        as ``scipy.linalg.polar`` does; a zero matrix gives an orthonormal
        U). Differentiable on torch at every X of full rank, repeated
        singular values included (:mod:`spectral_la.daleckii_krein`).
        ``"qdwh"``: the QDWH iteration (:func:`spectral_la.qdwh`), which also
        handles rank deficiency (see there); raises :class:`NotConvergedError`
        only if QDWH's verified result is not a polar factor.

    Examples
    --------
    >>> import torch
    >>> X = torch.tensor([[0.0, 2.0], [-3.0, 0.0]], dtype=torch.float64)
    >>> polar(X)
    tensor([[ 0.,  1.],
            [-1.,  0.]], dtype=torch.float64)
    """
    match method:
        case "svd":
            return apply_singular_value_power(X, 0, None)
        case "qdwh":
            if isinstance(X, torch.Tensor) and X.requires_grad and torch.is_grad_enabled():
                u, converged = _QDWHPolar.apply(X), True  # verified inside (it raises otherwise)
            else:
                u, converged = qdwh_polar_factor(X)  # H is not asked for: it may overflow where U cannot
            if not converged:
                raise NotConvergedError(
                    "QDWH did not reach a verified polar factor of X within its iteration cap; use method='svd'"
                )
            return u
        case _:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
