"""Odd-polynomial (Newton–Schulz-type) iterations for the polar factor, matmul only.

For a wide X (m ≤ n; a tall X is transposed so the Gram matrix is the smaller
one) each step of a schedule row (c₀, c₁, …, c_k) computes

    A = X Xᵀ   (m × m, symmetric, formed once per step),
    S = c₁A + c₂A² + … + c_kA^k   (Horner in A: k − 1 products),
    X ← c₀X + S X,

which is X ↦ p(X) with p(x) = Σ c_j x^{2j+1}: every singular value σ of X
goes to p(σ) and U, V are kept (Higham, *Functions of Matrices*, 2008, §8.3;
Amsel et al. 2025, arXiv 2505.16932, eq. (4)). A degree-5 step costs 3 matmuls.
After the normalisation X₀ = X/(scale·‖X‖ + eps) (:class:`Normalization`),
T steps map each σ to f(σ/(scale·‖X‖ + eps)) with f = p_T ∘ … ∘ p₁.

**The scalar map comes from the same code**: :func:`scalar_map` runs the
iteration on a batch of 1 × 1 matrices, where it is exactly the scalar
recurrence x ← p_k(x) (DESIGN.md, principle 1).

GPU discipline: matmuls and fused add-multiplies only (``addmm``/``baddbmm``),
no host synchronisation inside the iteration (the input finiteness check is
the only one and can be switched off), batched over leading dimensions,
compute dtype chosen explicitly.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from spectral_la.backend import sigma_batch, working
from spectral_la.errors import DivergedError
from spectral_la.schedules import FROBENIUS_KINDS, Normalization, Schedule, schedules

__all__ = ["newton_schulz", "normalize", "scalar_map"]


def resolve_normalization(normalize: Any, schedule: Schedule | None = None) -> Normalization:
    """None → the schedule's own; a kind name → that kind with default scale/eps."""
    if normalize is None and schedule is not None:
        return schedule.normalization
    if isinstance(normalize, Normalization):
        return normalize
    if isinstance(normalize, str):
        return Normalization(kind=normalize)
    raise TypeError(f"normalize must be a kind name or a Normalization, got {type(normalize).__name__}")


def _spectral_norm_bound(ops: Any, y: Any, squarings: int) -> Any:
    """‖Y‖_F·‖G^{2^j}‖_F^{1/2^{j+1}} ≥ σ₁(Y) with G = (Y/‖Y‖_F)(Y/‖Y‖_F)ᵀ, shape (..., 1, 1).

    ‖G^k‖_F = (Σσᵢ^{4k})^{1/2}/‖Y‖_F^{2k} ≥ (σ₁/‖Y‖_F)^{2k}; prescaling by ‖Y‖_F
    keeps the powers in [0, 1] (no overflow in any dtype).
    """
    fro = ops.fro(y)
    z = y / ops.where(fro > 0, fro, ops.scalar(1))
    g = z @ z.mT
    for _ in range(squarings):
        g = g @ g
    return fro * ops.power(ops.fro(g), ops.scalar(1) / ops.scalar(2 ** (squarings + 1)))


def apply_normalization(ops: Any, x: Any, norm: Normalization) -> Any:
    """X / (scale·‖X‖ + eps) per matrix (x in the wide orientation), at any scale of X (:func:`normalise_with_gram`)."""
    return normalise_with_gram(ops, x, norm)[0]


def normalise_with_gram(ops: Any, x: Any, norm: Normalization) -> tuple[Any, Any]:
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
    if norm.kind == "spectral":
        size = _spectral_norm_bound(ops, y, norm.squarings)
    else:
        size = ops.fro(y, prescaled=True, float64=norm.in_float64)
    return _divide(ops, y, size, norm, e), None


def _divide(ops: Any, y: Any, size: Any, norm: Normalization, e: Any) -> Any:
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


def _aol(ops: Any, y: Any, e: Any, norm: Normalization) -> tuple[Any, Any]:
    """AOL: X₀ = D Y/scale, D = diag(1/√max(rᵢ, ε·4^-e)), rᵢ = Σⱼ|(YYᵀ)ᵢⱼ|; G = D(YYᵀ)D/scale² (e = None: 0).

    (X = 2^e·Y, so the rows sums of |XXᵀ| are 4^e·rᵢ and DX = D_Y·Y exactly.) Every
    absolute row sum of G is ≤ 1/scale², hence σ₁(X₀) ≤ 1/scale (Prach & Lampert 2022, Thm 1).
    The product order is microsoft/dion's (``newton_schulz_triton_fast``): X·s, then (A·s)·sᵀ.
    """
    a = y @ y.mT
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


