"""Exact inverse r-th root (A + εI)^{-1/r} of a symmetric PSD matrix, via eigh.

With A = Q diag(λ) Qᵀ, the result is Q diag(λ̂^{-1/r}) Qᵀ with the
**eigenvalue floor** λ̂ᵢ = max(λᵢ, 0) + ε: eigenvalues that rounding pushed
below zero are clamped to 0 before ε is added. For a PSD A this equals
(A + εI)^{-1/r} exactly; it is the rule Shampoo-family optimizers
(Gupta, Koren & Singer 2018; Shi et al., "A distributed data-parallel PyTorch
implementation of Distributed Shampoo", 2023) use for their preconditioner
roots. Reference: N. J. Higham, *Functions of Matrices*, SIAM 2008, §1.2
(functions of symmetric matrices via the spectral decomposition).
"""

from __future__ import annotations

from typing import Any

from spectral_la._backend import working
from spectral_la._validate import check_in_range
from spectral_la.errors import NotPositiveSemidefiniteError, SingularMatrixError

__all__ = ["inverse_root", "symmetric_part_checked"]

#: Relative symmetry / definiteness slack, in units of n·ε·‖A‖_F: a Gram matrix
#: G Gᵀ formed in floating point is symmetric to n·ε·‖G‖_F² entrywise, and
#: eigh's eigenvalues of a PSD matrix err by at most about n·ε·‖A‖₂.
SLACK = 10


def symmetric_part_checked(ops: Any, a: Any, name: str, rel: Any) -> Any:
    """Return (A + Aᵀ)/2 after checking ‖A − Aᵀ‖_F ≤ rel·‖A‖_F per matrix."""
    excess = ops.fro(a - a.mT) - ops.fro(a) * rel
    if ops.batch_max(excess) > 0:
        raise ValueError(f"{name} must be symmetric: ‖{name} − {name}ᵀ‖_F exceeds {SLACK}·n·ε·‖{name}‖_F")
    return (a + a.mT) / 2


def inverse_root(A: Any, r: float, *, eps: float = 0.0) -> Any:
    """(A + εI)^{-1/r} for symmetric positive semidefinite A, via eigh.

    Parameters
    ----------
    A : torch.Tensor, mpmath.matrix or object ndarray, shape (..., n, n)
        Symmetric PSD, batched over leading dims. Symmetry is checked to
        10·n·ε·‖A‖_F and the symmetric part is used; an eigenvalue below
        −10·n·ε·‖A‖_F raises :class:`NotPositiveSemidefiniteError`.
        torch: fp64/fp32 compute in their dtype, bf16/fp16 in fp32; the result
        has A's dtype. mpmath: computed at ``mp.prec`` plus guard bits.
    r : float > 0
        Root order: r = 2 is the inverse square root, r = 4 Shampoo's
        preconditioner root for a matrix parameter.
    eps : float ≥ 0
        Added to every eigenvalue after clamping negatives to 0
        (λ̂ = max(λ, 0) + eps). With eps = 0 a singular A raises
        :class:`SingularMatrixError`.

    Examples
    --------
    >>> import torch
    >>> A = torch.tensor([[4.0, 0.0], [0.0, 16.0]], dtype=torch.float64)
    >>> inverse_root(A, 2)
    tensor([[0.5000, 0.0000],
            [0.0000, 0.2500]], dtype=torch.float64)
    """
    check_in_range(r, "r", 0, None, lo_open=True)
    check_in_range(eps, "eps", 0, None)
    ops, a, restore = working(A, "A", square=True)
    # Slack from the input's precision (outside the mpmath guard digits).
    rel = SLACK * a.shape[-1] * 2 * ops.eps
    with ops.guard():
        a = symmetric_part_checked(ops, a, "A", rel)
        lam, q = ops.eigh(a)
        slack = ops.fro(a)[..., 0] * rel
        if ops.batch_max(-lam[..., :1] - slack) > 0:
            raise NotPositiveSemidefiniteError("A must be positive semidefinite: it has a clearly negative eigenvalue")
        lam_hat = ops.maximum(lam, ops.scalar(0)) + ops.scalar(eps)
        if not ops.batch_min(lam_hat) > 0:
            raise SingularMatrixError("A is singular and eps = 0: pass eps > 0 to regularise")
        scaled = q * ops.power(lam_hat, ops.scalar(-1) / ops.scalar(r))[..., None, :]
        out = scaled @ q.mT
    return restore(out)
