"""Soft-Muon softening: (1 − s)·NS(X) + s·X/‖X‖_F, one fused lerp.

The blend moves the orthogonalised (Schatten-∞) update toward the
Frobenius-normalised input (microsoft/dion PR #92, "Soft-Muon softening knob";
cf. Pethick, arXiv 2606.15268). Since NS keeps the singular vectors of X, the
i-th singular value of the result is

* **target (closed form claimed by the change)**: (1 − s) + s·σᵢ/‖X‖_F, the blend
  with the exact polar factor;
* **true finite-step map**: (1 − s)·f(σᵢ/(c‖X‖_F + ε)) + s·σᵢ/‖X‖_F, with f the
  schedule's composed polynomial and c, ε its Frobenius normalisation.

Both are exposed (:func:`soften_target_map`, :func:`soften_scalar_map`) so the
analysis layer can measure how far apart they are. s = 0 returns exactly (bit
for bit) :func:`spectral_la.newton_schulz`'s result.
"""

from __future__ import annotations

from typing import Any

from spectral_la.backend import sigma_batch
from spectral_la.kernels import iterate
from spectral_la.newton_schulz import check_iterates, normalized_iteration, prepare
from spectral_la.normalization import FROBENIUS_KINDS, SOURCE_FROBENIUS, apply_normalization
from spectral_la.schedules import Schedule, schedules
from spectral_la.validation import check_in_range

__all__ = ["soften", "soften_scalar_map", "soften_target_map"]


def soften(
    X: Any,
    s: float,
    schedule: str | Schedule = "polar_express",
    steps: int | None = None,
    *,
    normalize: Any = None,
    compute_dtype: Any = None,
    check_finite: bool = True,
) -> Any:
    """Soft-Muon update (1 − s)·NS(X) + s·X/(‖X‖_F + 1e-7), per matrix, via one lerp.

    Parameters
    ----------
    X, schedule, steps, normalize, compute_dtype, check_finite
        As in :func:`spectral_la.newton_schulz`.
    s : float in [0, 1]
        Softening; NaN or a value outside [0, 1] raises ``ValueError``.

    Examples
    --------
    >>> import torch
    >>> from spectral_la import newton_schulz
    >>> X = torch.randn(8, 32)
    >>> torch.equal(soften(X, 0.0), newton_schulz(X))
    True
    """
    check_in_range(s, "s", 0, 1)
    ops, x, restore, rows, norm, normalized = prepare(X, schedule, steps, normalize, compute_dtype, check_finite)
    with ops.guard():
        ns = normalized_iteration(ops, x, rows, norm)
        direct = apply_normalization(ops, x, SOURCE_FROBENIUS)
        out = ops.lerp(ns, direct, ops.scalar(s))
    if check_finite:
        check_iterates(ops, out, rows, normalized, schedule)
    return restore(out)


def soften_target_map(sigma_rel: Any, s: float) -> Any:
    """Closed form (1 − s) + s·σ/‖X‖_F of the softened singular values (σ_rel = σ/‖X‖_F).

    ``sigma_rel`` of any kind :func:`spectral_la.scalar_map` accepts; the result has the same kind.
    """
    check_in_range(s, "s", 0, 1)
    ops, x, restore = sigma_batch(sigma_rel)
    with ops.guard():
        return restore(x * ops.scalar(s) + (1 - ops.scalar(s)))


def soften_scalar_map(schedule: str | Schedule, sigma_rel: Any, s: float, steps: int | None = None) -> Any:
    """True finite-step map (1 − s)·f(σ_rel/c) + s·σ_rel for a Frobenius-normalised schedule.

    ``sigma_rel`` = σ/‖X‖_F, of any kind :func:`spectral_la.scalar_map` accepts;
    c is the schedule's normalisation scale (the ε of the normalisation is
    neglected: it matters only for ‖X‖_F ≲ 1e-7·c). The NS part is the same
    iteration as the matrix map, run on 1 × 1 matrices.
    """
    check_in_range(s, "s", 0, 1)
    sched = schedules.resolve(schedule)
    if sched.normalization.kind not in FROBENIUS_KINDS:
        raise ValueError(
            f"soften_scalar_map needs a Frobenius-normalised schedule, {sched.name!r} is {sched.normalization.kind!r}"
        )
    rows = sched.coefficients(steps)
    ops, x, restore = sigma_batch(sigma_rel)
    with ops.guard():
        f = iterate(ops, x / ops.scalar(sched.normalization.scale), rows)
        return restore(ops.lerp(f, x, ops.scalar(s)))
