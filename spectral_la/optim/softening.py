"""Soft-Muon's softening factor s as the optimizers take it: a constant, or a schedule s(t) over steps.

The softened update is lerp(O(X), X/(‖X‖_F + ε), s) (:func:`spectral_la.optim.functional.orthogonalizer`;
microsoft/dion PR #92). The proposal names "softening more later in training" as its natural
follow-up, so every optimizer of :mod:`spectral_la.optim` also takes s as a function of the step
t = 1, 2, …, written as a string that a param group and a state dict can hold:

* ``"0.3"`` or ``"constant:0.3"``: s(t) = 0.3;
* ``"linear:<s0>:<s1>:<T>"``: s(t) = s0 + (s1 − s0)·min(t − 1, T)/T (s0 at the first step, s1 from step T + 1);
* ``"cosine:<s0>:<s1>:<T>"``: s(t) = s0 + (s1 − s0)·(1 − cos(π·min(t − 1, T)/T))/2.

Every s(t) lies between s0 and s1, so a schedule is valid exactly when both ends lie in [0, 1].

Examples
--------
>>> schedule = parse_softening("linear:0:0.5:100")
>>> schedule(1), schedule(51), schedule(1000)
(0.0, 0.25, 0.5)
>>> str(schedule)
'linear:0:0.5:100'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from spectral_la.validation import check_in_range, check_int

__all__ = ["SOFTENING_KINDS", "SofteningSchedule", "parse_softening", "softening_at", "softening_value"]

SOFTENING_KINDS = ("constant", "linear", "cosine")


@dataclass(frozen=True)
class SofteningSchedule:
    """s(t) between ``start`` (t = 1) and ``end`` (t > ``steps``), of a kind in :data:`SOFTENING_KINDS`."""

    kind: str
    start: float
    end: float
    steps: int = 1

    def __post_init__(self) -> None:
        if self.kind not in SOFTENING_KINDS:
            raise ValueError(f"softening schedule kind must be one of {SOFTENING_KINDS}, got {self.kind!r}")
        check_in_range(self.start, "softening start", 0, 1)
        check_in_range(self.end, "softening end", 0, 1)
        check_int(self.steps, "softening steps", 1, None)

    def __call__(self, step: int) -> float:
        """s at optimizer step ``step`` (1-based)."""
        if self.kind == "constant":
            return float(self.start)
        frac = min(max(step - 1, 0), self.steps) / self.steps
        if self.kind == "cosine":
            frac = (1 - math.cos(math.pi * frac)) / 2
        return float(self.start + (self.end - self.start) * frac)

    def __str__(self) -> str:
        if self.kind == "constant":
            return f"constant:{self.start:g}"
        return f"{self.kind}:{self.start:g}:{self.end:g}:{self.steps}"


def parse_softening(value: Any, name: str = "softening") -> float | SofteningSchedule:
    """A float s in [0, 1] or a :class:`SofteningSchedule` from a number, a schedule or its string form."""
    if isinstance(value, SofteningSchedule):
        return value
    if isinstance(value, str):
        parts = value.strip().split(":")
        try:
            if len(parts) == 1:
                return float(check_in_range(float(parts[0]), name, 0, 1))
            if parts[0] == "constant" and len(parts) == 2:
                return SofteningSchedule("constant", float(parts[1]), float(parts[1]))
            if parts[0] in ("linear", "cosine") and len(parts) == 4:
                return SofteningSchedule(parts[0], float(parts[1]), float(parts[2]), int(parts[3]))
        except ValueError as exc:
            raise ValueError(f"{name}={value!r}: {exc}") from None
        raise ValueError(
            f"{name}={value!r} is not a softening: write s, 'constant:<s>', 'linear:<s0>:<s1>:<steps>' "
            "or 'cosine:<s0>:<s1>:<steps>'"
        )
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number in [0, 1] or a schedule, got {value!r}")
    return float(check_in_range(value, name, 0, 1))


def softening_at(value: Any, step: int) -> float:
    """s at ``step`` for a group's softening value (a float, a schedule or its string)."""
    s = parse_softening(value)
    return s(step) if isinstance(s, SofteningSchedule) else s


def softening_value(value: Any) -> float | str:
    """What a param group stores: the float, or the schedule's string (state dicts stay plain data)."""
    s = parse_softening(value)
    return str(s) if isinstance(s, SofteningSchedule) else s
