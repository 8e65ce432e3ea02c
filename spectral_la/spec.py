"""Spec values: one frozen, validated value names every matrix map the toolkit runs.

The optimizer (``spectral_la.optim.Muon(orthogonalize=...)``), the analysis layer
(``analysis.methods.method``), every command of ``spectral-la`` and the report describe an
experiment with the same value, so a label means one experiment everywhere.

String grammar (fields separated by ``:``; ``[...]`` optional; options ``key=value`` last)::

    ns:<schedule>[:<steps>][:normalize=<norm>]
    gram_ns:<schedule>[:<steps>][:normalize=<norm>][:restart_after=<k>+<k>…|none]
    soften:<s>:<schedule>[:<steps>][:normalize=<norm>]
    muon_p:<p>[:<steps>]                      published bivariate recurrence (p = 1/2, 1/3, …)
    muon_p_coupled:<p>[:<steps>][:eps=<eps>]  coupled route, any p with (1 − p)/2 = k/r
    polar | polar_qdwh | polar_zolo | msign   exact references
    fractional_power:<p>                      exact U Σ^p Vᵀ

``<norm>`` is a normalisation kind (``frobenius``, ``frobenius_clamp``, ``spectral``,
``scale_safe``, ``aol``, ``none``) with optional ``/scale=…``, ``/eps=…``, ``/squarings=…``,
``/in_float64``, ``/before_cast``. A bare schedule name means ``ns:<name>``.

JSON form: ``spec.to_json()`` is a dict ``{"kind": …, field: value, …}`` in which a schedule
that is not the registered one of its name is embedded whole (the format of
:func:`spectral_la.save_schedule`), so a designed schedule travels with the spec. A designed
schedule file is itself a spec (``ns`` with that schedule). ``parse_spec(str(s)) == s`` for
every spec over registered schedules and ``parse_spec(s.to_json()) == s`` for every spec.

Every spec validates itself when built: an unknown, out-of-range or conflicting option
raises ``ValueError`` naming it; nothing is dropped. A spec runs on a matrix
(``spec(X, compute_dtype=..., check_finite=...)``), gives its scalar map on normalised
singular values (``spec.scalar_map``: the same iteration on 1 × 1 matrices for the iterative kinds;
the closed form for the exact maps and for the coupled Muon^p route, whose iteration converges to it), its target
(``spec.target``) and its exact counterpart (``spec.exact``), and says which normalised
singular values it maps correctly (``spec.stable_bound``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

from spectral_la.backend import sigma_batch
from spectral_la.errors import LinAlgError
from spectral_la.fractional_power import fractional_power, msign
from spectral_la.gram_newton_schulz import gram_newton_schulz
from spectral_la.muon_p import MUON_P_RECURRENCES, muon_p, muon_p_scalar_map
from spectral_la.newton_schulz import newton_schulz, scalar_map
from spectral_la.normalization import FROBENIUS_KINDS, SOURCE_FROBENIUS, Normalization, normalize, resolve_normalization
from spectral_la.polar import polar
from spectral_la.schedule_files import normalization_to_json, read_json, schedule_from_json, schedule_to_json
from spectral_la.schedules import Schedule, schedules
from spectral_la.soften import soften, soften_scalar_map, soften_target_map
from spectral_la.validation import MAX_STEPS, check_in_range, check_int, check_real

__all__ = [
    "FIELD_TEXT",
    "SPEC_CLASSES",
    "ExactSpec",
    "Grammar",
    "MuonPSpec",
    "NewtonSchulzSpec",
    "SoftenSpec",
    "Spec",
    "parse_spec",
    "spec_kinds",
]

_NORM_FIELDS = ("scale", "eps", "squarings")
_NORM_FLAGS = ("in_float64", "before_cast")


# --- shared pieces ------------------------------------------------------------------------


def _ones(sigma: Any) -> Any:
    ops, x, restore = sigma_batch(sigma)
    with ops.guard():
        return restore(x * 0 + 1)


def _power(sigma: Any, p: float) -> Any:
    ops, x, restore = sigma_batch(sigma)
    with ops.guard():
        return restore(ops.power(x, ops.scalar(p)))


def _check_steps(steps: Any, what: str, lo: int = 0) -> int | None:
    if steps is None:
        return None
    return check_int(steps, f"{what} steps", lo, MAX_STEPS)


def _resolve_schedule(schedule: Any, what: str) -> str | Schedule:
    """A registered name stays a name; a Schedule equal to the registered one of its name becomes the name."""
    if isinstance(schedule, Schedule):
        if schedule.name in schedules and schedules[schedule.name] == schedule:
            return schedule.name
        return schedule
    if isinstance(schedule, str):
        if schedule not in schedules:
            raise ValueError(
                f"{what}: schedule {schedule!r} is not registered; {_did_you_mean(schedule, list(schedules))}"
                f"registered schedules: {', '.join(sorted(schedules))}"
            )
        return schedule
    raise TypeError(f"{what}: schedule must be a registered name or a Schedule, got {type(schedule).__name__}")


def _did_you_mean(name: str, candidates: list[str]) -> str:
    """``did you mean 'a', 'b'? `` for the close candidates, else nothing."""
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    return f"did you mean {', '.join(map(repr, close))}? " if close else ""


def _resolve_normalize(normalize: Any, what: str) -> Normalization | None:
    if normalize is None or isinstance(normalize, Normalization):
        return normalize
    if isinstance(normalize, str):
        return _parse_norm(normalize, what)
    if isinstance(normalize, dict):
        try:
            return Normalization(**normalize)
        except TypeError as exc:
            raise ValueError(f"{what}: normalize {normalize!r}: {exc}") from None
    raise TypeError(f"{what}: normalize must be None, a kind name or a Normalization, got {type(normalize).__name__}")


def _parse_norm(text: str, what: str) -> Normalization:
    kind, *opts = text.split("/")
    kw: dict[str, Any] = {"kind": kind}
    for opt in opts:
        key, eq, raw = opt.partition("=")
        if key in kw:  # at the top level a repeated option is refused; so it is here
            raise ValueError(f"{what}: normalize option {key!r} given twice in {text!r}")
        if key in _NORM_FLAGS and not eq:
            kw[key] = True
        elif key in _NORM_FIELDS and eq:
            try:
                kw[key] = int(raw) if key == "squarings" else float(raw)
            except ValueError:
                raise ValueError(f"{what}: normalize option {key} must be a number, got {raw!r}") from None
        else:
            raise ValueError(
                f"{what}: unknown normalize option {opt!r}; options: "
                f"{', '.join(_NORM_FIELDS)}=…, {', '.join(_NORM_FLAGS)}"
            )
    try:
        return Normalization(**kw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: normalize {text!r}: {exc}") from None


def _norm_text(norm: Normalization) -> str:
    default = Normalization(kind=norm.kind)
    parts = [norm.kind]
    for key in _NORM_FIELDS:
        if getattr(norm, key) != getattr(default, key):
            parts.append(f"{key}={getattr(norm, key)!r}")
    parts += [key for key in _NORM_FLAGS if getattr(norm, key)]
    return "/".join(parts)


def _schedule_json(schedule: str | Schedule) -> Any:
    if isinstance(schedule, str):
        return schedule
    return schedule_to_json(schedule)


def _frobenius(norm: Normalization, what: str) -> Normalization:
    if norm.kind not in FROBENIUS_KINDS:
        raise ValueError(
            f"{what}: the normalised σ̂ of a {norm.kind!r} normalisation is not a function of σ and ‖X‖_F, "
            "so no scalar map of σ predicts its matrix result"
        )
    return norm


def _frobenius_sigma(norm: Normalization, sigma: Any, fro: Any) -> Any:
    """σ̂ = σ/(scale·‖X‖_F + eps), or σ/max(scale·‖X‖_F, eps) for the clamped kind."""
    if norm.kind == "frobenius_clamp":
        return sigma / (fro * norm.scale).clamp_min(norm.eps)
    return sigma / (fro * norm.scale + norm.eps)


# --- the spec family ------------------------------------------------------------------------


@dataclass(frozen=True)
class Grammar:
    """The string and JSON form of one kind of spec, declared on its class.

    ``kind:<positional[0]>:…[:option=value…]``: the first ``required`` positional fields must be
    given, the rest may be left off from the end; ``options`` are ``key=value`` fields after them.
    The JSON form has a field for each positional field and option. Field text is converted by
    the field's name (:data:`FIELD_TEXT`: ``steps`` an int, ``s`` a float, ``p`` a fraction,
    ``normalize`` a normalisation, …; any other name stays a string).
    """

    kind: str
    positional: tuple[str, ...] = ()
    required: int = 0
    options: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields of the JSON form (besides ``kind``)."""
        return self.positional + self.options

    @property
    def usage(self) -> str:
        """The grammar as text: ``ns:<schedule>[:<steps>]``."""
        names = self.positional
        required = ":".join([self.kind, *(f"<{n}>" for n in names[: self.required])])
        return (
            required + "".join(f"[:<{n}>]" for n in names[self.required :]) + "".join(f"[:{o}=…]" for o in self.options)
        )


