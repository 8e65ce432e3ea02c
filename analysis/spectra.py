"""Test matrices with prescribed spectra, on torch and in mpmath."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import torch

__all__ = ["geometric_singular_values", "mp_matrix_with_spectrum", "singular_bases", "torch_matrix_with_spectrum"]


def geometric_singular_values(k: int, kappa: float) -> np.ndarray:
    """k values from 1 down to 1/κ, geometrically spaced (float64)."""
    return np.logspace(0, -math.log10(kappa), k) if k > 1 else np.ones(1)


def singular_bases(
    m: int, n: int, *, batch: tuple[int, ...] = (), seed: int = 0, symmetric: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Haar-like U (..., m, k) and V (..., n, k), k = min(m, n), orthonormal columns, float64.

    QR of Gaussian matrices drawn from a generator seeded with ``seed`` (U first,
    then V); ``symmetric=True`` (m = n) returns V = U.
    """
    g = torch.Generator().manual_seed(seed)
    k = min(m, n)
    u, _ = torch.linalg.qr(torch.randn(*batch, m, k, dtype=torch.float64, generator=g))
    v = u if symmetric else torch.linalg.qr(torch.randn(*batch, n, k, dtype=torch.float64, generator=g))[0]
    return u, v


def torch_matrix_with_spectrum(
    m: int,
    n: int,
    sigma,
    *,
    seed: int = 0,
    dtype=torch.float64,
    device="cpu",
    symmetric: bool = False,
    batch: tuple[int, ...] = (),
) -> torch.Tensor:
    """U diag(σ) Vᵀ with the bases of :func:`singular_bases`, built in float64, then cast.

    ``symmetric=True`` (m = n) takes V = U, giving a symmetric PSD matrix.
    """
    u, v = singular_bases(m, n, batch=batch, seed=seed, symmetric=symmetric)
    s = torch.as_tensor(np.asarray(sigma, dtype=np.float64))
    return ((u * s) @ v.mT).to(dtype=dtype, device=device)


def mp_matrix_with_spectrum(m: int, n: int, sigma, *, seed: int = 0, symmetric: bool = False) -> mpmath.matrix:
    """The same construction in mpmath at the current precision (orthonormal to working accuracy)."""
    rng = np.random.default_rng(seed)
    k = min(m, n)
    u, _ = mpmath.qr(mpmath.matrix(rng.standard_normal((m, k)).tolist()), mode="skinny")
    v = u if symmetric else mpmath.qr(mpmath.matrix(rng.standard_normal((n, k)).tolist()), mode="skinny")[0]
    return u * mpmath.diag([mpmath.mpf(float(s)) for s in sigma]) * v.T
