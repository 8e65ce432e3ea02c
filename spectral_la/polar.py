"""The polar factor U Vᵀ of X = U Σ Vᵀ (``msign``), by SVD or by QDWH.

The polar decomposition X = U_p H has U_p = U Vᵀ with orthonormal columns (or
rows, for wide X) and H = V Σ Vᵀ symmetric positive semidefinite. It is the
exact map that every Newton–Schulz iteration of a Muon-style optimizer
approximates. Reference: N. J. Higham, *Functions of Matrices*, SIAM 2008, ch. 8.
"""

from __future__ import annotations

from typing import Any

from spectral_la.errors import NotConvergedError
from spectral_la.fractional_power import fractional_power
from spectral_la.qdwh import qdwh

__all__ = ["polar"]

METHODS = ("svd", "qdwh")


def polar(X: Any, method: str = "svd", *, rtol: float | None = None) -> Any:
    """Polar factor U Vᵀ of X, shape (..., m, n), on torch or mpmath.

    Parameters
    ----------
    X : torch.Tensor, mpmath.matrix or object ndarray, shape (..., m, n)
    method : {"svd", "qdwh"}
        ``"svd"``: U Vᵀ from the thin SVD, with singular values σᵢ ≤ rtol·σ₁
        mapped to 0 (so a rank-deficient X gives a partial isometry and a zero
        matrix gives 0); it is :func:`fractional_power` at p = 0.
        ``"qdwh"``: the QDWH iteration (:func:`spectral_la.qdwh`), for X of
        full rank; raises :class:`NotConvergedError` where QDWH does not reach
        an orthonormal factor (a numerically rank-deficient X). A zero matrix
        maps to 0.
    rtol : float, optional
        Rank tolerance of the ``"svd"`` method (default ``max(m, n)·ε``).

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
            return fractional_power(X, 0, rtol=rtol)
        case "qdwh":
            if rtol is not None:
                raise ValueError("rtol applies to method='svd' only")
            res = qdwh(X)
            if not res.converged:
                raise NotConvergedError(
                    "QDWH did not reach an orthonormal polar factor of X (X is probably rank-deficient); "
                    "use method='svd', which maps zero singular values to 0"
                )
            return res.u
        case _:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
