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

import math
from typing import Any

from spectral_la.backend import working
from spectral_la.coupled_inverse_root import coupled_sqrt
from spectral_la.fractional_power import fractional_power, msign
from spectral_la.inverse_root import inverse_root
from spectral_la.newton_schulz import newton_schulz
from spectral_la.validation import check_in_range, check_result_finite, check_same_kind

__all__ = ["isotropic_inverse_root", "partner_gram_roots", "whitened_direction"]

METHODS = ("exact", "matmul", "isotropic")


def _scaled_gram(W: Any, lam: Any) -> tuple[Any, Any]:
    """(2^-2e(WᵀW + λI), rescale) in the caller's kind, with 2^e ≥ max(max|W|, √λ)/2.

    The Gram matrix of a W near the dtype's largest value overflows although
    C = (WᵀW + λI)^{1/2} does not; scaling W by 2^-e and λ by 2^-2e first keeps
    every entry ≤ k + 1, and C(W, λ) = 2^e·C(2^-e W, 2^-2e λ).
    ``rescale(T, power)`` multiplies a result T of the caller's kind by 2^{e·power}.
    """
    ops, w, restore = working(W, "W")
    _, e = ops.pow2_scale(w)
    if lam > 0:
        e = ops.maximum(e, math.frexp(math.sqrt(float(lam)))[1])
    with ops.guard():
        w_s = ops.mul_pow2(w, -e)
        g = w_s.mT @ w_s + ops.eye(w.shape[-1]) * ops.mul_pow2(ops.scalar(lam), -2 * e)
    g = (g + g.mT) / 2
    # The Gram matrix stays a working array (torch: the compute dtype, as rounding it to a half type
    # would cost κ²·u_half in C⁻¹; mpmath: with the guard digits); the roots come back in it and are
    # rounded once, by ``restore``.
    gram = g

    def rescale(t: Any, power: int) -> Any:
        t_ops, tt, _ = working(t, "result")
        out = restore(t_ops.mul_pow2(tt, e * power))
        check_result_finite(out, "C⁻¹" if power < 0 else "C")
        return out

    return gram, rescale


def partner_gram_roots(W: Any, lam: float, *, method: str = "exact") -> tuple[Any, Any]:
    """(C, C⁻¹) with C = (WᵀW + λI)^{1/2}, W of shape (..., k, n): exact (eigh) or matmul (coupled NS).

    Any scale of W and λ (:func:`_scaled_gram`); λ = 0 with a rank-deficient W
    raises :class:`~spectral_la.SingularMatrixError` (C⁻¹ does not exist).
    """
    check_in_range(lam, "lam", 0, None)
    if method not in ("exact", "matmul"):
        raise ValueError(f"method must be 'exact' or 'matmul' for partner_gram_roots, got {method!r}")
    gram, rescale = _scaled_gram(W, lam)
    if method == "exact":
        c, c_inv = fractional_power(gram, 0.5, rtol=0), inverse_root(gram, 2)
    else:
        c, c_inv, _ = coupled_sqrt(gram)
    return rescale(c, 1), rescale(c_inv, -1)


def isotropic_inverse_root(W: Any, lam: float) -> Any:
    """c⁻¹I with c = (‖W‖_F²/n + λ)^{1/2} per matrix: the isotropic stand-in for C⁻¹.

    c = hypot(‖W‖_F/√n, √λ) with a scale-safe ‖W‖_F: no square is formed, so
    c overflows only if it truly exceeds the dtype's range.
    """
    check_in_range(lam, "lam", 0, None)
    ops, w, restore = working(W, "W")
    # Scale by 2^-e with 2^e ≥ max(max|W|, √λ)/2: c = 2^e·c_s with c_s ∈ (0, √(k + 1)].
    _, e = ops.pow2_scale(w)
    if lam > 0:
        e = ops.maximum(e, math.frexp(math.sqrt(float(lam)))[1])
    with ops.guard():
        rms = ops.fro(ops.mul_pow2(w, -e)) / ops.host_math.sqrt(w.shape[-1])
        root_lam = ops.mul_pow2(ops.host_math.sqrt(ops.scalar(lam)), -e)
        big = ops.where(rms > root_lam, rms, root_lam)
        small = ops.where(rms > root_lam, root_lam, rms)
        if not ops.batch_min(big) > 0:
            raise ValueError("W is zero and lam = 0: the isotropic root c⁻¹ is infinite; pass lam > 0")
        ratio = small / big
        c_s = big * ops.sqrt(ratio * ratio + 1)  # hypot without squaring the larger term
        out = ops.mul_pow2(ops.eye(w.shape[-1]) / c_s, -e)
    out = restore(out)
    check_result_finite(out, "c⁻¹I")
    return out


def whitened_direction(
    G: Any, W_partner: Any, lam: float, *, method: str = "exact", schedule: str = "polar_express"
) -> Any:
    """msign(G C⁻¹) C⁻¹ with C the partner's Gram root (module docstring).

    G has shape (..., m, n) and W_partner (..., k, n) (the partner's weight,
    sharing the n-dimensional side), of one kind (torch, NumPy or mpmath) and dtype.
    ``method="matmul"`` uses coupled NS for C⁻¹ and the Newton–Schulz ``schedule``
    for msign; the other two use the exact msign (:func:`spectral_la.msign`, zero on the
    null space as the iterations' limit is), so the isotropic row isolates the shortcut's
    error. A zero G gives 0 on every route, and a rank-deficient G the partial isometry
    on its range. msign is scale-invariant, so G is prescaled by a power of two (exact)
    before the product with C⁻¹: no scale of G overflows or underflows there.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    g_ops, g, g_restore = working(G, "G")
    _, w, _ = working(W_partner, "W_partner")
    check_same_kind(G, W_partner, "G", "W_partner")
    if g.shape[-1] != w.shape[-1]:
        raise ValueError(
            f"G (..., m, n) and W_partner (..., k, n) must share n: got shapes {tuple(g.shape)} and {tuple(w.shape)}"
        )
    # Everything runs on the working arrays (fp32 for half types) and is rounded once at the end:
    # rounding G·C⁻¹ to fp16 in between cost κ·u₁₆ (0.005 at κ = 150, found by the fuzz).
    if method == "isotropic":
        c_inv = isotropic_inverse_root(w, lam)
    else:
        _, c_inv = partner_gram_roots(w, lam, method=method)
    g_scaled = g_ops.pow2_scale(g)[0]  # msign(2^-e·G·C⁻¹) = msign(G·C⁻¹), exactly
    whitened = g_scaled @ c_inv
    direction = newton_schulz(whitened, schedule) if method == "matmul" else msign(whitened)
    return g_restore(direction @ c_inv)