#: kind → the class that builds it, filled as each :class:`Spec` subclass is defined (its ``GRAMMARS``).
SPEC_CLASSES: dict[str, type[Spec]] = {}


@dataclass(frozen=True)
class Spec:
    """Base of the spec values (module docstring).

    A subclass declares its kinds in ``GRAMMARS`` (one :class:`Grammar` each) and is registered
    when it is defined: parsing, printing (``str``) and the JSON form all follow from the grammar,
    and :meth:`from_fields` builds the value of a kind from its fields. A new kind of spec is one
    subclass and nothing else.
    """

    #: the string and JSON form of each kind the subclass stands for
    GRAMMARS: ClassVar[tuple[Grammar, ...]] = ()
    #: the kinds a subclass stands for (the first word of the string form), from ``GRAMMARS``
    KINDS: ClassVar[tuple[str, ...]] = ()
    #: whether the map is a matmul-only approximation (takes ``compute_dtype``)
    matmul_only: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.KINDS = tuple(g.kind for g in cls.GRAMMARS)
        for g in cls.GRAMMARS:
            if g.kind in SPEC_CLASSES and SPEC_CLASSES[g.kind] is not cls:
                raise ValueError(f"spec kind {g.kind!r} is already defined by {SPEC_CLASSES[g.kind].__name__}")
            SPEC_CLASSES[g.kind] = cls

    @classmethod
    def grammar(cls, kind: str) -> Grammar:
        """The :class:`Grammar` of one of the class's kinds."""
        for g in cls.GRAMMARS:
            if g.kind == kind:
                return g
        raise ValueError(f"{cls.__name__} has no kind {kind!r}; its kinds: {', '.join(cls.KINDS)}")

    @classmethod
    def from_fields(cls, kind: str, values: dict[str, Any]) -> Spec:
        """The spec of ``kind`` from its fields (already converted); a subclass with several kinds overrides."""
        return cls(**values)

    @classmethod
    def option_hints(cls, kind: str, unknown: list[str], options: dict[str, str], positional: list[str]) -> list[str]:
        """Hints for options a kind does not take (a working spelling); none by default."""
        return []

    @property
    def kind(self) -> str:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def _is_default(self, name: str) -> bool:
        field = {f.name: f for f in dataclasses.fields(self)}[name]
        return bool(getattr(self, name) == field.default)

    def __str__(self) -> str:
        """The string form: the kind, the positional fields given, the options not at their default."""
        g = self.grammar(self.kind)
        values = [getattr(self, n) for n in g.positional]
        while len(values) > g.required and values[-1] is None:
            values.pop()
        parts = [self.kind, *(_field_text(n, v) for n, v in zip(g.positional, values, strict=False))]
        parts += [f"{n}={_field_text(n, getattr(self, n))}" for n in g.options if not self._is_default(n)]
        return ":".join(parts)

    def __call__(self, X: Any, *, compute_dtype: Any = None, check_finite: bool = True) -> Any:
        """The matrix map on X (a torch tensor, NumPy array or mpmath matrix, batched)."""
        raise NotImplementedError

    def scalar_map(self, sigma_hat: Any, *, check_range: bool = True) -> Any:
        """f(σ̂) on normalised singular values, by the matrix code on 1 × 1 matrices.

        ``check_range``: raise :class:`~spectral_la.DivergedError` for σ̂ above :attr:`stable_bound`
        (only Muon^p's p = 1/2 recurrence has one below 1); False evaluates the map there as it is.
        """
        raise NotImplementedError

    @property
    def iteration_normalization(self) -> Normalization | None:
        """The Newton–Schulz normalisation the map applies (None: a fixed Frobenius one, or none)."""
        return None

    def target(self, sigma_hat: Any) -> Any:
        """The map the spec approximates, t(σ̂)."""
        return _ones(sigma_hat)

    def exact(self, X: Any, *, rtol: float | None = None) -> Any:
        """The exact counterpart on X (``rtol``: msign's numerical-rank threshold)."""
        return msign(X, rtol=rtol)

    def normalized_sigma(self, sigma: Any, fro: Any) -> Any:
        """σ̂ the iteration sees, from X's singular values σ and ‖X‖_F (σ itself for exact maps)."""
        return sigma

    @property
    def stable_bound(self) -> float:
        """The largest σ̂ the map is defined for (1.0: every normalised input)."""
        return 1.0

    @property
    def orthogonal_target(self) -> bool:
        """Whether the target is an orthogonal (partial) isometry: U Vᵀ or U_r V_rᵀ (t ≡ 1)."""
        return False

    @property
    def can_diverge(self) -> bool:
        """Whether a normalised input can leave the map's range (the optimizer then checks by default)."""
        return self.stable_bound < 1.0

    def to_json(self) -> dict:
        """The JSON object of the spec (module docstring): the required fields and those not at their default."""
        g = self.grammar(self.kind)
        out: dict[str, Any] = {"kind": self.kind}
        for i, name in enumerate(g.fields):
            value = getattr(self, name)
            if i >= g.required and self._is_default(name):
                continue
            if name == "schedule":
                value = _schedule_json(value)
            elif isinstance(value, Normalization):
                value = normalization_to_json(value)
            elif isinstance(value, Fraction):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out


