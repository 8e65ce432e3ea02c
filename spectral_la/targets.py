"""Target maps of schedules and designs: one vocabulary, parsed in one place.

A target is what a schedule approximates on its interval, t(σ) on normalised σ > 0:

* ``"sign"``: t = 1 (the polar factor; every Newton–Schulz schedule);
* ``"soft:<s>"`` (also ``"soften:<s>"``, the spec grammar's word): (1 − s) + sσ, s ∈ [0, 1];
* ``"power:<p>"``: σ^p, p ∈ (0, 1).

:func:`target` parses a name into a :class:`Target` (value and derivative as mpmath callables,
for Remez design and certification); :class:`spectral_la.Schedule` validates its ``target`` with
it, and :func:`spectral_la.design_schedule` and :func:`spectral_la.certify` evaluate it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mpmath

__all__ = ["Target", "target"]


@dataclass(frozen=True)
class Target:
    """A target map t(σ) on σ > 0 with its derivative, for Remez and certification."""

    name: str
    value: Any  # mpmath callable
    derivative: Any  # mpmath callable
    idempotent: bool  # t∘t = t: greedy composition applies (the sign)


def target(spec: str | Target) -> Target:
    """``"sign"``, ``"soft:s"`` or ``"soften:s"`` ((1 − s) + sσ) or ``"power:p"`` (σ^p), or a Target."""
    if isinstance(spec, Target):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"target must be 'sign', 'soft:<s>', 'power:<p>' or a Target, got {type(spec).__name__}")
    if spec == "sign":
        return Target("sign", lambda x: mpmath.mpf(1), lambda x: mpmath.mpf(0), True)
    kind, _, arg = spec.partition(":")
    if kind == "soften":  # the analysis layer's word for the same blend (one vocabulary)
        kind, spec = "soft", f"soft:{arg}"
    try:
        v = mpmath.mpf(arg)
    except (TypeError, ValueError):
        raise ValueError(f"target must be 'sign', 'soft:<s>' or 'power:<p>', got {spec!r}") from None
    if kind == "soft" and 0 <= v <= 1:
        return Target(spec, lambda x: 1 - v + v * x, lambda x: v, v == 0)
    if kind == "power" and 0 < v < 1:
        return Target(spec, lambda x: x**v, lambda x: v * x ** (v - 1), False)
    raise ValueError(f"target must be 'sign', 'soft:<s in [0,1]>' or 'power:<p in (0,1)>', got {spec!r}")
