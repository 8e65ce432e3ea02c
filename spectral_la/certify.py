"""Certified worst-case error of a schedule's scalar map, by ball arithmetic (python-flint arb).

For f = p_T ∘ … ∘ p₁ (the schedule's rows, exact doubles) and a non-decreasing
target t on [ℓ, u], an upper bound of max_{σ∈[ℓ,u]} |f(σ) − t(σ)| that is
rigorous. On a box [a, b], f([a, b]) is enclosed by exact range propagation
(each p_k maps an interval onto the interval spanned by its values at the
end points and at its critical points inside; every value is an arb ball), so
sup |f − t| ≤ max(|f_lo − t(b)|, |f_hi − t(a)|). Branch and bound (Moore,
Kearfott & Cloud, *Introduction to Interval Analysis*, 2009, ch. 7), best
first: refine the box with the largest bound until it is within (1 + rtol) of
the point estimate (the max of |e| at the evaluated points, a lower bound of
the true max). So estimate ≤ max|e| ≤ upper always holds, and
upper ≤ estimate·(1 + rtol) unless the box budget ran out (``complete`` is
then False and upper, still rigorous, is looser).

``overshoot`` is the certified max of f on [u, (1 + δ)u]: how far singular
values slightly above the design range (rounding, a loose normalisation) are
pushed. Polar Express without its safety factor sends σ = 1.01 to ~1e95;
with it, to ≤ 1.124.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mpmath

try:  # python-flint is the `cert` extra: ball arithmetic for the rigorous bounds
    import flint
except ImportError:  # pragma: no cover - exercised only without the extra
    flint = None  # type: ignore[assignment]

from spectral_la.odd_polynomials import critical_points, odd_polynomial
from spectral_la.schedules import Schedule, schedules
from spectral_la.targets import Target, target
from spectral_la.validation import check_in_range, check_int, check_real

__all__ = ["CertifiedBound", "certify"]

_PREC = 128  # bits of the ball arithmetic


@dataclass(frozen=True)
class CertifiedBound:
    upper: float  # rigorous upper bound of max |f − t| on the interval (rounded up to a double)
    estimate: float  # max |f − t| at the evaluated points (a lower bound of the true max)
    at: float  # where the estimate is attained
    overshoot: float  # rigorous upper bound of max f on [u, (1 + δ)u]
    boxes: int  # boxes evaluated
    complete: bool  # False when the box budget ran out (upper is still rigorous, looser)


def _horner(row, x):
    """p(x) on an arb ball x (the one odd-polynomial evaluation, in ball arithmetic)."""
    return odd_polynomial([flint.arb(c) for c in row], x)


def _critical_points(row) -> list:
    """Balls around the real critical points ±x of p (:func:`critical_points`, radius covering its error)."""
    out = []
    for x, err in critical_points(row, dps=60):
        ball = flint.arb(mpmath.nstr(x, 50), float(err + mpmath.mpf(10) ** -35))
        out += [ball, -ball]
    return out


class _Map:
    """f = p_T ∘ … ∘ p₁ with exact range propagation over intervals.

    The image of an interval under a continuous p is the interval between the
    smallest and largest of p at the end points and at the critical points
    inside; composing images therefore encloses f([a, b]) without the wrapping
    of naive ball Horner (which pays Σ|c_j|(2j+1) per step and explodes over
    a few steps). Each value is an arb ball, so the enclosure is rigorous.
    """

    def __init__(self, rows) -> None:
        self.rows = rows
        self.crit = [_critical_points(r) for r in rows]

    def image(self, lo, hi):
        lo, hi = flint.arb(lo), flint.arb(hi)
        for row, crit in zip(self.rows, self.crit, strict=True):
            out = _horner(row, lo).union(_horner(row, hi))
            for c in crit:
                if c.upper() >= lo and c.lower() <= hi:
                    out = out.union(_horner(row, c))
            lo, hi = out.lower(), out.upper()
        return lo, hi

    def point(self, x):
        v = flint.arb(x)
        for row in self.rows:
            v = _horner(row, v)
        return v


def _target_range(tgt: Target, a: float, b: float):
    """Enclosure [t(a), t(b)] of a non-decreasing target on [a, b]."""
    return _target_ball(tgt, flint.arb(a)).lower(), _target_ball(tgt, flint.arb(b)).upper()


def _target_ball(tgt: Target, x: Any) -> Any:
    if tgt.name == "sign":
        return flint.arb(1)
    kind, _, arg = tgt.name.partition(":")
    v = flint.arb(arg)
    if kind == "soft":
        return 1 - v + v * x
    if kind == "power":
        return x**v
    raise ValueError(f"no ball evaluation for target {tgt.name!r}")


def _abs_upper(ball: Any) -> float:
    return float(max(abs(ball.lower()), abs(ball.upper())).upper())


#: Most box × step evaluations one certify call spends (about 20 µs each on a 2-core CPU: ≈ 10 s);
#: the refinement stops there (``complete`` False), and a start that alone exceeds it is refused.
MAX_WORK = 500_000


def certify(
    schedule: str | Schedule,
    steps: int | None = None,
    *,
    target_map: str | Target | None = None,
    interval: tuple[float, float] | None = None,
    rtol: float = 1e-3,
    initial_boxes: int = 256,
    max_boxes: int = 100_000,
    overshoot_delta: float = 0.01,
) -> CertifiedBound:
    """Certified max ``|f(σ) − t(σ)|`` over the interval (default: the schedule's design interval).

    Parameters
    ----------
    schedule : name or Schedule
    steps : int, optional
        Steps of the schedule (default: its own).
    target_map : "sign", "soft:<s>", "power:<p>" or Target; default the schedule's target.
    interval : (ℓ, u), optional
    rtol : float
        Stop refining a box once its bound is within (1 + rtol) of the estimate.
    initial_boxes, max_boxes : int
        Geometric start subdivision and the budget of evaluated boxes; the boxes times the steps
        are capped at :data:`MAX_WORK` (a bound on the time of one call: ≈ 10 s here).
    overshoot_delta : float
        Width of the overshoot interval [u, (1 + δ)u].

    Examples
    --------
    >>> b = certify("newton_schulz_quintic", 20)
    >>> b.estimate <= b.upper <= b.estimate * (1 + 1e-3) + 1e-300 and b.complete
    True
    """
    if flint is None:
        raise ImportError("certify needs python-flint (ball arithmetic): pip install 'spectral_la[cert]'")
    sched = schedules.resolve(schedule)
    rows = sched.coefficients(steps)
    tgt = target(target_map or sched.target)
    lo, hi = interval or sched.interval
    lo, hi = float(check_real(lo, "interval[0]")), float(check_real(hi, "interval[1]"))
    if not 0 < lo < hi:
        raise ValueError(f"interval must satisfy 0 < ℓ < u, got {(lo, hi)}")
    rtol = float(check_in_range(rtol, "rtol", 0, None, lo_open=True))
    initial_boxes = check_int(initial_boxes, "initial_boxes", 1, 10**6)
    max_boxes = check_int(max_boxes, "max_boxes", initial_boxes, 10**8)
    if initial_boxes * max(len(rows), 1) > MAX_WORK:
        raise ValueError(
            f"certify: {len(rows)} steps × {initial_boxes} initial boxes = {initial_boxes * len(rows)} step "
            f"evaluations, more than the {MAX_WORK} one call may spend (≈ 10 s); pass fewer initial_boxes or "
            "steps (past a few hundred steps the balls widen until the bound is inf anyway)"
        )
    max_boxes = min(max_boxes, max(initial_boxes, MAX_WORK // max(len(rows), 1)))  # the rest of the budget
    overshoot_delta = float(check_in_range(overshoot_delta, "overshoot_delta", 0, 1, lo_open=True))
    old_prec = flint.ctx.prec
    flint.ctx.prec = _PREC
    try:
        fmap = _Map(rows)
        upper, estimate, at, evaluated, complete = _branch_and_bound(fmap, tgt, lo, hi, rtol, initial_boxes, max_boxes)
        overshoot = float(fmap.image(hi, hi * (1 + overshoot_delta))[1].upper())
    finally:
        flint.ctx.prec = old_prec
    return CertifiedBound(upper, estimate, at, overshoot, evaluated, complete)


def _box_bound(fmap: _Map, tgt: Target, a: float, b: float) -> float:
    """Rigorous sup |f − t| on [a, b]: f's exact-range enclosure against t's range."""
    f_lo, f_hi = fmap.image(a, b)
    t_lo, t_hi = _target_range(tgt, a, b)
    return float(max(abs(f_lo - t_hi), abs(f_hi - t_lo)).upper())


def _branch_and_bound(fmap, tgt, lo, hi, rtol, initial_boxes, max_boxes):
    """Best-first: refine the box with the largest bound until it is within (1 + rtol) of the estimate."""
    import heapq

    def point(x):
        return _abs_upper(fmap.point(x) - _target_ball(tgt, flint.arb(x)))

    ratio = (hi / lo) ** (1 / initial_boxes)
    edges = [lo * ratio**i for i in range(initial_boxes)] + [hi]
    estimate, at = 0.0, lo
    heap: list[tuple[float, float, float]] = []
    for x in edges:
        v = point(x)
        if v > estimate:
            estimate, at = v, x
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        heapq.heappush(heap, (-_box_bound(fmap, tgt, a, b), a, b))
    evaluated = len(heap)
    while heap and -heap[0][0] > estimate * (1 + rtol) and evaluated < max_boxes:
        bound, a, b = heapq.heappop(heap)
        m = (a + b) / 2
        if not a < m < b:  # no double between the ends: this box cannot be refined
            heapq.heappush(heap, (bound, a, b))
            break
        v = point(m)
        if v > estimate:
            estimate, at = v, m
        for x0, x1 in ((a, m), (m, b)):
            heapq.heappush(heap, (-_box_bound(fmap, tgt, x0, x1), x0, x1))
        evaluated += 2
    upper = max(estimate, -heap[0][0] if heap else 0.0)
    return upper, estimate, at, evaluated, upper <= estimate * (1 + rtol)
