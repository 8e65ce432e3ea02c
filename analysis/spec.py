"""The method vocabulary: one frozen, validated spec type whose string form round-trips.

Grammar (fields separated by ``:``; ``[...]`` optional)::

    ns:<schedule>[:<steps>]            Newton–Schulz with a registered schedule
    gram_ns:<schedule>[:<steps>]       Gram Newton–Schulz
    soften:<s>:<schedule>[:<steps>]    Soft-Muon blend, s ∈ [0, 1]
    muon_p:<p>                         published bivariate Muon^p recurrence, p ∈ (0, 1) as "1/3" or 0.333…
    muon_p_coupled:<p>                 Muon^p by the coupled route
    polar | polar_qdwh | msign         exact references
    fractional_power:<p>               exact U Σ^p Vᵀ, p ∈ [0, 1]

``parse(str(spec)) == spec`` for every valid spec; a bad one raises ``ValueError`` naming the
spec and the field. Used by the analysis layer (``analysis.methods.method``), the sweeps and
the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from spectral_la.schedules import schedules
from spectral_la.validation import MAX_STEPS

__all__ = ["KINDS", "MethodSpec", "parse"]

#: kind → its fields after the kind, in order (a trailing "steps" is optional).
KINDS = {
    "ns": ("schedule", "steps"),
    "gram_ns": ("schedule", "steps"),
    "soften": ("s", "schedule", "steps"),
    "muon_p": ("p",),
    "muon_p_coupled": ("p",),
    "polar": (),
    "polar_qdwh": (),
    "msign": (),
    "fractional_power": ("p",),
}


@dataclass(frozen=True)
class MethodSpec:
    kind: str
    schedule: str | None = None
    steps: int | None = None
    s: float | None = None
    p: Fraction | None = None

    def __str__(self) -> str:
        parts = [self.kind]
        for name in KINDS[self.kind]:
            value = getattr(self, name)
            if value is None:
                continue
            parts.append(str(value) if name != "s" else repr(value))
        return ":".join(parts)


def _field_error(text: str, field: str, why: str) -> ValueError:
    return ValueError(f"method spec {text!r}: {field} {why}")


def parse(text: str | MethodSpec) -> MethodSpec:
    """The :class:`MethodSpec` of ``text`` (module docstring), validated field by field."""
    if isinstance(text, MethodSpec):
        return text
    if not isinstance(text, str):
        raise TypeError(f"a method spec must be a string, got {type(text).__name__}")
    kind, *args = text.split(":")
    if kind not in KINDS:
        raise ValueError(f"method spec {text!r}: unknown kind {kind!r}; kinds: {sorted(KINDS)}")
    fields = KINDS[kind]
    optional = 1 if fields and fields[-1] == "steps" else 0
    if not len(fields) - optional <= len(args) <= len(fields):
        expected = ":".join([kind, *(f"<{f}>" for f in fields)])
        raise ValueError(f"method spec {text!r}: expected {expected} ({len(args)} fields given)")
    values: dict = {}
    for name, raw in zip(fields, args, strict=False):
        values[name] = _parse_field(text, name, raw)
    return MethodSpec(kind=kind, **values)


def _number(text: str, name: str, raw: str, convert, lo, hi, what: str):
    try:
        value = convert(raw)
    except (ValueError, ZeroDivisionError):
        raise _field_error(text, name, f"must be {what}, got {raw!r}") from None
    if not lo <= value <= hi:
        raise _field_error(text, name, f"must lie in [{lo}, {hi}], got {raw}")
    return value


def _parse_field(text: str, name: str, raw: str):
    match name:
        case "schedule":
            if raw not in schedules:
                raise _field_error(text, "schedule", f"{raw!r} is not registered; registered: {sorted(schedules)}")
            return raw
        case "steps":
            return _number(text, "steps", raw, int, 0, MAX_STEPS, "an int")
        case "s":
            return _number(text, "s", raw, float, 0, 1, "a number")
        case "p":
            return _number(text, "p", raw, Fraction, 0, 1, "a fraction or a number")
    raise AssertionError(name)
