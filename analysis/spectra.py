"""Test matrices with prescribed spectra, on torch and in mpmath."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import torch

__all__ = ["geometric_singular_values", "mp_matrix_with_spectrum", "torch_matrix_with_spectrum"]


def geometric_singular_values(k: int, kappa: float) -> np.ndarray:
    """k values from 1 down to 1/κ, geometrically spaced (float64)."""
    return np.logspace(0, -math.log10(kappa), k) if k > 1 else np.ones(1)


def torch_matrix_with_spectrum(
    m: int, n: int, sigma, *, seed: int = 0, dtype=torch.float64, device="cpu", symmetric: bool = False
) -> torch.Tensor:
    """U diag(σ) Vᵀ with Haar-like orthonormal U, V (QR of a Gaussian), built in float64.

    ``symmetric=True`` (m = n) takes V = U, giving a symmetric PSD matrix.
    """
    g = torch.Generator().manual_seed(seed)
    k = min(m, n)
    u, _ = torch.linalg.qr(torch.randn(m, k, dtype=torch.float64, generator=g))
    v = u if symmetric else torch.linalg.qr(torch.randn(n, k, dtype=torch.float64, generator=g))[0]
    s = torch.as_tensor(np.asarray(sigma, dtype=np.float64))
    return ((u * s) @ v.T).to(dtype=dtype, device=device)


def mp_matrix_with_spectrum(m: int, n: int, sigma, *, seed: int = 0, symmetric: bool = False) -> mpmath.matrix:
    """The same construction in mpmath at the current precision (orthonormal to working accuracy)."""
    rng = np.random.default_rng(seed)
    k = min(m, n)
    u, _ = mpmath.qr(mpmath.matrix(rng.standard_normal((m, k)).tolist()), mode="skinny")
    v = u if symmetric else mpmath.qr(mpmath.matrix(rng.standard_normal((n, k)).tolist()), mode="skinny")[0]
    return u * mpmath.diag([mpmath.mpf(float(s)) for s in sigma]) * v.T