@dataclass(frozen=True)
class NewtonSchulzSpec(Spec):
    """Newton–Schulz with a registered or designed schedule (``ns``), or its Gram form (``gram_ns``).

    ``normalize`` None uses the schedule's own; ``restart_after`` applies to the Gram form only
    (default ``(2,)`` as in Dao-AILab's implementation).
    """

    schedule: str | Schedule = "polar_express"
    steps: int | None = None
    normalize: Normalization | None = None
    gram: bool = False
    restart_after: tuple[int, ...] | None = None

    GRAMMARS: ClassVar[tuple[Grammar, ...]] = (
        Grammar("ns", ("schedule", "steps"), 1, ("normalize",)),
        Grammar("gram_ns", ("schedule", "steps"), 1, ("normalize", "restart_after")),
    )

    @classmethod
    def from_fields(cls, kind: str, values: dict[str, Any]) -> Spec:
        return cls(gram=kind == "gram_ns", **values)

    def __post_init__(self) -> None:
        what = f"spec {self.kind}"
        object.__setattr__(self, "schedule", _resolve_schedule(self.schedule, what))
        if not isinstance(self.gram, bool):
            raise TypeError(f"{what}: gram must be a bool, got {self.gram!r}")
        object.__setattr__(self, "normalize", _resolve_normalize(self.normalize, what))
        steps = _check_steps(self.steps, what)
        if steps is not None:
            self.resolved_schedule.coefficients(steps)  # more steps than rows raises here
        object.__setattr__(self, "steps", steps)
        if self.restart_after is not None:
            if not self.gram:
                raise ValueError(f"{what}: restart_after applies to the Gram form (gram_ns) only")
            if isinstance(self.restart_after, (str, bytes)) or not hasattr(self.restart_after, "__iter__"):
                raise TypeError(f"{what}: restart_after must be a sequence of step counts")
            ks = tuple(sorted({check_int(k, f"{what} restart_after entry", 1, MAX_STEPS) for k in self.restart_after}))
            object.__setattr__(self, "restart_after", ks)

    @property
    def kind(self) -> str:
        return "gram_ns" if self.gram else "ns"

    @property
    def orthogonal_target(self) -> bool:
        return self.resolved_schedule.target == "sign"

    @property
    def resolved_schedule(self) -> Schedule:
        return schedules.resolve(self.schedule)

    @property
    def schedule_name(self) -> str:
        return self.resolved_schedule.name

    @property
    def normalization(self) -> Normalization:
        return resolve_normalization(self.normalize, self.resolved_schedule.normalization)

    def __call__(self, X: Any, *, compute_dtype: Any = None, check_finite: bool = True) -> Any:
        kw = {"normalize": self.normalize, "compute_dtype": compute_dtype, "check_finite": check_finite}
        if self.gram:
            if self.restart_after is not None:
                kw["restart_after"] = self.restart_after
            return gram_newton_schulz(X, self.schedule, self.steps, **kw)
        return newton_schulz(X, self.schedule, self.steps, **kw)

    def scalar_map(self, sigma_hat: Any, *, check_range: bool = True) -> Any:
        return scalar_map(self.schedule, sigma_hat, self.steps)

    @property
    def iteration_normalization(self) -> Normalization:
        return self.normalization

    def normalized_sigma(self, sigma: Any, fro: Any) -> Any:
        return _frobenius_sigma(_frobenius(self.normalization, str(self)), sigma, fro)


