"""Choosing a schedule: every registered one ranked on one interval by a certified error, at equal cost.

* :func:`certified_ranking`: the certified worst |1 − f| on one [ℓ, 1] (ball arithmetic,
  :func:`spectral_la.certify`) at each schedule's own step count, the digits it buys per matrix
  product, and the same bound at an equal budget of products (each schedule run for as many steps
  as the budget pays for, where its rows allow it).
* :func:`aol_comparison`: the AOL-rescaled 4-step schedules (microsoft/dion's, Emerging-Optimizers'
  rows without the rescaling) against a Polar Express design for the AOL-scaled interval, on the same
  certified measure, and on captured momentum matrices against both polar(M) and polar(DM): AOL
  changes the polar factor it converges to.

Cost model: a row (c₀, …, c_k) costs k + 1 products on a wide X (A = XXᵀ, k − 1 Horner products,
the update S X), so degree 5 costs 3 and a cubic row 2 (:func:`spectral_la.newton_schulz`). The
products differ in size (XXᵀ and SX are m²n, the Horner ones m³), so "per product" is a count, not
a flop ratio.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

import spectral_la as sl
from spectral_la.certify import certify
from spectral_la.design import design_schedule
from spectral_la.validation import check_int

__all__ = ["aol_comparison", "certified_ranking", "products"]


def products(schedule: str | sl.Schedule, steps: int | None = None) -> int:
    """Matrix products of ``steps`` steps of a schedule (its name or itself): :meth:`Schedule.products`."""
    return sl.schedules.resolve(schedule).products(steps)


def _steps_for_budget(sched: sl.Schedule, budget: int) -> int | None:
    """The most steps whose products fit the budget, or None where the rows cannot be run that long."""
    steps, used = 0, 0
    while True:
        if steps >= len(sched.rows) and not (sched.repeat_last or sched.cycle):
            return steps or None
        cost = len(sched.row(steps))
        if used + cost > budget:
            return steps or None
        steps, used = steps + 1, used + cost


#: Largest budget of matrix products the ranking certifies (≤ 200 steps of the cheapest, cubic, rows:
#: each certification stays under certify's work bound, the whole ranking under a minute here).
MAX_BUDGET = 200


def certified_ranking(names=None, *, interval=(1e-3, 1.0), budget: int = 15) -> list[dict]:
    """One row per schedule, ranked by the certified error at the equal budget, then at its own cost.

    ``digits_per_product`` is −log₁₀(err)/products at the schedule's own steps (negative where the
    map leaves the band |1 − f| < 1 somewhere on the interval). ``steps_at_budget`` is empty where
    the schedule has fewer rows than the budget pays for and neither repeats nor cycles them; it may
    also use fewer products than the budget when a step does not fit.
    """
    budget = check_int(budget, "budget", 1, MAX_BUDGET)
    lo, hi = interval
    rows: list[dict[str, Any]] = []
    for entry in names or list(sl.schedules):
        sched = sl.schedules.resolve(entry)  # a registered name or a designed Schedule
        own = certify(sched, interval=(lo, hi)).upper
        at_budget = _steps_for_budget(sched, budget)
        eq = certify(sched, at_budget, interval=(lo, hi)).upper if at_budget else float("nan")
        used = products(sched, at_budget) if at_budget else ""
        cost = products(sched)
        rows.append(
            {
                "schedule": sched.name,
                "normalization": sched.normalization.kind,
                "degree": sched.degree,
                "steps": sched.steps,
                "products": cost,
                f"certified_err_on_[{lo:g},{hi:g}]": own,
                "digits_per_product": -math.log10(own) / cost if own > 0 else float("inf"),
                f"steps_at_{budget}_products": at_budget or "",
                "products_used": used,
                f"certified_err_at_{budget}_products": eq,
            }
        )
    key = f"certified_err_at_{budget}_products"
    own_key = f"certified_err_on_[{lo:g},{hi:g}]"
    rows.sort(key=lambda r: (math.isnan(r[key]), r[key], r[own_key]))
    return rows


def _polar(w: torch.Tensor) -> torch.Tensor:
    u, _, vh = torch.linalg.svd(w, full_matrices=False)
    return u @ vh


def aol_comparison(
    *,
    ells=(1e-3, 5e-3, 1e-2, 3e-2),
    steps: int = 4,
    matrices: dict | None = None,
    peers=("dion_aol", "eo_aol"),
) -> tuple[list[dict], list[dict]]:
    """(certified rows, captured-matrix rows) for the AOL schedules (module docstring).

    Certified: for each ℓ, the certified max |1 − f| on [ℓ, 1] of each peer and of
    ``design_schedule(5, steps, ℓ, normalization="aol")`` (same products as the peers).
    Captured: per momentum matrix M of ``matrices`` ({name: float64 matrix}, e.g.
    ``analysis.real_states.load_matrices()``; none: no captured rows), the AOL-scaled
    σ_min/σ₁ against Frobenius', and ‖Y − polar(M)‖_F/√r and ‖Y − polar(DM)‖_F/√r for each
    schedule Y (float64), with the design at the median over matrices of the 5% quantile of the
    AOL-scaled σ (the ℓ that leaves 5% of the directions below the design interval).
    """
    cert = []
    for ell in ells:
        designed = design_schedule(5, steps, ell, normalization="aol").schedule
        row = {"ell": ell, f"designed_aol_{steps}_steps": certify(designed, interval=(ell, 1.0)).upper}
        for peer in peers:
            row[peer] = certify(peer, interval=(ell, 1.0)).upper
        cert.append(row)

    if not matrices:
        return cert, []
    aol = sl.Normalization(kind="aol", eps=0.0)
    mats = {k: (m if m.shape[0] <= m.shape[1] else m.mT) for k, m in matrices.items()}
    q05 = float(np.median([float(torch.linalg.svdvals(sl.normalize(w, aol)).quantile(0.05)) for w in mats.values()]))
    designed = design_schedule(5, steps, q05, normalization="aol", name=f"designed_aol_l{q05:.3g}").schedule
    candidates = {name: name for name in (*peers, "polar_express", "dion_ns5")} | {designed.name: designed}
    matrix_rows = []
    for (name, step), w in sorted(mats.items()):
        r = min(w.shape)
        fro_s = torch.linalg.svdvals(sl.normalize(w, "scale_safe"))
        aol_s = torch.linalg.svdvals(sl.normalize(w, aol))
        target, target_aol = _polar(w), _polar(sl.normalize(w, aol))
        row = {
            "matrix": f"{name} @ {step}",
            "shape": "×".join(map(str, w.shape)),
            "q05_sigma_frobenius": float(fro_s.quantile(0.05)),
            "q05_sigma_aol": float(aol_s.quantile(0.05)),
            "polar(DM)_vs_polar(M)": float(torch.linalg.matrix_norm(target_aol - target)) / math.sqrt(r),
        }
        for label, sched in candidates.items():
            y = sl.newton_schulz(w, sched)
            row[f"{label}_vs_polar(M)"] = float(torch.linalg.matrix_norm(y - target)) / math.sqrt(r)
            if sl.schedules.resolve(sched).normalization.kind == "aol":
                row[f"{label}_vs_polar(DM)"] = float(torch.linalg.matrix_norm(y - target_aol)) / math.sqrt(r)
        matrix_rows.append(row)
    return cert, matrix_rows
