"""The symmetric product C = αXXᵀ + βC₀ as one Triton kernel (CUDA; the interpreter on CPU for tests).

The m × m result is tiled in BLOCK × BLOCK tiles; the program for tile (i, j) returns at once
when i > j, so only the tiles on and above the diagonal are computed (about half the flops
of the general product for m ≫ BLOCK) and each off-diagonal tile is stored twice, as itself
and as its transpose at (j, i); a diagonal tile keeps its upper triangle and mirrors it, so the
result is symmetric bit for bit whatever order ``tl.dot`` sums in. This is the idea of the peers'
symmetric kernels (dion's Triton Newton–Schulz, flash-muon's ``matmul_transpose``); the code is ours. Products
accumulate in float32 (``tl.dot``); float32 inputs use IEEE products, not TF32, to round like
torch's default fp32 matmul.

Batched inputs (..., m, n) run as a third grid axis. Triton is imported lazily: without it
:func:`available` is False and :mod:`spectral_la.symmetric_products` takes the plain product.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import torch

__all__ = ["available", "interpreted", "syrk"]

BLOCK = 32  # tile side: small enough for the interpreter in CI, a multiple of 16 for tl.dot
BLOCK_K = 32


@functools.cache
def available() -> bool:
    """Whether Triton can be imported."""
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except ImportError:
        return False
    return True


def interpreted() -> bool:
    """Whether Triton runs in its CPU interpreter (``TRITON_INTERPRET=1``): the kernel on CPU tensors, for tests."""
    return os.environ.get("TRITON_INTERPRET") == "1"


@functools.cache
def _kernel() -> Any:
    import triton
    import triton.language as tl

    @triton.jit
    def syrk_kernel(
        x_ptr, c_ptr, out_ptr, m, k,
        sxb, sxm, sxk, scb, scm, scn, sob, som, son,
        alpha, beta,
        HAS_C: tl.constexpr, IEEE: tl.constexpr, UPCAST: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_KK: tl.constexpr,
    ):  # fmt: skip
        pid_i = tl.program_id(0)
        pid_j = tl.program_id(1)
        b = tl.program_id(2)
        if pid_i <= pid_j:
            ri = pid_i * BLOCK_M + tl.arange(0, BLOCK_M)
            rj = pid_j * BLOCK_M + tl.arange(0, BLOCK_M)
            acc = tl.zeros((BLOCK_M, BLOCK_M), dtype=tl.float32)
            for k0 in range(0, k, BLOCK_KK):
                rk = k0 + tl.arange(0, BLOCK_KK)
                xi = tl.load(
                    x_ptr + b * sxb + ri[:, None] * sxm + rk[None, :] * sxk,
                    mask=(ri[:, None] < m) & (rk[None, :] < k),
                    other=0.0,
                )
                xj = tl.load(
                    x_ptr + b * sxb + rj[None, :] * sxm + rk[:, None] * sxk,
                    mask=(rj[None, :] < m) & (rk[:, None] < k),
                    other=0.0,
                )
                if UPCAST:
                    xi = xi.to(tl.float32)
                    xj = xj.to(tl.float32)
                if IEEE:
                    acc += tl.dot(xi, xj, input_precision="ieee")
                else:
                    acc += tl.dot(xi, xj)
            acc = acc * alpha
            tile = (ri[:, None] < m) & (rj[None, :] < m)
            if HAS_C:
                c0 = tl.load(c_ptr + b * scb + ri[:, None] * scm + rj[None, :] * scn, mask=tile, other=0.0)
                acc += c0.to(tl.float32) * beta
            val = acc.to(out_ptr.dtype.element_ty)
            # The entries on and above the diagonal are stored as computed, those below as their mirror:
            # a diagonal tile's own dot need not be bitwise symmetric (the interpreter's BLAS may sum
            # entry (a, b) and (b, a) in different orders), the result always is.
            upper = ri[:, None] <= rj[None, :]
            strict = ri[:, None] < rj[None, :]
            tl.store(out_ptr + b * sob + ri[:, None] * som + rj[None, :] * son, val, mask=tile & upper)
            tl.store(
                out_ptr + b * sob + rj[:, None] * som + ri[None, :] * son, tl.trans(val), mask=tl.trans(tile & strict)
            )

    return syrk_kernel


def syrk(x: torch.Tensor, c: torch.Tensor | None = None, beta: float = 0.0, alpha: float = 1.0) -> torch.Tensor:
    """α X Xᵀ + β C for x of shape (..., m, n) and a symmetric c of shape (..., m, m), in x's dtype."""
    import triton

    m, n = x.shape[-2:]
    batch = x.shape[:-2]
    xs = x.reshape(-1, m, n)
    out = torch.empty((xs.shape[0], m, m), dtype=x.dtype, device=x.device)
    cs = out if c is None else c.expand(*batch, m, m).reshape(-1, m, m)
    # Triton 3.9's interpreter multiplies bf16 tiles wrongly in tl.dot; there the tiles go up to fp32 first,
    # which changes nothing (a bf16 × bf16 product is exact in fp32, and tl.dot accumulates in fp32 anyway).
    upcast = x.dtype == torch.bfloat16 and interpreted()
    grid = (triton.cdiv(m, BLOCK), triton.cdiv(m, BLOCK), xs.shape[0])
    _kernel()[grid](
        xs, cs, out, m, n,
        *xs.stride(), *cs.stride(), *out.stride(),
        float(alpha), float(beta),
        HAS_C=c is not None, IEEE=x.dtype == torch.float32 or upcast, UPCAST=upcast, BLOCK_M=BLOCK, BLOCK_KK=BLOCK_K,
    )  # fmt: skip
    return out.reshape(*batch, m, m)