@dataclass(frozen=True)
class SoftenSpec(Spec):
    """Soft-Muon blend (1 − s)·NS(X) + s·X/(‖X‖_F + 1e-7) with the inner Newton–Schulz of ``schedule``.

    σ̂ of this spec is σ/‖X‖_F (the blend's variable); the inner iteration applies its own scale.
    """

    s: float = 0.0
    schedule: str | Schedule = "polar_express"
    steps: int | None = None
    normalize: Normalization | None = None

    GRAMMARS: ClassVar[tuple[Grammar, ...]] = (Grammar("soften", ("s", "schedule", "steps"), 2, ("normalize",)),)

    def __post_init__(self) -> None:
        what = "spec soften"
        object.__setattr__(self, "s", float(check_in_range(self.s, f"{what} s", 0, 1)))
        object.__setattr__(self, "schedule", _resolve_schedule(self.schedule, what))
        object.__setattr__(self, "normalize", _resolve_normalize(self.normalize, what))
        steps = _check_steps(self.steps, what)
        if steps is not None:
            schedules.resolve(self.schedule).coefficients(steps)
        object.__setattr__(self, "steps", steps)

    @property
    def kind(self) -> str:
        return "soften"

    @property
    def inner(self) -> NewtonSchulzSpec:
        return NewtonSchulzSpec(self.schedule, self.steps, self.normalize)

    def __call__(self, X: Any, *, compute_dtype: Any = None, check_finite: bool = True) -> Any:
        return soften(
            X,
            self.s,
            self.schedule,
            self.steps,
            normalize=self.normalize,
            compute_dtype=compute_dtype,
            check_finite=check_finite,
        )

    @property
    def iteration_normalization(self) -> Normalization:
        return self.inner.normalization

    def scalar_map(self, sigma_hat: Any, *, check_range: bool = True) -> Any:
        sched = schedules.resolve(self.schedule)
        if self.normalize is not None:
            sched = dataclasses.replace(sched, normalization=_frobenius(self.normalize, str(self)))
        return soften_scalar_map(sched, sigma_hat, self.s, self.steps)

    def target(self, sigma_hat: Any) -> Any:
        return soften_target_map(sigma_hat, self.s)

    def exact(self, X: Any, *, rtol: float | None = None) -> Any:
        """(1 − s)·U_rV_rᵀ + s·X/(‖X‖_F + 1e-7): the blend with the exact limit."""
        return msign(X, rtol=rtol) * (1 - self.s) + normalize(X, SOURCE_FROBENIUS) * self.s

    def normalized_sigma(self, sigma: Any, fro: Any) -> Any:
        _frobenius(self.inner.normalization, str(self))
        return _frobenius_sigma(SOURCE_FROBENIUS, sigma, fro)


