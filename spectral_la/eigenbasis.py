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

**Scale safety.** M = 2^e·Y exactly (``max |Y|`` ∈ [½, 1)), and the covariance is kept as
C = 4^E·S with S in range: each update S ← β·4^{E_old − E}·S + (1 − β)·4^{e − E}·YYᵀ with
E = max(E_old, e) per matrix, so neither factor exceeds 1. A momentum at 1e-30 in fp32
(whose M Mᵀ underflows to zero) or at 1e20 (whose M Mᵀ overflows) gets the same basis as
at scale 1; the basis does not depend on E. Only :attr:`EigenbasisTracker.covariance`,
which returns C itself, can meet the dtype's range (:class:`~spectral_la.ResultOverflowError`).

β = 1 is rejected: the bias correction (1 − β)/(1 − βᵗ) is 0/0 there (the
defect reported against MOSO, where it silently filled the state with NaN).

:func:`subspace_angles` measures the largest principal angle between the
leading-j tracked eigenvectors and the exact ones (Björck & Golub 1973), the
analysis quantity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spectral_la.backend import Ops, working
from spectral_la.validation import check_in_range, check_result_finite, check_same_kind

__all__ = ["EigenbasisTracker", "subspace_angles"]


def _descending(ops: Ops, c: Any) -> tuple[Any, Any]:
    lam, q = ops.eigh(c)
    return ops.flip_last(lam), ops.flip_last(q)


@dataclass
class EigenbasisTracker:
    """Running covariance and its tracked eigenbasis (module docstring).

    Every update takes M of the first update's kind (torch tensor, NumPy array, mpmath),
    dtype and shape, batched over leading dimensions. Attributes after :meth:`update`:
    ``basis`` (Q_t in the caller's kind, columns ordered by decreasing eigenvalue at the last
    exact refresh), ``step`` (t).

    Parameters
    ----------
    beta : float in [0, 1)
        EMA factor of the covariance.
    bias_correction : bool
        Divide C_t by 1 − βᵗ in :attr:`covariance`.
    """

    beta: float = 0.95
    bias_correction: bool = True

    def __post_init__(self) -> None:
        check_in_range(self.beta, "beta", 0, 1, hi_open=True)
        if not isinstance(self.bias_correction, bool):
            raise TypeError(f"bias_correction must be a bool, got {self.bias_correction!r}")
        self._scaled: Any = None  # S of C = 4^E·S
        self._exp: Any = None  # E, per matrix
        self._ops: Ops | None = None
        self._restore: Any = None
        self._signature: tuple | None = None
        self._basis: Any = None
        self.basis: Any = None
        self.step = 0

    def _check_like_first(self, M: Any, m: Any) -> None:
        signature = (type(M).__name__, str(getattr(M, "dtype", None)), tuple(m.shape))
        if self._signature is not None:
            kind, dtype, shape = self._signature
            if signature[:2] != (kind, dtype):
                raise TypeError(
                    f"M must match the first update's {kind} of dtype {dtype}, got {signature[0]} of dtype "
                    f"{signature[1]}"
                )
            if signature[2] != shape:
                raise ValueError(
                    f"M of shape {signature[2]} gives a covariance incompatible with the tracked one (M of shape "
                    f"{shape})"
                )
        self._signature = signature

    def update(self, M: Any) -> Any:
        """Fold M into the covariance and refresh the basis; returns the basis (caller's kind)."""
        ops, m, restore = working(M, "M")
        self._check_like_first(M, m)
        with ops.guard():
            y, e = ops.pow2_scale(m)
            wide = y.shape[-2] <= y.shape[-1]
            outer = y @ y.mT if wide else y.mT @ y  # entries ≤ n: in range whatever M's scale
            e = e * 2  # YYᵀ carries 4^e = 2^{2e}
            if self._scaled is None:
                self._ops, self._restore = ops, restore
                self._scaled, self._exp = outer * ops.scalar(1 - self.beta), e
                _, q = _descending(ops, self._scaled)
            else:
                big = ops.where(e > self._exp, e, self._exp)
                self._scaled = ops.mul_pow2(self._scaled * ops.scalar(self.beta), self._exp - big) + ops.mul_pow2(
                    outer * ops.scalar(1 - self.beta), e - big
                )
                self._exp = big
                q, _ = ops.qr(self._scaled @ self._basis)
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
        ops = self._backend("covariance is undefined before the first update")
        cov = ops.mul_pow2(self._scaled, self._exp)
        if self.bias_correction:
            cov = cov / ops.scalar(1 - self.beta**self.step)
        out = self._restore(cov)
        check_result_finite(out, "the covariance C_t")
        return out

    def exact_basis(self) -> Any:
        """eigh of the current covariance, columns by decreasing eigenvalue (the exact counterpart)."""
        ops = self._backend("no covariance yet")
        with ops.guard():
            _, q = _descending(ops, self._scaled)  # the basis of 4^E·S is that of S
        return self._restore(q)

    def _backend(self, why: str) -> Ops:
        if self._ops is None:
            raise ValueError(why)
        return self._ops


def subspace_angles(Q: Any, V: Any, j: int) -> Any:
    """Largest principal angle (radians) between span(Q[:, :j]) and span(V[:, :j]), per matrix.

    sin θ_max = ‖Q_j − V_j(V_jᵀQ_j)‖₂ for orthonormal Q_j, V_j (Björck & Golub 1973);
    the arcsine keeps small angles accurate to rounding. Q and V: the same kind (torch, NumPy
    or mpmath) and shape; the result has that kind, one angle per matrix of the batch.
    """
    ops, q, restore = working(Q, "Q")
    _, v, _ = working(V, "V")
    check_same_kind(Q, V, "Q", "V")
    if tuple(q.shape) != tuple(v.shape):
        raise ValueError(f"Q and V must have one shape, got {tuple(q.shape)} and {tuple(v.shape)}")
    if not isinstance(j, int) or isinstance(j, bool) or not 1 <= j <= q.shape[-1]:
        raise ValueError(f"j must be an int in [1, {q.shape[-1]}], got {j!r}")
    with ops.guard():
        qj, vj = q[..., :j], v[..., :j]
        residual = qj - vj @ (vj.mT @ qj)
        top = ops.svd(residual)[1][..., :1]  # ‖·‖₂, shape (..., 1)
        top = ops.where(top < 1, top, ops.scalar(1))
        angle = ops.arcsin(top)[..., None]  # (..., 1, 1): restore takes matrices
    out = restore(angle)
    return out[..., 0, 0] if hasattr(out, "ndim") else out[0, 0]  # an mpmath.matrix in: one mpf out