def gram_polynomial(ops: Any, a: Any, row: tuple) -> Any:
    """S = c₁A + c₂A² + … + c_kA^k (Horner; zero matrix for a linear row)."""
    coeffs = [ops.scalar(c) for c in row[1:]]
    if not coeffs:
        return a * ops.scalar(0)
    if len(coeffs) == 1:
        return a * coeffs[0]
    # Innermost pair fused as c_{k−1}A + c_k·(A A) (the form of torch.optim.Muon's step, so a
    # degree-5 row rounds exactly as it does), then Horner: S ← c A + S A.
    s = ops.addmm(a, a, a, beta=coeffs[-2], alpha=coeffs[-1])
    for c in reversed(coeffs[:-2]):
        s = ops.addmm(a, s, a, beta=c)
    return s


def iterate(ops: Any, x: Any, rows: list[tuple], gram: Any = None) -> Any:
    """Apply the schedule rows to a wide working array x (m ≤ n); products only, in ``ops.fast`` form.

    ``gram``: X Xᵀ of the input if the normalisation formed it (AOL), used by the first step.
    A cubic row (c₀, c₁) is one fused product X ← c₀X + c₁·(A X) (Emerging-Optimizers' form).
    """
    x = ops.fast(x)
    a = None if gram is None else ops.fast(gram)
    for row in rows:
        a = x @ x.mT if a is None else a
        if len(row) == 2:
            x = ops.addmm(x, a, x, beta=ops.scalar(row[0]), alpha=ops.scalar(row[1]))
        else:
            x = ops.addmm(x, gram_polynomial(ops, a, row), x, beta=ops.scalar(row[0]))
        a = None
    return ops.slow(x)


def newton_schulz(
    X: Any,
    schedule: str | Schedule = "polar_express",
    steps: int | None = None,
    *,
    normalize: Any = None,
    compute_dtype: Any = None,
    check_finite: bool = True,
) -> Any:
    """Approximate polar factor U Vᵀ of X by an odd-polynomial schedule (matmul only).

    Parameters
    ----------
    X : torch.Tensor, mpmath.matrix or object ndarray, shape (..., m, n)
        Batched over leading dimensions; each matrix is normalised on its own.
    schedule : str or Schedule
        A name in :data:`spectral_la.schedules` or a :class:`Schedule`.
    steps : int, optional
        Number of steps (default: the schedule's). 0 returns the normalised X.
    normalize : None, a kind name ("frobenius", "frobenius_clamp", "spectral", "scale_safe", "aol", "none")
        or a Normalization
        None uses the schedule's own (e.g. Polar Express: X/(1.01‖X‖_F + 1e-7)).
    compute_dtype : torch.dtype, optional
        torch compute dtype; default fp64/fp32 as given, bf16/fp16 upcast to
        fp32 (pass ``torch.bfloat16`` to iterate in bf16 as Muon does on GPU).
        The result has X's dtype.
    check_finite : bool
        Reject NaN/Inf in X, and raise :class:`DivergedError` for a result that is not finite or far
        outside the schedule's band (:func:`check_iterates`; two host syncs on a GPU; off in a
        training loop).

    Returns
    -------
    Same kind and shape as X: U f(Σ̂) Vᵀ with Σ̂ the normalised singular values
    and f the composed polynomial (:func:`scalar_map`).

    Examples
    --------
    >>> import torch
    >>> X = torch.diag(torch.tensor([1.0, 0.5, 0.1], dtype=torch.float64))
    >>> Y = newton_schulz(X, "newton_schulz_quintic", steps=10, normalize="none")
    >>> torch.allclose(Y, torch.eye(3, dtype=torch.float64))
    True
    """
    ops, x, restore, rows, norm, normalised = prepare(X, schedule, steps, normalize, compute_dtype, check_finite)
    with ops.guard():
        y = normalised_iteration(ops, x, rows, norm)
    if check_finite:
        check_iterates(y, rows, normalised, schedule)
    return restore(y)