@dataclass(frozen=True)
class MuonPSpec(Spec):
    """Muon^p, U Σ̂^p Vᵀ of X₀ = X/(‖X‖_F + 1e-7): the published bivariate recurrence or the coupled route."""

    p: Fraction = Fraction(1, 2)
    method: str = "bivariate"
    steps: int | None = None
    eps: float = 0.0

    GRAMMARS: ClassVar[tuple[Grammar, ...]] = (
        Grammar("muon_p", ("p", "steps"), 1),
        Grammar("muon_p_coupled", ("p", "steps"), 1, ("eps",)),
    )

    @classmethod
    def from_fields(cls, kind: str, values: dict[str, Any]) -> Spec:
        return cls(method="coupled" if kind == "muon_p_coupled" else "bivariate", **values)

    @classmethod
    def option_hints(cls, kind: str, unknown: list[str], options: dict[str, str], positional: list[str]) -> list[str]:
        """``method=coupled`` is the kind ``muon_p_coupled``: say so in the spec grammar."""
        spelled = {"coupled": "muon_p_coupled", "bivariate": "muon_p"}.get(options.get("method", ""))
        if "method" in unknown and spelled is not None:
            return [f"method={options['method']} is the kind {spelled}: write {':'.join([spelled, *positional])}"]
        return []

    def __post_init__(self) -> None:
        what = f"spec {self.kind if self.method in ('bivariate', 'coupled') else 'muon_p'}"
        if self.method not in ("bivariate", "coupled"):
            raise ValueError(f"{what}: method must be 'bivariate' or 'coupled', got {self.method!r}")
        p = self.p
        if isinstance(p, str):
            try:
                p = Fraction(p)
            except (ValueError, ZeroDivisionError):
                raise ValueError(f"{what}: p must be a fraction or a number, got {self.p!r}") from None
        check_in_range(p, f"{what} p", 0, 1, lo_open=True, hi_open=True)
        frac = Fraction(p).limit_denominator(64) if isinstance(p, float) else Fraction(p)
        if isinstance(p, float) and abs(float(frac) - p) > 1e-12:
            frac = Fraction(p)
        object.__setattr__(self, "p", frac)
        object.__setattr__(self, "steps", _check_steps(self.steps, what, lo=1))
        eps = float(check_real(self.eps, f"{what} eps"))
        if not (math.isfinite(eps) and eps >= 0):
            raise ValueError(f"{what}: eps must be finite and ≥ 0, got {self.eps}")
        object.__setattr__(self, "eps", eps)
        if self.method == "bivariate":
            if eps:
                raise ValueError(f"{what}: eps applies to the coupled route (muon_p_coupled) only")
            if frac not in MUON_P_RECURRENCES:
                raise ValueError(
                    f"{what}: p = {frac} has no published bivariate recurrence "
                    f"(supported: {', '.join(map(str, MUON_P_RECURRENCES))}); use muon_p_coupled:{frac}"
                )
        else:
            q = Fraction((1 - frac) / 2)
            if q.denominator > 64:
                raise ValueError(f"{what}: (1 − p)/2 = {q} needs a root of order > 64; choose p = 1 − 2k/r, r ≤ 64")

    @property
    def kind(self) -> str:
        return "muon_p_coupled" if self.method == "coupled" else "muon_p"

    @property
    def stable_bound(self) -> float:
        if self.method == "coupled":
            return 1.0
        return MUON_P_RECURRENCES[self.p].stable_bound

    def __call__(self, X: Any, *, compute_dtype: Any = None, check_finite: bool = True) -> Any:
        try:
            return muon_p(
                X,
                float(self.p),
                self.steps,
                method=self.method,
                eps=self.eps,
                compute_dtype=compute_dtype,
                check_finite=check_finite,
            )
        except LinAlgError as exc:  # say the remedy in the spec grammar the user wrote
            text = str(exc).replace("use method='coupled'", f"use the spec muon_p_coupled:{self.p}")
            text = text.replace(
                "pass eps > 0 or use method='bivariate'",
                f"write muon_p_coupled:{self.p}:eps=1e-6 (eps > 0) or muon_p:{self.p}",
            )
            raise type(exc)(text) from None

    def scalar_map(self, sigma_hat: Any, *, check_range: bool = True) -> Any:
        """The route's map; for the bivariate recurrence ``check_range`` raises above the stable bound.

        The bivariate recurrence's map is its own code on 1 × 1 matrices. The coupled route iterates
        to a tolerance, so its map is the closed form it converges to, σ̂ (σ̂² + ε)^{−(1−p)/2}
        (exactly σ̂^p for ε = 0), not a finite-step iteration.
        """
        if self.method == "bivariate":
            return muon_p_scalar_map(float(self.p), sigma_hat, self.steps, check_range=check_range)
        ops, x, restore = sigma_batch(sigma_hat)  # σ̂ (σ̂² + ε)^{−(1−p)/2}
        with ops.guard():
            return restore(x * ops.power(x * x + ops.scalar(self.eps), ops.scalar((float(self.p) - 1) / 2)))

    def target(self, sigma_hat: Any) -> Any:
        return _power(sigma_hat, float(self.p))

    def exact(self, X: Any, *, rtol: float | None = None) -> Any:
        """U Σ̂^p Vᵀ of X₀ = X/(‖X‖_F + 1e-7), Muon^p's own normalisation."""
        return fractional_power(normalize(X, SOURCE_FROBENIUS), float(self.p), rtol=rtol)

    def normalized_sigma(self, sigma: Any, fro: Any) -> Any:
        return _frobenius_sigma(SOURCE_FROBENIUS, sigma, fro)


