"""Scalar maps of the registered schedules and their measured matrix response.

* :func:`schedule_bands`: f(σ) of each schedule on a log grid of its design
  interval [ℓ, 1] (float64, by the iteration itself on 1 × 1 matrices): the band
  [min f, max f] and the worst error max |1 − f|. A grid estimate, not a
  certified bound (certified bounds: schedule design work, issue 6).
* :func:`measured_response`: on X = U diag(σ) Vᵀ with σ log-spaced over
  [ℓ, 1]·‖X‖-normalisation, the response uᵢᵀ NS(X) vᵢ against f(σ̂ᵢ) and the
  off-diagonal leakage max |uᵢᵀ NS(X) vⱼ|, per compute dtype.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

import spectral_la as sl

__all__ = ["measured_response", "schedule_bands"]


def schedule_bands(names=None, *, points: int = 2001) -> list[dict]:
    rows = []
    for name in names or list(sl.schedules):
        sched = sl.schedules[name]
        lo, hi = sched.interval
        sigma = torch.logspace(np.log10(lo), np.log10(hi), points, dtype=torch.float64)
        f = sl.scalar_map(name, sigma)
        rows.append(
            {
                "schedule": name,
                "degree": sched.degree,
                "steps": sched.steps,
                "interval": f"[{lo:g}, {hi:g}]",
                "min_f": float(f.min()),
                "max_f": float(f.max()),
                "worst_abs_1_minus_f": float((1 - f).abs().max()),
            }
        )
    return rows


def measured_response(
    names=None, *, n: int = 128, dtypes=(torch.float32, torch.bfloat16), device="cpu", progress: bool = True
) -> list[dict]:
    rows = []
    jobs = [(name, dt) for name in (names or list(sl.schedules)) for dt in dtypes]
    for name, dtype in tqdm(jobs, desc="schedule response", disable=not progress):
        sched = sl.schedules[name]
        g = torch.Generator().manual_seed(0)
        u, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=g))
        v, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=g))
        sigma = torch.logspace(0, np.log10(sched.interval[0]), n, dtype=torch.float64)
        x = (u * sigma) @ v.T
        y = sl.newton_schulz(x.to(device), name, compute_dtype=dtype).double().cpu()
        d = u.T @ y @ v
        norm = sched.normalization
        sig_hat = sigma / (norm.scale * torch.linalg.matrix_norm(x) + norm.eps)
        predicted = sl.scalar_map(name, sig_hat)
        off = d - torch.diag(torch.diagonal(d))
        rows.append(
            {
                "schedule": name,
                "compute": str(dtype).removeprefix("torch."),
                "n": n,
                "max_response_error": float((torch.diagonal(d) - predicted).abs().max()),
                "max_leakage": float(off.abs().max()),
            }
        )
    return rows
