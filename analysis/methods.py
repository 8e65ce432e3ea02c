"""Named methods for the analysis layer: each with its matrix map, scalar map and exact target.

A method spec is a string:

``ns:<schedule>[:<steps>]``           Newton–Schulz with a registered schedule
``gram_ns:<schedule>[:<steps>]``      Gram Newton–Schulz
``soften:<s>:<schedule>[:<steps>]``   Soft-Muon blend
``muon_p:<p>``                        published bivariate Muon^p recurrence (p as "1/3" or 0.333…)
``muon_p_coupled:<p>``                Muon^p by the coupled route
``polar`` / ``polar_qdwh``            exact polar factor (SVD / QDWH): orthonormal on the whole space
``msign``                             exact U_r V_rᵀ (zero on the numerical null space)
``fractional_power:<p>``              exact U Σ^p Vᵀ

Every :class:`Method` knows (DESIGN.md, principle 2): how the input's singular
values σ become the normalised σ̂ the iteration sees (``normalise``), its
scalar map f(σ̂) computed by the same code as the matrix map (``scalar``),
and its target map t(σ̂) (``target``), so prediction, target and measured
response can sit side by side.

Which exact map: the matmul-only iterations are odd polynomials, which map
σ = 0 to 0, so they approach :func:`spectral_la.msign` (U_r V_rᵀ), not a polar
factor; their ``exact`` is msign (the two agree on full-rank input). The
``polar`` specs compare against the polar factor itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import torch

import spectral_la as sl
from spectral_la.schedules import FROBENIUS_KINDS

__all__ = ["Method", "method"]


@dataclass(frozen=True)
class Method:
    name: str
    apply: Callable[..., Any]  # (X, **kw) -> F(X); kw: compute_dtype for matmul-only methods
    scalar: Callable[[Any], Any]  # f(σ̂): float64 tensor, or list of mpmath numbers
    target: Callable[[Any], Any]  # t(σ̂), same kinds
    normalise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (σ, ‖X‖_F) -> σ̂
    exact: Callable[..., Any]  # exact counterpart (torch or mpmath); ``rtol=`` sets msign's numerical rank
    matmul_only: bool


def _ones(s: Any) -> Any:
    import mpmath

    return torch.ones_like(s) if isinstance(s, torch.Tensor) else [mpmath.mpf(1)] * len(s)


def _elementwise(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Lift a scalar formula to a float64 tensor or a list of mpmath numbers."""
    return lambda s: fn(s) if isinstance(s, torch.Tensor) else [fn(v) for v in s]


def _fro_normaliser(scale: float, eps: float):
    return lambda sigma, fro: sigma / (scale * fro + eps)


def _identity(sigma, fro):
    return sigma


def _frobenius_schedule(schedule: str) -> sl.Schedule:
    """The registered schedule, which must normalise by ‖X‖_F (σ̂ is then a function of σ and ‖X‖_F)."""
    sched = sl.schedules[schedule]
    if sched.normalization.kind not in FROBENIUS_KINDS:
        raise ValueError(
            f"analysis methods need a Frobenius-normalised schedule, {schedule!r} is {sched.normalization.kind}"
        )
    return sched


def _ns_method(name: str, schedule: str, steps: int | None, gram: bool) -> Method:
    norm = _frobenius_schedule(schedule).normalization
    run = sl.gram_newton_schulz if gram else sl.newton_schulz
    normalise = _fro_normaliser(norm.scale, norm.eps)

    return Method(
        name=name,
        apply=lambda x, **kw: run(x, schedule, steps, **kw),
        scalar=lambda s: sl.scalar_map(schedule, s, steps),
        target=_ones,
        normalise=normalise,
        exact=_msign,  # the iterations' limit: zero on the null space (module docstring)
        matmul_only=True,
    )


def _as_p(text: str) -> float:
    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"cannot read p from {text!r}") from None


