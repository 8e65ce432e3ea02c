"""Scalar maps of the registered schedules and their measured matrix response.

* :func:`schedule_bands`: f(σ) of each schedule on a log grid of its design
  interval [ℓ, 1] where the source states one, else of its effective interval
  (float64, by the iteration itself on 1 × 1 matrices): the band [min f, max f] and
  the grid's max |1 − f|, next to the certified bound of
  :func:`spectral_la.certify.certify` (ball arithmetic), the certified max of f just
  above the interval (overshoot) and its grid min there (a turned-round direction).
* :func:`effective_intervals`: for every schedule, the largest [ℓ, 1] on which its
  T-step map stays within a band |1 − f| ≤ τ (from a float64 grid), the certified
  worst error there, and the matrix products the schedule costs: the table to choose a
  schedule by, in place of the nominal design interval most sources do not state.
* :func:`measured_response`: on X = U diag(σ) Vᵀ with σ log-spaced over
  [ℓ, 1]·‖X‖-normalisation, the response uᵢᵀ NS(X) vᵢ against f(σ̂ᵢ) and the
  off-diagonal leakage max |uᵢᵀ NS(X) vⱼ|, per compute dtype.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from tqdm.auto import tqdm

import spectral_la as sl
from spectral_la.analysis.methods import frobenius_schedules
from spectral_la.analysis.response import response
from spectral_la.analysis.spectra import torch_matrix_with_spectrum
from spectral_la.certify import certify

__all__ = [
    "effective_ells",
    "effective_intervals",
    "gram_rounding",
    "measured_response",
    "schedule_bands",
    "schedule_error",
]


def schedule_error(spec, *, tau: float = 0.3) -> dict | None:
    """The error of a schedule, one definition for the command line, every legend, table and summary.

    For a Newton–Schulz spec of a sign-target schedule (at the spec's steps): the interval it is
    meant for and the certified max |1 − f| there (:func:`spectral_la.certify`, an upper bound by
    ball arithmetic). The interval is the one its source states (``which`` = ``"stated"``), else the
    measured effective interval [ℓ_eff(τ), 1] on which the map stays within τ of 1 (``"effective
    (τ = 0.3)"``), else the schedule's nominal interval (``"nominal"``). None for other specs.
    Returns ``{"interval": (lo, hi), "which": …, "certified": bound.upper, "bound": bound}`` (the
    :class:`~spectral_la.CertifiedBound`, whose ``overshoot`` the band table also reports).
    """
    sp = sl.parse_spec(spec)
    if not isinstance(sp, sl.NewtonSchulzSpec) or sp.resolved_schedule.target != "sign":
        return None
    sched = sp.resolved_schedule
    lo, hi = sched.interval
    which = "stated"
    if not sched.interval_stated:
        ell = effective_ells(sched.name, (tau,))[0] if sched.name in sl.schedules else float("nan")
        lo, which = (ell, f"effective (τ = {tau:g})") if not np.isnan(ell) else (lo, f"nominal (no τ = {tau:g} band)")
    bound = certify(sched, sp.steps, interval=(lo, hi))
    return {"interval": (lo, hi), "which": which, "certified": bound.upper, "bound": bound}


def schedule_bands(names=None, *, points: int = 2001, tau: float = 0.3) -> list[dict]:
    """Per schedule: its scalar map on the interval it is meant for, certified, and what happens just above 1.

    The interval is the design interval where the source states it (or its construction fixes it),
    else the measured effective interval [ℓ_eff(τ), 1] (:func:`effective_intervals`): a nominal
    [1e-3, 1] would report bands on an interval the source never designed for. ``max_f_on_[u,1.01u]``
    is certified (:func:`spectral_la.certify`), ``min_f_on_[u,1.01u]`` a float64 grid value: a σ̂
    pushed above 1 by rounding is sent high by unsafe steep schedules and below 0 (its direction
    turned round) by those with no margin above 1.
    """
    rows = []
    for name in names or list(sl.schedules):
        sched = sl.schedules[name]
        error = schedule_error(f"ns:{name}", tau=tau)
        if error is None:  # not a sign target: its own interval, certified against its own target
            (lo, hi), where = sched.interval, "stated" if sched.interval_stated else "nominal"
            bound = certify(name, interval=(lo, hi))
        else:
            (lo, hi), where, bound = error["interval"], error["which"], error["bound"]
        sigma = torch.logspace(np.log10(lo), np.log10(hi), points, dtype=torch.float64)
        above = torch.linspace(hi, 1.01 * hi, 201, dtype=torch.float64)
        f = sl.scalar_map(name, sigma)
        rows.append(
            {
                "schedule": name,
                "degree": sched.degree,
                "steps": sched.steps,
                "interval": f"[{lo:.3g}, {hi:g}]",
                "which": where,
                "min_f": float(f.min()),
                "max_f": float(f.max()),
                "grid_max_abs_1_minus_f": float((1 - f).abs().max()),
                "certified_max_abs_1_minus_f": bound.upper,
                "max_f_on_[u,1.01u]": bound.overshoot,
                "min_f_on_[u,1.01u]": float(sl.scalar_map(name, above).min()),
            }
        )
    return rows


def measured_response(
    names=None, *, n: int = 128, dtypes=(torch.float32, torch.bfloat16), device="cpu", progress: bool = True
) -> list[dict]:
    """Per schedule and compute dtype: max |uᵢᵀNS(X)vᵢ − f(σ̂ᵢ)| and the leakage, via :func:`analysis.response`."""
    rows = []
    jobs = [(name, dt) for name in frobenius_schedules(names) for dt in dtypes]
    for name, dtype in tqdm(jobs, desc="schedule response", disable=not progress):
        sigma = torch.logspace(0, math.log10(sl.schedules[name].interval[0]), n, dtype=torch.float64)
        measured = response(
            f"ns:{name}", sigma, mode="matrix", dtype=torch.float64, compute_dtype=dtype, device=device, seed=0
        )
        rows.append(
            {
                "schedule": name,
                "compute": str(dtype).removeprefix("torch."),
                "storage": "float64",
                "n": n,
                "max_response_error": max(abs(r["measured"] - r["predicted"]) for r in measured),
                "max_leakage": max(r["leakage"] for r in measured),
            }
        )
    return rows


def gram_rounding(
    *,
    m: int = 64,
    n: int = 512,
    dtypes=(torch.float32, torch.bfloat16),
    restarts=((), (2,)),
    schedule: str = "polar_express",
    device="cpu",
) -> list[dict]:
    """Rounding of Gram NS vs plain NS: max entrywise distance to the float64 plain-NS result.

    Input: m × n with σ log-spaced over [1e-3, 1] (the small σ are where the
    drift of R = Q X₀ (Q X₀)ᵀ shows). Plain NS in the same compute dtype is the
    yardstick: a Gram variant that restarts should stay within a small factor of it.
    """
    x = torch_matrix_with_spectrum(m, n, np.logspace(0, -3, m), seed=5)
    exact = sl.newton_schulz(x, schedule)
    rows = []
    for dtype in dtypes:
        xd = x.to(device)
        plain = float((sl.newton_schulz(xd, schedule, compute_dtype=dtype).double().cpu() - exact).abs().max())
        row = {"compute": str(dtype).removeprefix("torch."), "shape": f"{m}x{n}", "plain_ns_error": plain}
        for r in restarts:
            # measured as it comes out, finite or not: without a restart the bf16 Gram recurrence leaves the
            # band (σ up to ~1e4–1e8 here), which check_finite would turn into a DivergedError
            y = sl.gram_newton_schulz(xd, schedule, compute_dtype=dtype, restart_after=r, check_finite=False)
            y = y.double().cpu()
            row[f"gram_error_restart_{'_'.join(map(str, r)) or 'none'}"] = float((y - exact).abs().max())
        rows.append(row)
    return rows


def effective_ells(name: str, taus, *, points: int = 4001, lowest: float = 1e-8) -> list[float]:
    """ℓ_eff(τ) for each τ: the smallest σ of a log grid on [lowest, 1] with |1 − f(σ')| ≤ τ at every grid σ' ≥ σ.

    NaN where the band fails even at σ = 1 (f at the schedule's default steps, no normalisation).
    """
    sigma = torch.logspace(np.log10(lowest), 0, points, dtype=torch.float64)
    err = (1 - sl.scalar_map(name, sigma)).abs()
    ells = []
    for tau in taus:
        bad = (err > tau).nonzero()
        if len(bad) and int(bad.max()) == points - 1:
            ells.append(float("nan"))
        else:
            ells.append(float(sigma[int(bad.max()) + 1]) if len(bad) else lowest)
    return ells


def effective_intervals(names=None, *, taus=(0.1, 0.3, 0.5), points: int = 4001, lowest: float = 1e-8) -> list[dict]:
    """One row per schedule: products, ℓ_eff(τ) for each τ, and the certified worst error on [ℓ_eff(τ*), 1].

    ℓ_eff(τ) is the smallest grid σ ∈ [lowest, 1] with |1 − f(σ')| ≤ τ for every grid σ' ≥ σ
    (the map at the schedule's default steps, normalisation not included; NaN where the band
    fails even at σ = 1). The bound on [ℓ_eff, 1] for the middle τ (τ*) is certified by ball
    arithmetic (:func:`spectral_la.certify`), so a grid gap cannot hide an excursion.
    ``products``: matrix products per call on a wide X (k + 1 per step for degree 2k + 1).
    Rows are ranked by ℓ_eff(τ*) at equal products first.
    """
    middle = taus[len(taus) // 2]
    rows = []
    for name in names or list(sl.schedules):
        ells = effective_ells(name, taus, points=points, lowest=lowest)
        row = {"schedule": name, "products": sl.schedules[name].products()}
        row |= {f"ell_eff(τ={tau:g})": ell for tau, ell in zip(taus, ells, strict=True)}
        ell_mid = row[f"ell_eff(τ={middle:g})"]
        # certified ≤ τ·(1 + 1e-3): ball arithmetic confirms the grid missed no excursion (the bound itself
        # is τ by construction, so the table shows the confirmation, not the number)
        row[f"certified_within_τ={middle:g}"] = (
            "" if np.isnan(ell_mid) else bool(certify(name, interval=(ell_mid, 1.0)).upper <= middle * (1 + 1e-3))
        )
        rows.append(row)
    key = f"ell_eff(τ={middle:g})"
    return sorted(rows, key=lambda r: (r["products"], np.isnan(r[key]), r[key]))