@dataclass(frozen=True)
class ExactSpec(Spec):
    """An exact reference: ``polar`` (SVD), ``polar_qdwh``, ``polar_zolo``, ``msign`` or ``fractional_power:<p>``."""

    name: str = "msign"
    p: Fraction | None = None

    GRAMMARS: ClassVar[tuple[Grammar, ...]] = (
        Grammar("polar"),
        Grammar("polar_qdwh"),
        Grammar("polar_zolo"),
        Grammar("msign"),
        Grammar("fractional_power", ("p",), 1),
    )
    matmul_only: ClassVar[bool] = False

    @classmethod
    def from_fields(cls, kind: str, values: dict[str, Any]) -> Spec:
        return cls(name=kind, **values)

    def __post_init__(self) -> None:
        if self.name not in self.KINDS:
            raise ValueError(f"spec: unknown exact map {self.name!r}; exact maps: {', '.join(self.KINDS)}")
        what = f"spec {self.name}"
        if self.name == "fractional_power":
            if self.p is None:
                raise ValueError(f"{what}: needs p (fractional_power:<p>)")
            p = Fraction(self.p) if not isinstance(self.p, float) else Fraction(self.p).limit_denominator(10**6)
            check_in_range(p, f"{what} p", 0, 1)
            object.__setattr__(self, "p", p)
        elif self.p is not None:
            raise ValueError(f"{what}: takes no p")

    @property
    def kind(self) -> str:
        return self.name

    @property
    def orthogonal_target(self) -> bool:
        return self.name != "fractional_power" or self.p == 0

    def __call__(self, X: Any, *, compute_dtype: Any = None, check_finite: bool = True) -> Any:
        if compute_dtype is not None:
            raise ValueError(f"spec {self}: an exact map takes no compute_dtype (it runs in X's precision)")
        if self.name == "fractional_power":
            return fractional_power(X, self._p())
        if self.name == "msign":
            return msign(X)
        return polar(X, {"polar_qdwh": "qdwh", "polar_zolo": "zolo"}.get(self.name, "svd"))

    def _p(self) -> float:
        if self.p is None:
            raise AssertionError(f"{self.name} has no p")
        return float(self.p)

    def scalar_map(self, sigma_hat: Any, *, check_range: bool = True) -> Any:
        return self.target(sigma_hat)

    def target(self, sigma_hat: Any) -> Any:
        return _power(sigma_hat, float(self.p)) if self.p is not None else _ones(sigma_hat)

    def exact(self, X: Any, *, rtol: float | None = None) -> Any:
        if self.name == "fractional_power":
            return fractional_power(X, self._p(), rtol=rtol)
        if self.name == "msign":
            return msign(X, rtol=rtol)
        return polar(X)


