"""The analysis on real optimizer states: captured singular values of momenta from a training run.

A Newton–Schulz-type map acts on singular values only, so every question below is answered
from the captured spectra (``spectral_la.optim.Capture``, ``spectral-la capture``) through the
scalar maps -- the same iteration code as the matrix maps:

* **below the design interval**: the fraction of a momentum matrix's normalised singular
  values σ̂ = σ/(c‖M‖_F) under the schedule's ℓ, where the map has not reached its band;
* **softening on real updates**: Soft-Muon's claimed (1 − s) + sρ against the finite-step
  (1 − s)f(ρ/c) + sρ, as the mean and worst relative gap over the matrix's own ρ = σ/‖M‖_F;
* **Muon^p on real spectra**: the published bivariate recurrence's error |y(σ̂) − σ̂^p|;
* **early vs late**: how the spectra themselves change (stable rank ‖M‖_F²/σ₁², σ₁/‖M‖_F).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

import spectral_la as sl

__all__ = ["DEFAULT_CAPTURE", "load_capture", "muon_p_rows", "real_state_rows", "spectrum_rows"]

DEFAULT_CAPTURE = Path(__file__).resolve().parents[1] / "data" / "captured" / "stdlib_lm.npz"


def load_capture(path: str | Path = DEFAULT_CAPTURE) -> tuple[dict, dict]:
    """(metadata, {(name, kind, step): singular values}) of a capture file."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"capture file {path} does not exist (make it with `spectral-la capture`)")
    data = np.load(path)
    meta = json.loads(str(data["__meta__"]))
    spectra = {}
    for key in data.files:
        if key.startswith("sv/"):
            _, rest = key.split("/", 1)
            name, kind, step = rest.rsplit("/", 2)
            spectra[(name, kind, int(step))] = data[key].astype(np.float64)
    return meta, spectra


def spectrum_rows(path: str | Path = DEFAULT_CAPTURE, kind: str = "momentum") -> list[dict]:
    """Per captured step: median over matrices of the stable rank and of σ₁/‖M‖_F, and the smallest ρ."""
    _, spectra = load_capture(path)
    rows = []
    for step in sorted({k[2] for k in spectra}):
        svs = [v for (n, k, s), v in spectra.items() if k == kind and s == step]
        fro = [float(np.linalg.norm(v)) for v in svs]
        rows.append(
            {
                "step": step,
                "matrices": len(svs),
                "stable_rank_median": float(np.median([f**2 / v[0] ** 2 for f, v in zip(fro, svs, strict=True)])),
                "top_share_median": float(np.median([v[0] / f for f, v in zip(fro, svs, strict=True)])),
                "min_rho": float(min(v[-1] / f for f, v in zip(fro, svs, strict=True))),
            }
        )
    return rows


def real_state_rows(
    path: str | Path = DEFAULT_CAPTURE,
    schedules=("jordan_ns5", "polar_express", "you_ns6", "dion_ns5"),
    s: float = 0.5,
) -> list[dict]:
    """Per schedule and captured step, over every captured momentum matrix (module docstring)."""
    _, spectra = load_capture(path)
    rows = []
    for step in sorted({k[2] for k in spectra}):
        svs = [torch.from_numpy(v) for (n, k, st), v in spectra.items() if k == "momentum" and st == step]
        rhos = [v / torch.linalg.vector_norm(v) for v in svs]
        for name in schedules:
            sched = sl.schedules[name]
            ell, scale = sched.interval[0], sched.normalization.scale
            below = float(np.mean([float((r / scale < ell).double().mean()) for r in rhos]))
            gaps = [
                (sl.soften_scalar_map(name, r, s) - sl.soften_target_map(r, s)).abs() / sl.soften_target_map(r, s)
                for r in rhos
            ]
            rows.append(
                {
                    "step": step,
                    "schedule": name,
                    "below_interval": below,
                    "soften_mean_rel": float(torch.cat(gaps).mean()),
                    "soften_max_rel": float(torch.cat(gaps).max()),
                }
            )
    return rows


def muon_p_rows(path: str | Path = DEFAULT_CAPTURE, powers=(1 / 3, 1 / 5, 3 / 5)) -> list[dict]:
    """Per captured step and p: the published recurrence's mean and worst |y(σ̂) − σ̂^p| on real σ̂."""
    _, spectra = load_capture(path)
    rows = []
    for step in sorted({k[2] for k in spectra}):
        sig_hat = [
            torch.from_numpy(v) / torch.linalg.vector_norm(torch.from_numpy(v))
            for (n, k, st), v in spectra.items()
            if k == "momentum" and st == step
        ]
        for p in powers:
            errs = torch.cat([(sl.muon_p_scalar_map(p, r) - r**p).abs() for r in sig_hat])
            rows.append(
                {"step": step, "p": f"{p:.3g}", "mean_error": float(errs.mean()), "max_error": float(errs.max())}
            )
    return rows
