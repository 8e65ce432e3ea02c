"""Accuracy of the matmul-only fractional powers, roots, whitening and eigenbasis tracking.

Every row compares a recurrence with its exact counterpart (SVD / eigh):

* :func:`muon_p_accuracy` -- the published bivariate recurrences (6 steps):
  worst |y_T(σ̂) − σ̂^p| over the σ̂ ∈ [1e-3, 1] where the error stays ≤ 1
  (scalar map, float64, by the iteration itself), where it is worst, and the
  smallest σ̂ from which it diverges (error > 1); the coupled route's max
  error on a 64 × 256 matrix with σ log-spaced over [1e-3, 1].
* :func:`coupled_root_accuracy` -- iterations to tolerance, matrix products and max error vs eigh,
  for coupled Newton, classic coupled Newton–Schulz and the CANS schedule (a Polar Express
  design for ℓ = √(λ_min/‖A‖_F), 12 steps, driving the same coupled iteration).
* :func:`whitening_accuracy` -- relative error of the matmul and isotropic
  partner-whitened directions, for a Gaussian and a near-isotropic partner.
* :func:`tracking_accuracy` -- largest principal angle of the tracked leading
  eigenvectors after t updates of a noisy stream.
"""

from __future__ import annotations

import math
from typing import Any

import torch

import spectral_la as sl
from spectral_la.analysis.spectra import torch_matrix_with_spectrum
from spectral_la.muon_p import MUON_P_RECURRENCES
from spectral_la.normalization import SOURCE_FROBENIUS

__all__ = ["coupled_root_accuracy", "muon_p_accuracy", "tracking_accuracy", "whitening_accuracy"]


def muon_p_accuracy(points: int = 601, shape: tuple[int, int] = (64, 256)) -> list[dict]:
    rows = []
    sigma = torch.logspace(-3, 0, points, dtype=torch.float64)
    m, n = shape
    x = torch_matrix_with_spectrum(m, n, torch.logspace(0, -3, min(m, n), dtype=torch.float64), seed=3)
    x0 = sl.normalize(x, SOURCE_FROBENIUS)
    for p in MUON_P_RECURRENCES:
        err = (sl.muon_p_scalar_map(float(p), sigma, check_range=False) - sigma ** float(p)).abs()
        bound = MUON_P_RECURRENCES[p].stable_bound
        # The worst error is taken where the recurrence is defined (σ̂ ≤ its stable bound, where
        # `muon_p` runs); between the bound and the divergence point it is still finite but no
        # longer a fixed-point iteration, and `muon_p` raises there.
        defined = sigma <= bound
        diverges = sigma[err > 1]
        coupled = sl.muon_p(x, float(p), method="coupled")
        rows.append(
            {
                "p": str(p),
                "stable_bound": round(bound, 4),
                "bivariate_worst_error_up_to_stable_bound": float(err[defined].max()),
                "at_sigma_hat": float(sigma[defined][int(err[defined].argmax())]),
                "diverges_above_sigma_hat": float(diverges.min()) if len(diverges) else "never",
                "coupled_max_error": float((coupled - sl.fractional_power(x0, float(p))).abs().max()),
            }
        )
    return rows


def coupled_root_accuracy(n: int = 32, kappas=(1e1, 1e4, 1e8), rs=(2, 4)) -> list[dict]:
    rows = []
    for kappa in kappas:
        lam = torch.logspace(0, -math.log10(kappa), n, dtype=torch.float64)
        a = torch_matrix_with_spectrum(n, n, lam, seed=4, symmetric=True)
        a = (a + a.mT) / 2
        for r in rs:
            exact = sl.inverse_root(a, r)
            scale = float(exact.abs().max())
            runs: dict[str, dict[str, Any]] = {"newton": {"method": "newton"}}
            if r == 2:
                ell = math.sqrt(float(lam.min()) / float(torch.linalg.matrix_norm(a)))
                cans = sl.design_schedule(5, 12, 0.9 * ell, name=f"cans_l{0.9 * ell:.3g}").schedule
                runs |= {
                    "newton_schulz": {"method": "newton_schulz"},
                    f"newton_schulz + CANS ({cans.name})": {"method": "newton_schulz", "schedule": cans},
                }
            for label, kw in runs.items():
                res = sl.coupled_inverse_root(a, r, **kw)
                rows.append(
                    {
                        "kappa": kappa,
                        "r": r,
                        "method": label,
                        "iterations": res.iterations,
                        "products": res.iterations * _products_per_step(r, kw),
                        "converged": res.converged,
                        "rel_error_vs_eigh": float((res.root - exact).abs().max()) / scale,
                    }
                )
    return rows


def _products_per_step(r: int, kw: dict) -> int:
    """Matrix products a step: Newton X·T and T^r·M (binary powering); NS ZY, the Horner ones, Y·T and T·Z."""
    if kw["method"] == "newton":
        # X·T, then T^r (⌊log₂r⌋ squarings and popcount(r) − 1 products) times M
        return 1 + (r.bit_length() - 1) + (bin(r).count("1") - 1) + 1
    row = sl.schedules.resolve(kw.get("schedule", "newton_schulz_cubic")).rows[0]
    return len(row) + 1


def whitening_accuracy(lam: float = 1e-3, shape: tuple[int, int] = (96, 64)) -> list[dict]:
    m, n = shape
    g = torch.randn(m, n, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    gaussian = torch.randn(2 * n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    q, _ = torch.linalg.qr(gaussian)
    near_iso = q * (1 + 0.05 * torch.linspace(-1, 1, n, dtype=torch.float64))
    rows = []
    for name, w in ((f"gaussian {2 * n}x{n}", gaussian), ("near-isotropic (±5%)", near_iso)):
        exact = sl.whitened_direction(g, w, lam)
        norm = float(torch.linalg.matrix_norm(exact))
        row: dict[str, Any] = {"partner": name}
        for method in ("matmul", "isotropic"):
            approx = sl.whitened_direction(g, w, lam, method=method)
            row[f"{method}_rel_error"] = float(torch.linalg.matrix_norm(approx - exact)) / norm
        rows.append(row)
    return rows


def tracking_accuracy(
    steps=(1, 5, 20, 50), beta: float = 0.9, noise: float = 0.1, shape: tuple[int, int] = (16, 64)
) -> list[dict]:
    gen = torch.Generator().manual_seed(7)
    base = torch.randn(*shape, dtype=torch.float64, generator=gen)
    tracker = sl.EigenbasisTracker(beta=beta)
    rows = []
    for t in range(1, max(steps) + 1):
        q = tracker.update(base + noise * torch.randn(*shape, dtype=torch.float64, generator=gen))
        if t in steps:
            exact = tracker.exact_basis()
            rows.append({"updates": t, **{f"angle_top{j}": float(sl.subspace_angles(q, exact, j)) for j in (1, 4)}})
    return rows
