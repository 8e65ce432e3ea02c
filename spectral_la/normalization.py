"""Normalisation before an odd-polynomial iteration: X₀ = X/(scale·‖X‖ + eps), in all its kinds.

One home for the type (:class:`Normalization`), its kinds, the sources' constant
(:data:`SOURCE_EPS`) and the functions that apply it (:func:`normalize`, the public one;
:func:`apply_normalization` and :func:`normalize_with_gram` on the backend's working arrays).
Every kind is computed after an exact power-of-two prescaling (ARCHITECTURE.md, principle 6), so
no norm overflows or underflows whatever the scale of X; the Frobenius kinds take a free host
shortcut on the CPU where the norm is provably in range (``ops.unscaled_fro``).

Kinds (details in :class:`Normalization`): ``frobenius`` (Muon: X/(‖X‖_F + 1e-7)),
``frobenius_clamp`` (torch.optim.Muon: X/max(‖X‖_F, 1e-7)), ``scale_safe`` (X/‖X‖_F, no eps),
``spectral`` (a guaranteed bound of σ₁ by Gram squarings), ``aol`` (Prach & Lampert 2022:
D X with D from the Gram's absolute row sums) and ``none``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from spectral_la.backend import Ops, working
from spectral_la.validation import check_int, check_real

__all__ = [
    "FROBENIUS_KINDS",
    "NO_NORMALIZATION",
    "SOURCE_EPS",
    "SOURCE_FROBENIUS",
    "SOURCE_FROBENIUS_CLAMP",
    "Normalization",
    "apply_normalization",
    "normalize",
    "normalize_with_gram",
    "resolve_normalization",
]


_NORM_KINDS = ("frobenius", "frobenius_clamp", "spectral", "schatten4", "scale_safe", "aol", "none")


#: Kinds whose normalised σ̂ = σ/(scale·‖X‖_F + eps) is a function of σ and ‖X‖_F alone.
FROBENIUS_KINDS = ("frobenius", "scale_safe", "frobenius_clamp")


#: The eps of Muon-family sources: X/(‖X‖_F + 1e-7).
SOURCE_EPS = 1e-7


@dataclass(frozen=True, kw_only=True)
class Normalization:
    """How X is scaled before the iteration: X₀ = X / (scale·‖X‖ + eps), per matrix.

    kind
        ``"frobenius"``: ‖X‖_F ≥ σ₁ (Muon's choice). The normalised σ₁ is
        σ₁/‖X‖_F, as small as 1/√r for a flat spectrum of rank r, which pushes
        every singular value into the polynomial's slow region near 0.
        ``"spectral"``: the guaranteed bound σ₁ ≤ ‖X‖_F·‖G^{2^j}‖_F^{1/2^{j+1}}
        with G = (X/‖X‖_F)(X/‖X‖_F)ᵀ and j = ``squarings`` (matmul-only, no host
        sync). It overestimates σ₁ by at most r^{1/2^{j+2}} (1.24 for r = 1024,
        j = 3) instead of Frobenius' √r, so the small singular values start up
        to that much larger. A power-iteration estimate would be tighter but is
        a *lower* bound: σ₁(X₀) > 1 makes steep schedules such as Polar
        Express diverge (p₁(1.05) ≈ 3.5 against a design range ≤ 2).
        ``"frobenius_clamp"``: X / max(scale·‖X‖_F, eps), torch.optim.Muon's form
        (``norm().clamp(min=eps)``); it equals ``"frobenius"`` up to eps/‖X‖_F.
        ``"scale_safe"``: X/(scale·‖X‖_F) with no eps (eps must be 0): the
        result does not depend on the scale of X at all, from the dtype's
        smallest normal to its largest finite number, and a zero matrix maps to
        zero. The default of designed schedules.
        ``"aol"``: X₀ = D X/scale with D = diag(1/√max(Σⱼ|(XXᵀ)ᵢⱼ|, eps)), the
        AOL rescaling (Prach & Lampert, "Almost-orthogonal layers", ECCV 2022,
        arXiv 2208.03160, Thm 1) on the Gram side: DXXᵀD has every absolute
        row sum ≤ 1, so σ₁(X₀) ≤ 1 is *guaranteed* (Schur's test) and, for a
        nearly diagonal-dominant Gram, σ_min(X₀) is far larger than after a
        Frobenius scaling. Not a function of the singular values: it changes
        the polar factor (polar(DX) ≠ polar(X) unless D commutes with XXᵀ),
        and the iteration approximates polar(DX). The rescaled Gram DAD is
        reused by the first step (microsoft/dion ``newton_schulz_triton_fast``).
        eps = 0 leaves a zero row at zero and is scale-invariant.
        ``"schatten4"``: X/(scale·‖X‖_S4 + eps) with ‖X‖_S4 = (Σσᵢ⁴)^{1/4} = ‖XXᵀ‖_F^{1/2}
        (Gelfand's formula at its first squaring, as optax's Muon and the CANS paper, arXiv
        2506.10935 §3.4, use it). σ₁ ≤ ‖X‖_S4 ≤ r^{1/4}σ₁: a guaranteed bound, √-tighter than
        Frobenius' √r, at the cost of XXᵀ, which the first step reuses (its Gram matrix is
        XXᵀ/size²), so it costs one reduction more than Frobenius and no product.
        ``"none"``: X is used as given (already scaled).
    scale, eps
        X₀ = X / (scale·‖X‖ + eps). eps (default 1e-7 as in the Muon-family
        sources, 0 for ``"scale_safe"``) keeps a zero matrix at zero, and it is
        where the sources' normalisation is not scale-invariant: an X with
        ‖X‖ ≲ eps is divided by ≈ eps, not by its norm, so it is *not*
        orthogonalised (‖X‖_F = 1e-30 gives an output of norm ≈ 1e-23·c₀^T).
        Every kind is computed after an exact power-of-two prescaling by the
        largest entry, so no norm overflows or underflows whatever X's scale.
    before_cast
        With a ``compute_dtype`` below the input's precision: normalise in the
        input's precision, then round X₀ to the compute dtype
        (Emerging-Optimizers' order under bf16 matmul precision). False: round
        X first and normalise in the compute dtype (torch.optim.Muon, dion,
        modded-nanogpt). In bf16 the latter can put σ̂₁ about two ulps (≈ 0.4%)
        above 1, where a schedule with no margin above 1 turns directions
        round: EO's cubic5 has p₁(x) < 0 for x > 1.0035 and, run cast-first
        on near rank-one bf16 inputs, flips the leading direction.
    in_float64
        Reduce the Frobenius norm in float64 and round it to the working dtype, and
        divide by it with no eps (Emerging-Optimizers' ``normalize_in_double``, which
        has none: eps defaults to 0 and another value is an error). After the
        power-of-two prescaling it changes no result's safety, only its last bit: with
        it a schedule reproduces that source's normalisation bit for bit, at every
        scale (‖X‖_F = 2.6e-27 is normalised to 1, as EO does; a zero X stays 0 where
        EO returns NaN).
    """

    kind: str = "frobenius"
    scale: float = 1.0
    eps: float | None = None
    squarings: int = 3
    in_float64: bool = False
    before_cast: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _NORM_KINDS:
            raise ValueError(f"normalization kind must be one of {_NORM_KINDS}, got {self.kind!r}")
        if self.eps is None:  # EO's normalize_in_double divides by the float64 norm with no eps
            object.__setattr__(self, "eps", 0.0 if self.kind == "scale_safe" or self.in_float64 is True else SOURCE_EPS)
        scale = float(check_real(self.scale, "normalization scale"))
        eps = float(check_real(self.eps, "normalization eps"))
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "eps", eps)
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"normalization scale must be finite and > 0, got {scale}")
        if not (math.isfinite(eps) and eps >= 0):
            raise ValueError(f"normalization eps must be finite and ≥ 0, got {eps}")
        if self.kind == "scale_safe" and self.eps != 0:
            raise ValueError(
                f"normalization kind 'scale_safe' takes no eps (it would break scale invariance), got {self.eps}"
            )
        check_int(self.squarings, "squarings", 0, 16)
        for flag in ("in_float64", "before_cast"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"normalization {flag} must be a bool, got {getattr(self, flag)!r}")
        if self.in_float64 and self.kind not in FROBENIUS_KINDS:
            raise ValueError(f"normalization in_float64 applies to the kinds {FROBENIUS_KINDS}, not {self.kind!r}")
        if self.in_float64 and self.eps != 0:
            raise ValueError(
                "normalization in_float64 is Emerging-Optimizers' normalize_in_double, X/‖X‖_F with the norm in "
                f"float64 and no eps; eps = {self.eps} would keep a clamp it does not have: pass eps=0"
            )


def resolve_normalization(normalize: Any, default: Normalization | None = None) -> Normalization:
    """None → ``default`` (e.g. a schedule's own); a kind name → that kind with default scale/eps."""
    if normalize is None and default is not None:
        return default
    if isinstance(normalize, Normalization):
        return normalize
    if isinstance(normalize, str):
        return Normalization(kind=normalize)
    raise TypeError(f"normalize must be a kind name or a Normalization, got {type(normalize).__name__}")


def _spectral_norm_bound(ops: Ops, y: Any, squarings: int) -> Any:
    """‖Y‖_F·‖G^{2^j}‖_F^{1/2^{j+1}} ≥ σ₁(Y) with G = (Y/‖Y‖_F)(Y/‖Y‖_F)ᵀ, shape (..., 1, 1).

    ‖G^k‖_F = (Σσᵢ^{4k})^{1/2}/‖Y‖_F^{2k} ≥ (σ₁/‖Y‖_F)^{2k}; prescaling by ‖Y‖_F
    keeps the powers in [0, 1] (no overflow in any dtype).
    """
    fro = ops.fro(y)
    z = y / ops.where(fro > 0, fro, ops.scalar(1))
    g = ops.gram(z)
    for _ in range(squarings):
        g = ops.gram(g)
    return fro * ops.power(ops.fro(g), ops.scalar(1) / ops.scalar(2 ** (squarings + 1)))


def normalize(X: Any, normalization: Any = "frobenius") -> Any:
    """X / (scale·‖X‖ + eps) per matrix, the normalisation every NS-family map starts with.

    ``normalization`` is a :class:`Normalization` or a kind name (default
    scale and eps: Muon's X/(‖X‖_F + 1e-7)). Any kind of X the package
    accepts; same kind back. The analysis layer uses this one definition for
    the Soft-Muon and Muon^p targets.

    Examples
    --------
    >>> import torch
    >>> normalize(torch.tensor([[3.0, 4.0]]), "scale_safe")
    tensor([[0.6000, 0.8000]])
    """
    normalization = resolve_normalization(normalization)
    ops, x, restore = working(X)
    with ops.guard():
        return restore(apply_normalization(ops, x, normalization))


def apply_normalization(ops: Ops, x: Any, norm: Normalization) -> Any:
    """X / (scale·‖X‖ + eps) per matrix (x in the wide orientation), at any scale of X (:func:`normalize_with_gram`)."""
    return normalize_with_gram(ops, x, norm)[0]


def normalize_with_gram(ops: Ops, x: Any, norm: Normalization) -> tuple[Any, Any]:
    """``(X₀, G)`` for a wide x: the normalised X₀ and, where the normalisation formed it, G = X₀X₀ᵀ (else None).

    X = 2^e·Y with max|Y| ∈ [1/2, 1) (exact), and X/(c‖X‖ + ε) = Y/(c‖Y‖ + ε·2^-e):
    ‖Y‖ ∈ [1/2, √(mn)] never overflows or underflows. ε·2^-e may overflow for an
    X far below ε; the quotient is then 0, where the exact one is below ε⁻¹·tiny.
    """
    if norm.kind == "none":
        return x, None
    if norm.kind in FROBENIUS_KINDS or norm.kind == "aol":
        # ‖X‖ already in range (a free check on the host): the same bits as prescaling, fewer passes.
        # AOL forms XXᵀ, whose entries are ≤ ‖X‖²: in range while ‖X‖ ≤ √(max)/2.
        size = ops.unscaled_fro(x, float64=norm.in_float64, squared=norm.kind == "aol")
        if size is not None:
            return _aol(ops, x, None, norm) if norm.kind == "aol" else (_divide(ops, x, size, norm, None), None)
    y, e = ops.pow2_scale(x)
    if norm.kind == "aol":
        return _aol(ops, y, e, norm)
    if norm.kind == "schatten4":
        return _schatten4(ops, y, e, norm)
    if norm.kind == "spectral":
        size = _spectral_norm_bound(ops, y, norm.squarings)
    else:
        size = ops.fro(y, prescaled=True, float64=norm.in_float64)
    return _divide(ops, y, size, norm, e), None


def _divide(ops: Ops, y: Any, size: Any, norm: Normalization, e: Any) -> Any:
    """y / (scale·size + ε·2^-e), or y / max(scale·size, ε·2^-e) for the clamp kind (e = None: 0).

    With y = X·2^-e and size = ‖Y‖ this is X/(scale‖X‖ + ε) divided in range; dividing by a
    power of two commutes with rounding, so e = None on an X whose norm is in range gives the
    same bits as the prescaled route (in bf16/fp16 up to ε's own rounding: the host ε enters
    the sum unrounded, as in the sources' ``norm + eps``, the prescaled one rounded to the dtype).
    """
    denom = size * ops.scalar(norm.scale) if norm.scale != 1 else size
    if norm.eps:
        floor = ops.scalar(norm.eps) if e is None else ops.mul_pow2(ops.scalar(norm.eps), -e)
        if norm.kind == "frobenius_clamp":  # max(c‖X‖, ε) = 2^e·max(c‖Y‖, ε·2^-e)
            return y / (ops.maximum(denom, floor) if e is None else ops.where(denom > floor, denom, floor))
        return y / (denom + floor)
    return y / ops.where(denom > 0, denom, ops.scalar(1))  # a zero matrix stays zero


def _schatten4(ops: Ops, y: Any, e: Any, norm: Normalization) -> tuple[Any, Any]:
    """(X₀, X₀X₀ᵀ) with X₀ = Y/(scale·‖YYᵀ‖_F^{1/2} + ε·2^-e): the Gram matrix is formed once, for both.

    Y = 2^-e·X has entries ≤ 1, so YYᵀ (entries ≤ n) neither overflows nor underflows.
    """
    g = ops.gram(y)
    size = ops.sqrt(ops.fro(g, prescaled=True))
    denom = size * ops.scalar(norm.scale) if norm.scale != 1 else size
    if norm.eps:
        denom = denom + ops.mul_pow2(ops.scalar(norm.eps), -e)
    denom = ops.where(denom > 0, denom, ops.scalar(1))  # a zero matrix stays zero
    return y / denom, g / (denom * denom)


def _aol(ops: Ops, y: Any, e: Any, norm: Normalization) -> tuple[Any, Any]:
    """AOL: X₀ = D Y/scale, D = diag(1/√max(rᵢ, ε·4^-e)), rᵢ = Σⱼ|(YYᵀ)ᵢⱼ|; G = D(YYᵀ)D/scale² (e = None: 0).

    (X = 2^e·Y, so the rows sums of |XXᵀ| are 4^e·rᵢ and DX = D_Y·Y exactly.) Every
    absolute row sum of G is ≤ 1/scale², hence σ₁(X₀) ≤ 1/scale (Prach & Lampert 2022, Thm 1).
    The product order is microsoft/dion's (``newton_schulz_triton_fast``): X·s, then (A·s)·sᵀ.
    """
    a = ops.gram(y)
    r = ops.row_abs_sums(a)
    if norm.eps:
        floor = ops.scalar(norm.eps) if e is None else ops.mul_pow2(ops.scalar(norm.eps), -2 * e)
        r = ops.where(r > floor, r, floor)
    else:
        r = ops.where(r > 0, r, ops.scalar(1))  # a zero row stays zero
    s = ops.rsqrt(r)
    x0, g = y * s, a * s * s.mT
    if norm.scale != 1:
        x0, g = x0 / ops.scalar(norm.scale), g / ops.scalar(norm.scale**2)
    return x0, g


#: What the iteration applies to an input its prologue has already normalised.
NO_NORMALIZATION = Normalization(kind="none")
#: X/(‖X‖_F + 1e-7): the Frobenius normalisation of the Muon-family sources (Muon, Soft-Muon's blend, Muon^p).
SOURCE_FROBENIUS = Normalization(kind="frobenius", eps=SOURCE_EPS)
#: X/max(‖X‖_F, 1e-7): torch.optim.Muon's clamped form of the same normalisation.
SOURCE_FROBENIUS_CLAMP = Normalization(kind="frobenius_clamp", eps=SOURCE_EPS)