def check_iterates(y: Any, rows: list[tuple], normalised: bool, schedule: str | Schedule) -> None:
    """Raise :class:`DivergedError` if a fixed-step iteration left its band (one reduction, one host sync).

    From a normalised input (σ̂ ≤ 1) the result has singular values f(σ̂) with |f| ≤ B, the band of
    the rows on [0, 1] (:func:`band`), so ‖Y‖_F ≤ B·√r, r = min(m, n), in exact arithmetic. A result
    that is not finite, or whose norm exceeds 2·max(B, 1)·√r, comes from a σ̂ that rounding put above
    the range the rows keep bounded: e.g. Emerging-Optimizers' cans rows in bf16 (p₁(1) ≈ 1.99 with
    slope ≈ 26 there) turn σ̂ = 1.0002 into 5e7. Without a normalisation (``normalised`` False, the
    caller's ``normalize="none"``) only finiteness is checked.
    A direction pushed out by less than that factor is not caught (the norm mixes all r of them).
    """
    import torch

    if not isinstance(y, torch.Tensor):
        return
    r = min(y.shape[-2], y.shape[-1])
    size = torch.linalg.matrix_norm(y.to(torch.float32) if y.dtype in (torch.bfloat16, torch.float16) else y)
    cap = 2 * max(band(tuple(rows)), 1.0) * r**0.5 if normalised else float("inf")
    if bool((size <= cap).all()):  # False for NaN and Inf
        return
    name = schedules.resolve(schedule).name
    what = "left the finite range" if not bool(torch.isfinite(y).all()) else f"left its band (‖Y‖_F > {cap:.3g})"
    raise DivergedError(
        f"the iteration of schedule {name!r} in {y.dtype} {what}: rounding put a normalised singular value "
        "above the range the rows keep bounded; use fewer steps, a wider compute dtype or a schedule with a "
        "safety margin above 1 (analysis.schedule_response.schedule_bands: max_f_on_[u,1.01u])"
    )


@functools.lru_cache(maxsize=256)
def band(rows: tuple) -> float:
    """max |f(σ)| over σ ∈ [0, 1] of the composed rows (float64, a linear and a log grid; cached)."""
    import torch

    sigma = torch.cat(
        [torch.linspace(0, 1, 2001, dtype=torch.float64), torch.logspace(-8, 0, 2001, dtype=torch.float64)]
    )
    ops, x, restore = sigma_batch(sigma)
    return float(restore(iterate(ops, x, list(rows))).abs().max())


class Prepared(NamedTuple):
    """What every NS-family entry point starts from (:func:`prepare`)."""

    ops: Any
    x: Any
    restore: Any
    rows: list
    normalization: Normalization
    normalised: bool  # whether the iteration starts from a normalised X (σ̂ ≤ 1): what check_iterates needs


def prepare(
    X: Any, schedule: str | Schedule, steps: int | None, normalize: Any, compute_dtype: Any, check_finite: bool
) -> Prepared:
    """Shared prologue of the NS-family entry points (used by gram NS, soften)."""
    sched = schedules.resolve(schedule)
    rows = sched.coefficients(steps)
    norm = resolve_normalization(normalize, sched)
    if norm.before_cast and compute_dtype is not None and norm.kind != "none":
        ops_in, x_in, restore = working(X, check_finite_entries=check_finite)
        if ops_in.kind == "torch" and ops_in.dtype != compute_dtype:
            # normalise in the input's precision, then round to the compute dtype (Normalization.before_cast)
            x0 = on_wide(lambda w: apply_normalization(ops_in, w, norm), x_in)
            ops, x0, _ = working(x0, compute_dtype=compute_dtype, check_finite_entries=False)
            return Prepared(ops, x0, restore, rows, NO_NORMALIZATION, True)
    ops, x, restore = working(X, compute_dtype=compute_dtype, check_finite_entries=check_finite)
    return Prepared(ops, x, restore, rows, norm, norm.kind != "none")


#: What the iteration applies to an input its prologue has already normalised.
NO_NORMALIZATION = Normalization(kind="none")


def normalised_iteration(ops: Any, x: Any, rows: list[tuple], norm: Normalization) -> Any:
    """Normalise and iterate on the wide orientation of x; the body of :func:`newton_schulz`."""

    def run(w: Any) -> Any:
        x0, gram = normalise_with_gram(ops, w, norm)
        return iterate(ops, x0, rows, gram)

    return on_wide(run, x)


def on_wide(fn: Any, x: Any) -> Any:
    """Apply ``fn`` to x in its wide orientation (m ≤ n, smaller Gram X Xᵀ) and transpose back."""
    if x.shape[-2] > x.shape[-1]:
        return fn(x.mT).mT
    return fn(x)


def scalar_map(schedule: str | Schedule, sigma: Any, steps: int | None = None) -> Any:
    """f(σ) = p_T ∘ … ∘ p₁(σ) of a schedule, evaluated by the matrix iteration itself on 1 × 1 matrices.

    ``sigma``: a torch tensor or NumPy float array of any shape (evaluated in
    its dtype), or an mpmath / Python number or a sequence of them (evaluated at
    ``mp.prec``); the result has the same kind (:func:`spectral_la.backend.sigma_batch`).
    No normalisation is applied: σ is the already-normalised singular value.
    """
    rows = schedules.resolve(schedule).coefficients(steps)
    ops, x, restore = sigma_batch(sigma)
    with ops.guard():
        return restore(iterate(ops, x, rows))