# --- parsing ----------------------------------------------------------------------------------


def spec_kinds() -> list[str]:
    """Every kind of the string grammar."""
    return list(SPEC_CLASSES)


def parse_spec(value: Any) -> Spec:
    """The :class:`Spec` of a string, a JSON object (dict), a ``.json`` file path or a spec itself.

    A bare registered schedule name means ``ns:<name>``; a designed schedule file (written by
    :func:`spectral_la.save_schedule`) means ``ns`` with that schedule. An unknown name is
    answered with the closest schedule names and kinds.
    """
    if isinstance(value, Spec):
        return value
    if isinstance(value, Schedule):
        return NewtonSchulzSpec(value)
    if isinstance(value, dict):
        return _from_json(value, "spec")
    if isinstance(value, Path) or (isinstance(value, str) and value.endswith(".json")):
        return _from_file(Path(value))
    if not isinstance(value, str):
        raise TypeError(f"a spec must be a string, a JSON object or a Spec, got {type(value).__name__}")
    return _from_text(value)


def _from_file(path: Path) -> Spec:
    if not path.exists():
        raise ValueError(f"spec {str(path)!r}: no such file")
    data = read_json(path)  # refuses directories, pipes and devices, naming them
    if isinstance(data, dict) and "rows" in data:  # a designed schedule file
        sched = schedule_from_json(data, str(path))
        if sched.name in schedules and schedules[sched.name] != sched:
            raise ValueError(
                f"{path}: names its schedule {sched.name!r}, which is registered with other rows or settings; "
                "rename it in the file (field 'name') so its results are not labelled as the registered one"
            )
        return NewtonSchulzSpec(sched)
    return _from_json(data, str(path))


