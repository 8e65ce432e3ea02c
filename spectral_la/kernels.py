"""The kernels every matmul-only iteration shares: the odd-polynomial step, its Gram polynomial,
the wide orientation, and matrix powers.

* :func:`iterate` applies schedule rows to a wide X (m ≤ n): per row (c₀, …, c_k),
  A = XXᵀ, S = c₁A + … + c_kA^k (:func:`gram_polynomial`, Horner with fused ``addmm``;
  A and the innermost c_{k−1}A + c_kA² are symmetric products, ``ops.gram``/``ops.gram_addmm``),
  X ← c₀X + S X. It is the matrix iteration and, on 1 × 1 matrices, the scalar map
  (ARCHITECTURE.md, principle 1); Newton–Schulz, Gram NS, softening and the coupled
  Newton–Schulz roots all run it.
* :func:`on_wide` applies a map in the orientation whose Gram matrix is the smaller one.
* :func:`matrix_power` is binary powering, used by the coupled roots and Muon^p.
"""

from __future__ import annotations

from typing import Any

from spectral_la.backend import Ops

__all__ = ["gram_polynomial", "iterate", "matrix_power", "on_wide", "to_wide"]


def gram_polynomial(ops: Ops, a: Any, row: tuple) -> Any:
    """S = c₁A + c₂A² + … + c_kA^k (Horner; zero matrix for a linear row)."""
    coeffs = [ops.scalar(c) for c in row[1:]]
    if not coeffs:
        return a * ops.scalar(0)
    if len(coeffs) == 1:
        return a * coeffs[0]
    # Innermost pair fused as c_{k−1}A + c_k·(A A) (the form of torch.optim.Muon's step, so a
    # degree-5 row rounds exactly as it does), then Horner: S ← c A + S A.
    s = ops.gram_addmm(a, coeffs[-2], coeffs[-1])
    for c in reversed(coeffs[:-2]):
        s = ops.addmm(a, s, a, beta=c)
    return s


def iterate(ops: Ops, x: Any, rows: list[tuple], gram: Any = None, observe: Any = None) -> Any:
    """Apply the schedule rows to a wide working array x (m ≤ n); products only, in ``ops.for_products`` form.

    ``gram``: X Xᵀ of the input if the normalisation formed it (AOL), used by the first step.
    A cubic row (c₀, c₁) is one fused product X ← c₀X + c₁·(A X) (Emerging-Optimizers' form).
    ``observe(k, a, s, x)``: called after step k with its A = XXᵀ, its polynomial term S (None for a
    cubic row, whose term is fused) and the new X, in the loop's representation (the step traces of
    :mod:`analysis.low_precision`; no copy is made).
    """
    x = ops.for_products(x)
    a = None if gram is None else ops.for_products(gram)
    for k, row in enumerate(rows):
        a = ops.gram(x) if a is None else a
        s = None
        if len(row) == 2:
            x = ops.addmm(x, a, x, beta=ops.scalar(row[0]), alpha=ops.scalar(row[1]))
        else:
            s = gram_polynomial(ops, a, row)
            x = ops.addmm(x, s, x, beta=ops.scalar(row[0]))
        if observe is not None:
            observe(k, a, s, x)
        a = None
    return ops.from_products(x)


def to_wide(x: Any) -> tuple[Any, Any]:
    """``(w, back)``: x in its wide orientation (m ≤ n, smaller Gram X Xᵀ) and the map orienting a result back."""
    if x.shape[-2] > x.shape[-1]:
        return x.mT, lambda y: y.mT
    return x, lambda y: y


def on_wide(fn: Any, x: Any) -> Any:
    """Apply ``fn`` to x in its wide orientation and transpose back (:func:`to_wide`)."""
    w, back = to_wide(x)
    return back(fn(w))


def matrix_power(ops: Ops, t: Any, k: int, *, symmetric: bool = False) -> Any:
    """t^k by binary powering (⌊log₂k⌋ squarings + popcount(k) − 1 products).

    ``symmetric``: t is symmetric, so each squaring t·t = t tᵀ is a symmetric product (``ops.gram``).
    """
    result = None
    base = t
    while k:
        if k & 1:
            result = base if result is None else result @ base
        k >>= 1
        if k:
            base = ops.gram(base) if symmetric else base @ base
    return result
