"""Singular-value response of a method: predicted scalar map, target, and the measured matrix map.

``response(method, sigmas, mode=...)``

* ``mode="scalar"`` / ``"mpmath"``: ``sigmas`` are normalised singular
  values σ̂; returns f(σ̂) (the method's scalar map, computed by its own
  iteration code) and the target t(σ̂) in float64 or at ``mp.dps``.
* ``mode="matrix"``: ``sigmas`` are the singular values of a test matrix
  X = U diag(σ) Vᵀ (Haar-like U, V; shape (k, k) or ``shape``) built in float64,
  rounded to ``dtype`` on ``device``; the method runs on it and the measured
  response uᵢᵀ F(X) vᵢ and the leakage max_{j≠i} |uᵢᵀ F(X) vⱼ| are reported next
  to f(σ̂ᵢ) and t(σ̂ᵢ), with σ̂ from the method's normalisation of the rounded X.
"""

from __future__ import annotations

from typing import Any

import mpmath
import torch

from spectral_la.analysis.methods import Method, method
from spectral_la.analysis.spectra import singular_bases

__all__ = ["response"]

MODES = ("scalar", "mpmath", "matrix")


def response(
    spec: str | Method,
    sigmas,
    *,
    mode: str = "scalar",
    shape: tuple[int, int] | None = None,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    compute_dtype: Any = None,
    seed: int = 0,
) -> list[dict]:
    """Rows {sigma, sigma_hat, predicted, target[, measured, leakage]} (module docstring)."""
    m = method(spec)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "mpmath":
        mp_s = [mpmath.mpf(v) for v in sigmas]
        if not mp_s or not all(mpmath.isfinite(v) and v >= 0 for v in mp_s):
            raise ValueError("sigmas must be a non-empty list of finite, non-negative numbers")
        return [
            {"sigma_hat": a, "predicted": b, "target": c}
            for a, b, c in zip(mp_s, m.scalar(mp_s), m.target(mp_s), strict=True)
        ]
    s = torch.as_tensor(sigmas, dtype=torch.float64)
    if s.ndim != 1 or not s.numel():
        raise ValueError(f"sigmas must be a non-empty 1-D list of singular values, got shape {tuple(s.shape)}")
    if not bool(torch.isfinite(s).all()) or bool((s < 0).any()):
        raise ValueError("sigmas must be finite and non-negative")
    if mode == "scalar":
        return [
            {"sigma_hat": float(a), "predicted": float(b), "target": float(c)}
            for a, b, c in zip(s, m.scalar(s), m.target(s), strict=True)
        ]
    k = s.numel()
    rows_, cols_ = shape or (k, k)
    if min(rows_, cols_) != k:
        raise ValueError(f"shape {shape} needs min(m, n) = len(sigmas) = {k}")
    u, v = singular_bases(rows_, cols_, seed=seed)
    x = ((u * s) @ v.T).to(dtype=dtype, device=device)
    kwargs = {"compute_dtype": compute_dtype} if (m.matmul_only and compute_dtype is not None) else {}
    y = m.apply(x, **kwargs).double().cpu()
    d = u.T @ y @ v
    sig_hat = m.sigma_hat(s, torch.linalg.matrix_norm(x.double().cpu()))
    off = (d - torch.diag(torch.diagonal(d))).abs().amax(dim=1)
    return [
        {
            "sigma": float(a),
            "sigma_hat": float(b),
            "predicted": float(c),
            "target": float(t),
            "measured": float(e),
            "leakage": float(lk),
        }
        for a, b, c, t, e, lk in zip(
            s, sig_hat, m.scalar(sig_hat), m.target(sig_hat), torch.diagonal(d), off, strict=True
        )
    ]
