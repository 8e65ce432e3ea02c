"""Named methods for the analysis layer: each with its matrix map, scalar map and exact target.

A method is named by a spec (grammar, validation and round trip: :mod:`analysis.spec`), e.g.
``"ns:polar_express"``, ``"soften:0.3:jordan_ns5"``, ``"muon_p:1/3"``, ``"msign"``.

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
from typing import Any

import torch

import spectral_la as sl
from analysis.spec import MethodSpec, parse
from spectral_la.backend import sigma_batch
from spectral_la.muon_p import MUON_P_NORMALIZATION
from spectral_la.schedules import FROBENIUS_KINDS
from spectral_la.soften import BLEND_NORMALIZATION

__all__ = ["Method", "MethodSpec", "frobenius_schedules", "method", "parse"]


@dataclass(frozen=True)
class Method:
    name: str
    apply: Callable[..., Any]  # (X, **kw) -> F(X); kw: compute_dtype for matmul-only methods
    scalar: Callable[[Any], Any]  # f(σ̂): float64 tensor, or list of mpmath numbers
    target: Callable[[Any], Any]  # t(σ̂), same kinds
    normalise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (σ, ‖X‖_F) -> σ̂
    exact: Callable[..., Any]  # exact counterpart (torch or mpmath); ``rtol=`` sets msign's numerical rank
    matmul_only: bool


def _scalar_fn(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Lift an elementwise formula to every kind of σ through the backend (no kind branches here)."""

    def lifted(sigma: Any) -> Any:
        ops, x, restore = sigma_batch(sigma)
        with ops.guard():
            return restore(fn(ops, x))

    return lifted


_ones = _scalar_fn(lambda ops, x: x * 0 + 1)


def _power_fn(p: float) -> Callable[[Any], Any]:
    return _scalar_fn(lambda ops, x: ops.power(x, ops.scalar(p)))


def _fro_normaliser(scale: float, eps: float):
    return lambda sigma, fro: sigma / (scale * fro + eps)


def _identity(sigma, fro):
    return sigma


def frobenius_schedules(names=None) -> list[str]:
    """The registered schedules (or those of ``names``) whose normalised σ̂ is a function of σ and ‖X‖_F.

    The others (AOL, spectral bound) scale X by more than its singular values, so no scalar map of σ
    predicts their matrix result; the σ-based analyses skip them and the matrix-level ones keep them.
    """
    return [n for n in (names or list(sl.schedules)) if sl.schedules[n].normalization.kind in FROBENIUS_KINDS]


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


def method(spec: str | MethodSpec | Method) -> Method:
    """The :class:`Method` of a spec (a string or :class:`~analysis.spec.MethodSpec`; grammar in analysis.spec)."""
    if isinstance(spec, Method):
        return spec
    ms = parse(spec)
    name = str(ms)
    p = None if ms.p is None else float(ms.p)
    match ms.kind:
        case "ns" | "gram_ns":
            return _ns_method(name, ms.schedule, ms.steps, gram=ms.kind == "gram_ns")
        case "soften":
            schedule, s, steps = ms.schedule, ms.s, ms.steps
            _frobenius_schedule(schedule)
            # σ̂ is σ/‖X‖_F (the blend's variable); soften_scalar_map applies the NS scale itself.
            return Method(
                name=name,
                apply=lambda x, **kw: sl.soften(x, s, schedule, steps, **kw),
                scalar=lambda r: sl.soften_scalar_map(schedule, r, s, steps),
                target=lambda r: sl.soften_target_map(r, s),
                normalise=_fro_normaliser(BLEND_NORMALIZATION.scale, BLEND_NORMALIZATION.eps),
                exact=lambda x, rtol=None: _soften_exact(x, s, rtol),
                matmul_only=True,
            )
        case "muon_p":
            sl.muon_p_scalar_map(p, [0.5])  # an unsupported p raises ValueError here, naming the options
            return Method(
                name=name,
                apply=lambda x, **kw: sl.muon_p(x, p, **kw),
                scalar=lambda r: sl.muon_p_scalar_map(p, r),
                target=_power_fn(p),
                normalise=_fro_normaliser(MUON_P_NORMALIZATION.scale, MUON_P_NORMALIZATION.eps),
                exact=lambda x, rtol=None: _normalised_power(x, p, rtol),
                matmul_only=True,
            )
        case "muon_p_coupled":
            return Method(
                name=name,
                apply=lambda x, **kw: sl.muon_p(x, p, method="coupled", **kw),
                scalar=_scalar_fn(lambda ops, r: r * ops.power(r * r, ops.scalar((p - 1) / 2))),
                target=_power_fn(p),
                normalise=_fro_normaliser(MUON_P_NORMALIZATION.scale, MUON_P_NORMALIZATION.eps),
                exact=lambda x, rtol=None: _normalised_power(x, p, rtol),
                matmul_only=True,
            )
        case "polar" | "polar_qdwh":
            how = "qdwh" if ms.kind == "polar_qdwh" else "svd"
            return Method(
                name,
                lambda x, **kw: sl.polar(x, how),
                _ones,
                _ones,
                _identity,
                lambda x, rtol=None: sl.polar(x),
                matmul_only=False,
            )
        case "msign":
            return Method(name, lambda x, **kw: sl.msign(x), _ones, _ones, _identity, _msign, matmul_only=False)
        case "fractional_power":
            power = _power_fn(p)
            return Method(
                name,
                lambda x, **kw: sl.fractional_power(x, p),
                power,
                power,
                _identity,
                lambda x, rtol=None: sl.fractional_power(x, p, rtol=rtol),
                matmul_only=False,
            )
    raise AssertionError(ms.kind)


def _msign(x: Any, rtol: float | None = None) -> Any:
    return sl.msign(x, rtol=rtol)


def _soften_exact(x: Any, s: float, rtol: float | None = None) -> Any:
    """Closed-form Soft-Muon target (1 − s)·U_rV_rᵀ + s·X/(‖X‖_F + 1e-7) (soften's own normalisation)."""
    return sl.msign(x, rtol=rtol) * (1 - s) + sl.normalize(x, BLEND_NORMALIZATION) * s


def _normalised_power(x: Any, p: float, rtol: float | None = None) -> Any:
    """U Σ̂^p Vᵀ of X₀ = X/(‖X‖_F + 1e-7), Muon^p's own normalisation."""
    return sl.fractional_power(sl.normalize(x, MUON_P_NORMALIZATION), p, rtol=rtol)
