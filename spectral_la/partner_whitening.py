"""Partner whitening of Compositional Muon: C = (WᵀW + λI)^{1/2}, C⁻¹ and msign(G C⁻¹) C⁻¹.

Compositional Muon (tilde-research/comp-muon-release) updates each factor of
a composed operator M = W_Q W_Kᵀ with its partner's inverse Gram root:

    ΔW_Q = −(η/2)·msign(G_Q C_K⁻¹) C_K⁻¹,   C_K = (W_KᵀW_K + λI)^{1/2},

and symmetrically for W_K (and for the OV pair). This module gives the
direction msign(G C⁻¹) C⁻¹ with

* ``method="exact"``: C and C⁻¹ from eigh (:func:`spectral_la.inverse_root`),
  msign by the SVD polar factor;
* ``method="matmul"``: C and C⁻¹ together from coupled Newton–Schulz
  (:func:`spectral_la.coupled_sqrt`), msign by a Newton–Schulz schedule;
* ``method="isotropic"``: the per-head shortcut C⁻¹ ≈ c⁻¹I with
  c = (tr(C²)/n)^{1/2} = (‖W‖_F²/n + λ)^{1/2} (the RMS eigenvalue of C; our
  choice of scalar), giving msign(G)/c. Its error against the exact direction
  is what :func:`spectral_la.analysis`-side reports measure.
"""

from __future__ import annotations

from typing import Any

from spectral_la._backend import working
from spectral_la._validate import check_in_range
from spectral_la.coupled_inverse_root import coupled_sqrt
from spectral_la.fractional_power import fractional_power
from spectral_la.inverse_root import inverse_root
from spectral_la.newton_schulz import newton_schulz
from spectral_la.polar import polar

__all__ = ["isotropic_inverse_root", "partner_gram_roots", "whitened_direction"]

METHODS = ("exact", "matmul", "isotropic")


def _gram(W: Any, lam: float) -> Any:
    """WᵀW + λI in the caller's kind (torch dtype kept; mpmath matrix)."""
    ops, w, restore = working(W, "W")
    with ops.guard():
        g = w.mT @ w + ops.eye(w.shape[-1]) * ops.scalar(lam)
    return restore((g + g.mT) / 2)


def partner_gram_roots(W: Any, lam: float, *, method: str = "exact") -> tuple[Any, Any]:
    """(C, C⁻¹) with C = (WᵀW + λI)^{1/2}, W of shape (..., k, n): exact (eigh) or matmul (coupled NS)."""
    check_in_range(lam, "lam", 0, None)
    gram = _gram(W, lam)
    match method:
        case "exact":
            return fractional_power(gram, 0.5, rtol=0), inverse_root(gram, 2)
        case "matmul":
            c, c_inv, _ = coupled_sqrt(gram)
            return c, c_inv
        case _:
            raise ValueError(f"method must be 'exact' or 'matmul' for partner_gram_roots, got {method!r}")


def isotropic_inverse_root(W: Any, lam: float) -> Any:
    """c⁻¹I with c = (‖W‖_F²/n + λ)^{1/2} per matrix: the isotropic stand-in for C⁻¹.

    c = hypot(‖W‖_F/√n, √λ) with a scale-safe ‖W‖_F: no square is formed, so
    c overflows only if it truly exceeds the dtype's range.
    """
    check_in_range(lam, "lam", 0, None)
    ops, w, restore = working(W, "W")
    with ops.guard():
        rms = ops.fro(w) / ops.sm.sqrt(w.shape[-1])
        root_lam = ops.sm.sqrt(ops.scalar(lam))
        big = ops.where(rms > root_lam, rms, root_lam + 0 * rms)
        small = ops.where(rms > root_lam, root_lam + 0 * rms, rms)
        ratio = small / ops.where(big > 0, big, ops.scalar(1))
        c = big * ops.sqrt(ratio * ratio + 1)
        if ops.batch_min(c) <= 0:
            raise ValueError("W is zero and lam = 0: the isotropic root c⁻¹ is infinite; pass lam > 0")
        out = ops.eye(w.shape[-1]) / c
    return restore(out)


def whitened_direction(
    G: Any, W_partner: Any, lam: float, *, method: str = "exact", schedule: str = "polar_express"
) -> Any:
    """msign(G C⁻¹) C⁻¹ with C the partner's Gram root (module docstring).

    G has shape (..., m, n) and W_partner (..., k, n) (the partner's weight,
    sharing the n-dimensional side). ``method="matmul"`` uses coupled NS for
    C⁻¹ and the Newton–Schulz ``schedule`` for msign; the other two use the
    exact SVD polar factor, so the isotropic row isolates the shortcut's error.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "isotropic":
        c_inv = isotropic_inverse_root(W_partner, lam)
    else:
        _, c_inv = partner_gram_roots(W_partner, lam, method=method)
    whitened = G @ c_inv
    direction = newton_schulz(whitened, schedule) if method == "matmul" else polar(whitened)
    return direction @ c_inv
