"""Minimax schedule design (Polar Express construction), with targets beyond the sign.

**Sign target, greedy (Amsel, Persson, Musco & Gower 2025, arXiv 2505.16932,
§4 and Algorithm 2).** Start from [ℓ₀, u₀] = [ℓ, 1]. At step k take the odd
polynomial of the given degree minimising max|1 − p| on
[max(ℓ_k, cushion·u_k), u_k] (:func:`spectral_la.remez.remez_odd`), rescale it
by s = 2/(min p + max p) over [ℓ_k, u_k] so that the image is centred on 1,
and set ℓ_{k+1} = s·min p, u_{k+1} = s·max p = 2 − ℓ_{k+1}. The composition is
optimal among compositions of such polynomials (their Thm 4.1); its worst
error on [ℓ, 1] is 1 − ℓ_T. The cushion (default 0.02407327424182761, the
paper's) keeps early polynomials from growing too steep. Once ℓ_k/u_k ≥ 1 −
5e-6 the Remez system is ill-conditioned and the optimum is numerically the
Padé (Newton–Schulz) polynomial x·Σ_j C(2j, j)/4^j (1 − x²)^j on x/u_k, used
there instead. Finally the safety factor s_f maps each row to p(x/s_f), except
optionally the last (the paper uses 1.01 for bf16).

**Other targets.** Targets that are not idempotent (softened
(1 − s) + sσ, fractional σ^p) cannot be approached by a greedy composition:
the composition of good single-step approximations of t is an approximation
of t∘t∘…, not of t. For them ``steps=1`` gives the minimax odd polynomial of
the degree (Remez), and ``steps > 1`` fits the whole composition by
minimising the max error on a log grid (scipy, a local optimum from a
single-step start: a heuristic whose result is then *certified* like any
schedule). The Muon^p paper (Dong & Sawin, arXiv 2606.13867) proves that
no fixed univariate odd polynomial *iteration* converges to σ^p, so a fixed
composition for σ^p has an error floor that more steps do not remove near
σ → 0 (σ^p has infinite slope at 0, every odd polynomial has finite slope).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mpmath

from spectral_la.normalization import Normalization
from spectral_la.odd_polynomials import compose, critical_points, odd_polynomial
from spectral_la.remez import remez_odd
from spectral_la.schedules import Schedule, with_safety
from spectral_la.targets import Target, target
from spectral_la.validation import check_in_range, check_int

__all__ = ["DesignResult", "design_schedule", "pade_row"]

#: Bounds of :func:`design_schedule`: the Remez exchange at 50 digits loses alternation beyond
#: degree ~21–31 on the narrow late-step intervals (an ArithmeticError then), and no schedule
#: in use has more than ~10 steps.
MAX_DESIGN_DEGREE = 31
MAX_DESIGN_STEPS = 100

#: The Polar Express cushion (arXiv 2505.16932, released design script).
PE_CUSHION = 0.02407327424182761


def pade_row(degree: int) -> tuple:
    """Coefficients of the degree-(2k+1) Padé sign iteration x·Σ_{j≤k} C(2j, j)/4^j (1 − x²)^j."""
    k = (degree - 1) // 2
    coeffs = [mpmath.mpf(0)] * (k + 1)
    for j in range(k + 1):
        w = mpmath.binomial(2 * j, j) / mpmath.mpf(4) ** j
        for i in range(j + 1):  # (1 − x²)^j = Σ_i C(j, i)(−x²)^i
            coeffs[i] += w * mpmath.binomial(j, i) * (-1) ** i
    return tuple(coeffs)


def _extremes(coeffs, lo, hi) -> tuple:
    """min and max of the odd polynomial on [lo, hi] (end points and critical points inside)."""
    xs = [lo, hi] + [x for x, _ in critical_points(coeffs, dps=mpmath.mp.dps + 20) if lo < x < hi]
    vals = [odd_polynomial(coeffs, x) for x in xs]
    return min(vals), max(vals)


@dataclass(frozen=True)
class DesignResult:
    schedule: Schedule
    intervals: tuple  # (ℓ_k, u_k) before each step and after the last (sign target), mpf
    worst_error: Any  # sign: 1 − ℓ_T of the unscaled design; others: grid estimate
    rows_exact: tuple  # mpf rows before post-hoc safety scaling (with it where it is in the recurrence)


def _greedy_sign(degree, steps, ell, cushion, pade_threshold, recurrence_safety=None, exempt_last=True):
    """Greedy rows; with ``recurrence_safety`` s each row becomes p(x/s) *before* the next interval is formed."""
    lo_k, hi_k = mpmath.mpf(ell), mpmath.mpf(1)
    one, zero = target("sign").value, target("sign").derivative
    rows, intervals = [], [(lo_k, hi_k)]
    for k in range(steps):
        if lo_k / hi_k >= 1 - mpmath.mpf(pade_threshold):
            base = pade_row(degree)
            coeffs = tuple(c / hi_k ** (2 * j + 1) for j, c in enumerate(base))
        else:
            coeffs = remez_odd(one, zero, degree, max(lo_k, mpmath.mpf(cushion) * hi_k), hi_k).coefficients
        p_min, p_max = _extremes(coeffs, lo_k, hi_k)
        s = 2 / (p_min + p_max)
        row = tuple(s * c for c in coeffs)
        if recurrence_safety is None or (exempt_last and k == steps - 1):
            lo_k, hi_k = s * p_min, s * p_max
        else:
            sf = mpmath.mpf(recurrence_safety)
            row = tuple(c / sf ** (2 * j + 1) for j, c in enumerate(row))
            # the next interval is the image under the *safe* row: its minimum, and 2 − min, an upper
            # bound of its maximum (p(x/s) ≤ max p = 2 − s·p_min ≤ 2 − min p(x/s) on [ℓ_k, u_k])
            lo_k = _extremes(row, lo_k, hi_k)[0]
            hi_k = 2 - lo_k
        rows.append(row)
        intervals.append((lo_k, hi_k))
    return rows, intervals, max(1 - lo_k, hi_k - 1)


def _fit_composition(tgt: Target, degree, steps, ell, grid: int = 400):
    """Single-step Remez start, then minimise the max error of the T-step composition (float64)."""
    import numpy as np
    from scipy.optimize import minimize

    first = remez_odd(tgt.value, tgt.derivative, degree, mpmath.mpf(ell), mpmath.mpf(1)).coefficients
    if steps == 1:
        return [first]
    xs = np.geomspace(ell, 1.0, grid)
    ts = np.array([float(tgt.value(mpmath.mpf(x))) for x in xs])
    k1 = len(first)
    identity = [1.0] + [0.0] * (k1 - 1)
    start = np.array([float(c) for c in first] + identity * (steps - 1))

    def compose(theta):
        y = xs
        for k in range(steps):
            c = theta[k * k1 : (k + 1) * k1]
            y = y * np.polyval(c[::-1], y * y)
        return y

    def loss(theta, beta):
        e = np.abs(compose(theta) - ts)
        m = e.max()
        return m + np.log(np.exp(beta * (e - m)).sum()) / beta  # smooth max

    theta = start
    for beta in (50.0, 500.0, 5000.0):
        theta = minimize(
            loss,
            theta,
            args=(beta,),
            method="Nelder-Mead" if theta.size <= 4 else "Powell",
            options={"maxiter": 20000, "xtol": 1e-12, "ftol": 1e-14},
        ).x
    return [tuple(mpmath.mpf(float(v)) for v in theta[k * k1 : (k + 1) * k1]) for k in range(steps)]


def design_schedule(
    degree: int = 5,
    steps: int = 5,
    ell: float = 1e-3,
    *,
    target_map: str | Target = "sign",
    safety: float = 1.0,
    exempt_last: bool = True,
    safety_in_recurrence: bool = False,
    normalization: str = "scale_safe",
    cushion: float = PE_CUSHION,
    pade_threshold: float = 5e-6,
    name: str | None = None,
    dps: int = 50,
) -> DesignResult:
    """Design a per-step odd-polynomial schedule for [ℓ, 1] (module docstring).

    Parameters
    ----------
    degree : odd int ≥ 3
    steps : int ≥ 1
    ell : float in (0, 1)
        Lower end of the design interval (normalised singular values).
    target_map : "sign", "soft:<s>", "power:<p>" or Target
    safety : float ≥ 1
        Rows become p(x/safety); the last is exempt if ``exempt_last``.
    safety_in_recurrence : bool
        Sign target only. False (the paper's Algorithm 1): design for [ℓ, 1] in
        exact arithmetic, then scale every row. True (the released construction
        behind modded-nanogpt's and microsoft/dion's ``polar_express``): each
        row is scaled before the next interval is formed, so the later rows are
        designed for the lower bound the *safe* rows actually reach. With
        ``cushion=0.02, safety=1.02`` it reproduces that table
        (:data:`spectral_la.schedules` ``"polar_express_modded"``).
    normalization : "scale_safe" or "aol"
        How the schedule scales X before its first step (:class:`Normalization`,
        eps = 0, scale = ``safety``): X/(s‖X‖_F), or the AOL rescaling D X/s,
        which guarantees σ₁ ≤ 1/s and lifts σ_min (the design interval [ℓ, 1]
        then refers to the AOL-scaled singular values).
    cushion, pade_threshold
        Polar Express construction details (sign target only).
    name : str, optional
        Name of the returned Schedule (default derived from the parameters).
    dps : int
        mpmath working precision of the design.

    Returns
    -------
    DesignResult(schedule, intervals, worst_error, rows_exact)

    Examples
    --------
    The first Polar Express row (arXiv 2505.16932, Algorithm 1: 8.28721201814563,
    −23.595886519098837, 17.300387312530933):

    >>> res = design_schedule(5, 1, 1e-3)
    >>> [round(float(c), 9) for c in res.rows_exact[0]]
    [8.287212018, -23.595886519, 17.300387313]
    """
    degree = check_int(degree, "degree", 3, MAX_DESIGN_DEGREE)
    if degree % 2 == 0:
        raise ValueError(f"degree must be odd (an odd polynomial), got {degree}")
    steps = check_int(steps, "steps", 1, MAX_DESIGN_STEPS)
    dps = check_int(dps, "dps", 15, 2000)
    ell = float(check_in_range(ell, "ell", 0, 1, lo_open=True, hi_open=True))
    safety = float(check_in_range(safety, "safety", 1, 100))  # p(x/safety) for safety ≫ 1 loses every digit
    cushion = float(check_in_range(cushion, "cushion", 0, 1, hi_open=True))
    if normalization not in ("scale_safe", "aol"):
        raise ValueError(f"normalization must be 'scale_safe' or 'aol', got {normalization!r}")
    tgt = target(target_map)
    with mpmath.workdps(dps):
        if safety_in_recurrence and tgt.name != "sign":
            raise ValueError(f"safety_in_recurrence applies to the sign target, not {tgt.name!r}")
        if tgt.name == "sign":
            in_rec = safety if safety_in_recurrence else None
            rows, intervals, worst = _greedy_sign(degree, steps, ell, cushion, pade_threshold, in_rec, exempt_last)
        else:
            rows = _fit_composition(tgt, degree, steps, ell)
            intervals = ((mpmath.mpf(ell), mpmath.mpf(1)),)
            xs = [mpmath.mpf(ell) * (1 / mpmath.mpf(ell)) ** (mpmath.mpf(i) / 2000) for i in range(2001)]
            worst = max(abs(compose(rows, x) - tgt.value(x)) for x in xs)
        post_safety = 1.0 if safety_in_recurrence else safety  # in the recurrence: already in the rows
        effective = with_safety([[float(c) for c in r] for r in rows], post_safety, exempt_last=exempt_last)
    sched = Schedule(
        name=name
        or f"designed_d{degree}_t{steps}_l{ell:g}_{tgt.name}_s{safety:g}{'r' if safety_in_recurrence else ''}"
        + ("_aol" if normalization == "aol" else ""),
        rows=effective,
        steps=steps,
        repeat_last=tgt.name == "sign",
        interval=(float(ell), 1.0),
        normalization=Normalization(kind=normalization, scale=safety, eps=0.0, before_cast=True),
        target=tgt.name,
        safety=safety,
        source=f"spectral_la.design_schedule(degree={degree}, steps={steps}, ell={ell:g}, target={tgt.name!r}, "
        f"safety={safety:g}{', in the recurrence' if safety_in_recurrence else ''}, cushion={cushion:g})",
    )
    return DesignResult(sched, tuple(intervals), worst, tuple(rows))