def method(spec: str | Method) -> Method:
    """Parse a method spec (module docstring) into a :class:`Method`."""
    if isinstance(spec, Method):
        return spec
    kind, *args = spec.split(":")
    match kind, args:
        case (("ns" | "gram_ns"), [schedule, *rest]):
            steps = int(rest[0]) if rest else None
            return _ns_method(spec, schedule, steps, gram=kind == "gram_ns")
        case "soften", [s_text, schedule, *rest]:
            s = float(s_text)
            steps = int(rest[0]) if rest else None
            _frobenius_schedule(schedule)
            # σ̂ is σ/‖X‖_F (the blend's variable); soften_scalar_map applies the NS scale itself.
            return Method(
                name=spec,
                apply=lambda x, **kw: sl.soften(x, s, schedule, steps, **kw),
                scalar=lambda r: _soften_scalar(schedule, r, s, steps),
                target=_elementwise(lambda r: sl.soften_target_map(r, s)),
                normalise=_fro_normaliser(1.0, 1e-7),
                exact=lambda x, rtol=None: _soften_exact(x, s, rtol),
                matmul_only=True,
            )
        case "muon_p", [p_text]:
            p = _as_p(p_text)
            return Method(
                name=spec,
                apply=lambda x, **kw: sl.muon_p(x, p, **kw),
                scalar=lambda s: sl.muon_p_scalar_map(p, s),
                target=_elementwise(lambda s: s**p),
                normalise=_fro_normaliser(1.0, 1e-7),
                exact=lambda x, rtol=None: _normalised_power(x, p, rtol),
                matmul_only=True,
            )
        case "muon_p_coupled", [p_text]:
            p = _as_p(p_text)
            return Method(
                name=spec,
                apply=lambda x, **kw: sl.muon_p(x, p, method="coupled", **kw),
                scalar=_elementwise(lambda s: s * (s * s) ** ((p - 1) / 2)),
                target=_elementwise(lambda s: s**p),
                normalise=_fro_normaliser(1.0, 1e-7),
                exact=lambda x, rtol=None: _normalised_power(x, p, rtol),
                matmul_only=True,
            )
        case "polar" | "polar_qdwh", []:
            how = "qdwh" if kind == "polar_qdwh" else "svd"
            return Method(
                spec,
                lambda x, **kw: sl.polar(x, how),
                _ones,
                _ones,
                _identity,
                lambda x, rtol=None: sl.polar(x),
                matmul_only=False,
            )
        case "msign", []:
            return Method(spec, lambda x, **kw: sl.msign(x), _ones, _ones, _identity, _msign, matmul_only=False)
        case "fractional_power", [p_text]:
            p = _as_p(p_text)
            power = _elementwise(lambda s: s**p)
            return Method(
                spec,
                lambda x, **kw: sl.fractional_power(x, p),
                power,
                power,
                _identity,
                lambda x, rtol=None: sl.fractional_power(x, p, rtol=rtol),
                matmul_only=False,
            )
        case _:
            raise ValueError(f"unknown method spec {spec!r} (see analysis.methods)")


def _soften_scalar(schedule: str, r: Any, s: float, steps: int | None) -> Any:
    if isinstance(r, torch.Tensor):
        return sl.soften_scalar_map(schedule, r, s, steps)
    scale = sl.schedules[schedule].normalization.scale
    f = sl.scalar_map(schedule, [v / scale for v in r], steps)
    return [(1 - s) * fv + s * v for fv, v in zip(f, r, strict=True)]


def _msign(x: Any, rtol: float | None = None) -> Any:
    return sl.msign(x, rtol=rtol)


def _soften_exact(x: Any, s: float, rtol: float | None = None) -> Any:
    """Closed-form Soft-Muon target (1 − s)·U_rV_rᵀ + s·X/(‖X‖_F + 1e-7), on torch or mpmath."""
    import mpmath

    if isinstance(x, torch.Tensor):
        return (1 - s) * sl.msign(x, rtol=rtol) + s * x / (torch.linalg.matrix_norm(x, keepdim=True) + 1e-7)
    if isinstance(x, mpmath.matrix):
        x = np.array(x.tolist(), dtype=object)
    fro = mpmath.sqrt(mpmath.fsum(v * v for v in x.reshape(-1)))
    return np.asarray(sl.msign(x, rtol=rtol)) * (1 - mpmath.mpf(s)) + x * (mpmath.mpf(s) / (fro + mpmath.mpf(1e-7)))


def _normalised_power(x: Any, p: float, rtol: float | None = None) -> Any:
    import mpmath

    if isinstance(x, torch.Tensor):
        return sl.fractional_power(x / (torch.linalg.matrix_norm(x, keepdim=True) + 1e-7), p, rtol=rtol)
    if isinstance(x, mpmath.matrix):
        return sl.fractional_power(x / (mpmath.mnorm(x, "f") + mpmath.mpf(1e-7)), p, rtol=rtol)
    fro = np.vectorize(mpmath.sqrt, otypes=[object])(np.sum(x * x, axis=(-2, -1), keepdims=True))
    return sl.fractional_power(x / (fro + mpmath.mpf(1e-7)), p, rtol=rtol)