def _from_text(text: str) -> Spec:
    if not text:
        raise ValueError("a spec must not be empty")
    kind, *fields = text.split(":")
    if kind not in spec_kinds():
        if not fields and kind in schedules:
            return NewtonSchulzSpec(kind)
        hint = _did_you_mean(kind, list(schedules) + spec_kinds())
        raise ValueError(
            f"spec {text!r}: {kind!r} is neither a registered schedule nor a kind; {hint}"
            f"schedules: {', '.join(sorted(schedules))}; kinds: {', '.join(spec_kinds())}"
        )
    positional = [f for f in fields if "=" not in f]
    options = {}
    for f in fields:
        if "=" in f:
            key, _, raw = f.partition("=")
            if key in options:
                raise ValueError(f"spec {text!r}: option {key!r} given twice")
            options[key] = raw
    if fields and any("=" in f for f in fields[: len(positional)]):
        raise ValueError(f"spec {text!r}: options (key=value) come after the positional fields")
    try:
        return _build(kind, positional, options, text)
    except (TypeError, ValueError) as exc:
        msg = str(exc)
        raise ValueError(msg if msg.startswith(f"spec {text!r}") else f"spec {text!r}: {msg}") from None


def _number(raw: str, field: str, convert: Any, what: str) -> Any:
    try:
        return convert(raw)
    except (ValueError, ZeroDivisionError, OverflowError):
        raise ValueError(f"{field} must be {what}, got {raw!r}") from None


def _restart_after(raw: str) -> tuple[int, ...]:
    return () if raw == "none" else tuple(_number(k, "restart_after", int, "a step count") for k in raw.split("+"))


#: How a field's text becomes its value, by field name (a name not here stays a string).
FIELD_TEXT: dict[str, Any] = {
    "steps": lambda raw: _number(raw, "steps", int, "an int"),
    "s": lambda raw: _number(raw, "s", float, "a number"),
    "p": lambda raw: _number(raw, "p", Fraction, "a fraction or a number"),
    "eps": lambda raw: _number(raw, "eps", float, "a number"),
    "restart_after": _restart_after,
}


def _field_text(name: str, value: Any) -> str:
    """The text of a field's value in the string form (the inverse of :data:`FIELD_TEXT`)."""
    if name == "schedule":
        return schedules.resolve(value).name
    if isinstance(value, Normalization):
        return _norm_text(value)
    if name == "restart_after":
        return "+".join(map(str, value)) or "none"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _build(kind: str, positional: list[str], options: dict[str, str], text: str) -> Spec:
    cls = SPEC_CLASSES[kind]
    g = cls.grammar(kind)
    if not g.required <= len(positional) <= len(g.positional):
        raise ValueError(f"expected {g.usage} ({len(positional)} fields given)")
    unknown = sorted(set(options) - set(g.options))
    if unknown:
        allowed = ", ".join(g.options) or "none"
        hints = [f"{u} is positional: {g.usage}" for u in unknown if u in g.positional]
        hints += cls.option_hints(kind, unknown, options, positional)
        hint = "; " + "; ".join(hints) if hints else ""
        raise ValueError(f"unknown option(s) {unknown} for {kind}; options: {allowed}; grammar {g.usage}{hint}")
    values: dict[str, Any] = {}
    for name, raw in [*zip(g.positional, positional, strict=False), *options.items()]:
        if name == "normalize":
            values[name] = _parse_norm(raw, f"spec {text!r}")
        else:
            values[name] = FIELD_TEXT.get(name, str)(raw)
    return cls.from_fields(kind, values)


def _from_json(data: Any, where: str) -> Spec:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: a spec must be a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in SPEC_CLASSES:
        raise ValueError(f"{where}: field 'kind' must be one of {', '.join(SPEC_CLASSES)}, got {kind!r}")
    cls = SPEC_CLASSES[kind]
    unknown = sorted(set(data) - {"kind", *cls.grammar(kind).fields})
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown} for kind {kind!r}")
    values = {k: v for k, v in data.items() if k != "kind"}
    try:
        if isinstance(values.get("schedule"), dict):
            values["schedule"] = schedule_from_json(values["schedule"], f"{where}: field 'schedule'")
        if isinstance(values.get("p"), str):
            values["p"] = _number(values["p"], "p", Fraction, "a fraction or a number")
        if isinstance(values.get("restart_after"), list):
            values["restart_after"] = tuple(values["restart_after"])
        for key in ("steps",):
            if key in values and (isinstance(values[key], bool) or not isinstance(values[key], int)):
                raise ValueError(f"field {key!r} must be an integer, got {values[key]!r}")
        return cls.from_fields(kind, values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None
