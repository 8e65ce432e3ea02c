"""Eigenbasis tracking of a running covariance, as SOAP / MOSO precondition.

State per matrix M_t (m × n), on its smaller side (m ≤ n: C = M Mᵀ, else MᵀM):

    C_t = β C_{t−1} + (1 − β) M_t M_tᵀ,     Ĉ_t = C_t / (1 − βᵗ)  (bias correction),

and an orthonormal basis Q_t of approximate eigenvectors of C_t: the exact
``eigh`` at the first step (sorted by decreasing eigenvalue), then one step of
orthogonal (QR power) iteration per update, Q_t = qr(C_t Q_{t−1}).Q, with the
columns re-signed to keep each close to its predecessor. SOAP: Vyas et al.,
"SOAP: Improving and stabilizing Shampoo using Adam" (arXiv 2409.11321),
§3; MOSO: NVIDIA-NeMo/Emerging-Optimizers PR #222. One power step costs one
k × k × k product and one QR, against eigh's O(k³) with a large constant.

β = 1 is rejected: the bias correction (1 − β)/(1 − βᵗ) is 0/0 there (the
defect reported against MOSO, where it silently filled the state with NaN).

:func:`subspace_angles` measures the largest principal angle between the
leading-j tracked eigenvectors and the exact ones (Björck & Golub 1973), the
analysis quantity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spectral_la.backend import working
from spectral_la.validation import check_in_range

__all__ = ["EigenbasisTracker", "subspace_angles"]


def _descending(ops: Any, c: Any) -> tuple[Any, Any]:
    lam, q = ops.eigh(c)
    return ops.flip_last(lam), ops.flip_last(q)


@dataclass
class EigenbasisTracker:
    """Running covariance and its tracked eigenbasis (module docstring).

    Parameters
    ----------
    beta : float in [0, 1)
        EMA factor of the covariance.
    bias_correction : bool
        Divide C_t by 1 − βᵗ in :attr:`covariance`.

    Attributes after :meth:`update`: ``basis`` (Q_t, columns ordered by
    decreasing eigenvalue at the last exact refresh), ``step`` (t).
    """

    beta: float = 0.95
    bias_correction: bool = True

    def __post_init__(self) -> None:
        check_in_range(self.beta, "beta", 0, 1, hi_open=True)
        self._cov = None
        self._ops = None
        self._restore = None
        self.basis: Any = None
        self.step = 0

    def update(self, M: Any) -> Any:
        """Fold M into the covariance and refresh the basis; returns the basis (caller's kind)."""
        ops, m, restore = working(M, "M")
        wide = m.shape[-2] <= m.shape[-1]
        outer = m @ m.mT if wide else m.mT @ m
        with ops.guard():
            if self._cov is None:
                self._ops, self._restore = ops, restore
                self._cov = outer * ops.scalar(1 - self.beta)
                _, q = _descending(ops, self._cov)
            else:
                if outer.shape != self._cov.shape:
                    raise ValueError(
                        f"M gives a {tuple(outer.shape)} covariance, incompatible with the tracked "
                        f"{tuple(self._cov.shape)}"
                    )
                self._cov = self._cov * ops.scalar(self.beta) + outer * ops.scalar(1 - self.beta)
                q, _ = ops.qr(self._cov @ self._basis)
                # QR fixes each column up to sign: keep the sign of the previous column.
                sign = ops.where(ops.diagonal(q.mT @ self._basis) < 0, ops.scalar(-1), ops.scalar(1))
                q = q * sign[..., None, :]
            self._basis = q
        self.step += 1
        self.basis = restore(q)
        return self.basis

    @property
    def covariance(self) -> Any:
        """C_t (bias-corrected by 1/(1 − βᵗ) if ``bias_correction``), in the caller's kind."""
        if self._cov is None:
            raise ValueError("covariance is undefined before the first update")
        cov = self._cov
        if self.bias_correction:
            cov = cov / self._ops.scalar(1 - self.beta**self.step)
        return self._restore(cov)

    def exact_basis(self) -> Any:
        """eigh of the current covariance, columns by decreasing eigenvalue (the exact counterpart)."""
        if self._cov is None:
            raise ValueError("no covariance yet")
        with self._ops.guard():
            _, q = _descending(self._ops, self._cov)
        return self._restore(q)


def subspace_angles(Q: Any, V: Any, j: int) -> Any:
    """Largest principal angle (radians) between span(Q[:, :j]) and span(V[:, :j]), per matrix (torch).

    sin θ_max = ‖Q_j − V_j(V_jᵀQ_j)‖₂ for orthonormal Q_j, V_j (Björck & Golub 1973);
    the arcsine keeps small angles accurate to rounding.
    """
    import torch

    if not isinstance(j, int) or isinstance(j, bool) or not 1 <= j <= Q.shape[-1]:
        raise ValueError(f"j must be an int in [1, {Q.shape[-1]}], got {j!r}")
    qj, vj = Q[..., :j], V[..., :j]
    residual = qj - vj @ (vj.mT @ qj)
    return torch.arcsin(torch.linalg.matrix_norm(residual, 2).clamp(0, 1))
