"""High-precision references built directly with mpmath (never with spectral_la).

Matrices with prescribed spectra are constructed as X = U diag(σ) Vᵀ with
random orthonormal U, V from mpmath's QR of a Gaussian matrix, so the exact
polar factor U Vᵀ, the fractional power U diag(σ^p) Vᵀ and the inverse root
Q diag((λ + ε)^{-1/r}) Qᵀ are known in closed form. For an input rounded to a
float dtype, :func:`mp_polar` gives the exact polar factor of the *rounded*
matrix from mpmath's SVD at high precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np
import torch


def unit_roundoff(dtype: torch.dtype) -> float:
    return float(torch.finfo(dtype).eps) / 2


def mp_unit_roundoff() -> mpmath.mpf:
    return mpmath.mp.eps / 2


def random_orthonormal(rows: int, cols: int, rng: np.random.Generator) -> mpmath.matrix:
    """rows × cols with orthonormal columns, to the current mpmath precision."""
    g = mpmath.matrix(rng.standard_normal((rows, cols)).tolist())
    q, _ = mpmath.qr(g, mode="skinny")
    return q


@dataclass
class Prescribed:
    """X = U diag(sigma) Vᵀ with its exact factors, at the current mpmath precision."""

    x: mpmath.matrix
    u: mpmath.matrix
    sigma: list
    v: mpmath.matrix

    def svd_map(self, f) -> mpmath.matrix:
        """U diag(f(σ)) Vᵀ, with f applied to nonzero σ only (σ = 0 maps to 0)."""
        d = mpmath.diag([f(s) if s != 0 else mpmath.mpf(0) for s in self.sigma])
        return self.u * d * self.v.T


def prescribed(m: int, n: int, sigma, seed: int) -> Prescribed:
    """An m × n matrix with singular values ``sigma`` (length min(m, n))."""
    rng = np.random.default_rng(seed)
    k = min(m, n)
    assert len(sigma) == k
    u = random_orthonormal(m, k, rng)
    v = random_orthonormal(n, k, rng)
    s = [mpmath.mpf(x) for x in sigma]
    return Prescribed(u * mpmath.diag(s) * v.T, u, s, v)


def geometric_spectrum(k: int, kappa: float) -> list:
    """k singular values from 1 down to 1/kappa, geometrically spaced (exact in mpmath)."""
    if k == 1:
        return [mpmath.mpf(1)]
    return [mpmath.mpf(kappa) ** (-mpmath.mpf(i) / (k - 1)) for i in range(k)]


def to_torch(x: mpmath.matrix, dtype: torch.dtype = torch.float64, device="cpu") -> torch.Tensor:
    return torch.tensor([[float(x[i, j]) for j in range(x.cols)] for i in range(x.rows)], dtype=torch.float64).to(
        dtype=dtype, device=device
    )


def from_torch(t: torch.Tensor) -> mpmath.matrix:
    """The exact value of a float tensor (any float dtype) as an mpmath matrix."""
    return mpmath.matrix(t.detach().to(torch.float64).cpu().tolist())


def mp_polar(x: mpmath.matrix) -> mpmath.matrix:
    """Exact polar factor of a full-rank x from mpmath's SVD at the current precision."""
    u, _, vh = mpmath.svd_r(x, full_matrices=False)
    return u * vh


def mp_svd_map(x: mpmath.matrix, f) -> mpmath.matrix:
    u, s, vh = mpmath.svd_r(x, full_matrices=False)
    return u * mpmath.diag([f(s[i]) for i in range(len(s))]) * vh


def max_abs_diff(a, b) -> float:
    """max |a − b| entrywise for torch/mpmath/object-array inputs, as a float."""
    a = _as_mp(a)
    b = _as_mp(b)
    return float(max(abs(a[i, j] - b[i, j]) for i in range(a.rows) for j in range(a.cols)))


def _as_mp(a):
    if isinstance(a, torch.Tensor):
        return from_torch(a)
    if isinstance(a, np.ndarray):
        return mpmath.matrix(a.tolist())
    return a
