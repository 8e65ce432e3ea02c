"""The polar factor of X = U_p H, by SVD, QDWH or ZOLO-PD, for every X (any rank, any scale).

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
from spectral_la.zolo_pd import zolo_polar_factor

__all__ = ["polar"]

METHODS = ("svd", "qdwh", "zolo")
#: The iterative methods: (U, verified) of X, and the name an error gives.
_ITERATIVE = {"qdwh": (qdwh_polar_factor, "QDWH"), "zolo": (zolo_polar_factor, "ZOLO-PD")}


def _verified_factor(x, method: str):
    factor, name = _ITERATIVE[method]
    u, converged = factor(x)  # H is not asked for: it may overflow where U cannot
    if not converged:
        raise NotConvergedError(
            f"{name} did not reach a verified polar factor of X within its iteration cap; use method='svd'"
        )
    return u


class _IterativePolar(torch.autograd.Function):
    """U by QDWH or ZOLO-PD, differentiated as the map it computes (Daleckii–Krein, as the SVD route)."""

    @staticmethod
    def forward(ctx, x, method):
        u = _verified_factor(x, method)
        ctx.save_for_backward(x)
        return u

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        work = x if x.dtype in (torch.float32, torch.float64) else x.float()
        return singular_value_power_vjp(work, g.to(work.dtype), 0.0, None).to(x.dtype), None


def polar(X: Any, method: str = "svd") -> Any:
    """Polar factor U_p of X = U_p H, shape (..., m, n), on torch, NumPy or mpmath.

    Parameters
    ----------
    X : torch.Tensor, NumPy float array, mpmath.matrix or object ndarray, shape (..., m, n)
        Any rank and any finite scale.
    method : {"svd", "qdwh", "zolo"}
        ``"svd"``: U Vᵀ from the thin SVD, *every* singular pair kept (so a
        rank-deficient X gets the completion LAPACK's singular vectors give,
        as ``scipy.linalg.polar`` does; a zero matrix gives an orthonormal
        U). Differentiable on torch at every X of full rank, repeated
        singular values included (:mod:`spectral_la.daleckii_krein`).
        ``"qdwh"``: the QDWH iteration (:func:`spectral_la.qdwh`), which also
        handles rank deficiency (see there); raises :class:`NotConvergedError`
        only if QDWH's verified result is not a polar factor. ``"zolo"``:
        ZOLO-PD (:func:`spectral_la.zolo_pd`), two iterations of Zolotarev's
        rational functions up to κ = 10¹⁶, the same contract as QDWH.

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
        case "qdwh" | "zolo":
            if isinstance(X, torch.Tensor) and X.requires_grad and torch.is_grad_enabled():
                return _IterativePolar.apply(X, method)
            return _verified_factor(X, method)
        case _:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
