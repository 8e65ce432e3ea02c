"""Test matrices with prescribed spectra, on torch and in mpmath, and the one table of matrix families.

:data:`FAMILIES` names the random input families every command, sweep and report section
draws from (one spelling each): ``gaussian`` (i.i.d. N(0, 1) entries, a Marchenko–Pastur
spectrum), ``low_rank`` (a rank k/8 Gaussian signal of Frobenius norm 1 plus 5% Gaussian noise:
the shape of a gradient), ``power_law`` (σᵢ = 1/i with Haar U, V: heavy-tailed) and
``tiny_sigma`` (σ from 1 down to 1e-8, geometric: fp16's subnormal range after normalisation),
k = min(m, n). :func:`family_matrix` draws one from a generator seeded with ``seed`` (never
torch's global one).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import torch

__all__ = [
    "FAMILIES",
    "family_matrix",
    "geometric_singular_values",
    "mp_matrix_with_spectrum",
    "singular_bases",
    "torch_matrix_with_spectrum",
]


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


def _gaussian(m: int, n: int, g: torch.Generator) -> torch.Tensor:
    return torch.randn(m, n, dtype=torch.float64, generator=g)


def _low_rank(m: int, n: int, g: torch.Generator) -> torch.Tensor:
    r = max(1, min(m, n) // 8)
    a = torch.randn(m, r, dtype=torch.float64, generator=g) @ torch.randn(r, n, dtype=torch.float64, generator=g)
    noise = torch.randn(m, n, dtype=torch.float64, generator=g)
    return a / torch.linalg.matrix_norm(a) + 0.05 * noise / torch.linalg.matrix_norm(noise)


#: family name → one-line description (module docstring); :func:`family_matrix` builds them.
FAMILIES: dict[str, str] = {
    "gaussian": "i.i.d. N(0, 1) entries",
    "low_rank": "rank min(m,n)/8 signal plus 5% Gaussian noise",
    "power_law": "σᵢ = 1/i, Haar U, V",
    "tiny_sigma": "σ geometric from 1 to 1e-8, Haar U, V",
}


def family_matrix(family: str, m: int, n: int, seed: int = 0) -> torch.Tensor:
    """An m × n float64 matrix of a :data:`FAMILIES` entry, drawn from a generator seeded with ``seed``."""
    if family not in FAMILIES:
        import difflib

        close = difflib.get_close_matches(str(family), list(FAMILIES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}{hint}")
    k = min(m, n)
    if family == "power_law":
        return torch_matrix_with_spectrum(m, n, 1.0 / np.arange(1, k + 1, dtype=np.float64), seed=seed)
    if family == "tiny_sigma":
        return torch_matrix_with_spectrum(m, n, np.logspace(0, -8, k), seed=seed)
    g = torch.Generator().manual_seed(seed)
    return _gaussian(m, n, g) if family == "gaussian" else _low_rank(m, n, g)
