"""Symmetric products at half the work: G = X Xᵀ and βA + αA² (A symmetric).

Every Newton–Schulz-type step forms A = X Xᵀ and, for degree ≥ 5, A·A with A symmetric
(:func:`spectral_la.kernels.iterate`). Both results are symmetric, so only one triangle
needs computing: a rank-k update (BLAS ``?syrk``, C ← αAAᵀ + βC on one triangle) does
m²n instead of 2m²n flops for X Xᵀ (m × n) and m³ instead of 2m³ for A². For the quintic
step on a 1024 × 4096 matrix that is 0.72× the flops of the step with general products.

Routes (chosen per backend object by :func:`route`):

* ``"blas"`` -- CPU float32/float64: MKL's ``ssyrk``/``dsyrk``, from the library torch runs
  its own products on (:func:`_mkl_syrk`), fill one triangle and a blocked copy mirrors it
  (a copy, no arithmetic: the result is exactly symmetric).
* ``"triton"`` -- CUDA float32/float16/bfloat16: one Triton kernel computes the tiles on
  and above the diagonal and writes each off-diagonal tile twice
  (:mod:`spectral_la.syrk_triton`); fp32 runs with IEEE products (no TF32).
* ``"plain"`` -- the general product ``x @ x.mT`` (every other dtype and device).

The mode is set with :func:`symmetric_products` (a context manager); the default ``"auto"``
takes the BLAS route on the CPU for m ≥ :data:`AUTO_MIN_ROWS` (below that the mirror and the
call overhead eat the gain, measured in ``benchmarks``) and the plain product on CUDA until
the Triton kernel has been measured against cuBLAS there (``scripts/gpu_check.sh``).
``"on"`` takes a symmetric route wherever one exists, whatever the size; ``"off"`` never.

Rounding: the symmetric kernels sum each entry's n products in a different order than the
general product, so results differ in the last bits (``|Δ| ≤ γ_n·|X||X|ᵀ`` either way, Higham 2002,
§3.5); nothing that asserts bit-identity with a peer's general-product code runs through them
(``tests/test_symmetric_products.py``).
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import functools
import math
import os
from collections.abc import Iterator
from typing import Any

import torch

__all__ = [
    "AUTO_MIN_ROWS",
    "MODES",
    "blas_available",
    "blas_flops",
    "gram",
    "gram_addmm",
    "mode",
    "route",
    "symmetric_products",
]

MODES = ("auto", "on", "off")
# CPU, "auto": the smallest m at which the BLAS route beat torch's products in a whole Newton–Schulz run,
# measured on a 2-core AMD EPYC (fp32: 0.83× at 1024 × 4096 and 0.84× at 1024², 1.04× at 512 × 2048; fp64: 0.92×
# at 512 × 2048 and 0.93× at 1024 × 4096).
AUTO_MIN_ROWS = {torch.float32: 1024, torch.float64: 512}
_MODE: contextvars.ContextVar[str] = contextvars.ContextVar("spectral_la_symmetric_products", default="auto")
_MIRROR_BLOCK = 128
_TALLY: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("spectral_la_blas_flops", default=None)


@contextlib.contextmanager
def symmetric_products(value: str) -> Iterator[None]:
    """Within the block, form X Xᵀ and A² by symmetric kernels: ``"on"``, ``"off"`` or where they pay (``"auto"``).

    >>> with symmetric_products("off"):
    ...     mode()
    'off'
    """
    if value not in MODES:
        raise ValueError(f"symmetric_products must be one of {MODES}, got {value!r}")
    token = _MODE.set(value)
    try:
        yield
    finally:
        _MODE.reset(token)


@contextlib.contextmanager
def blas_flops() -> Iterator[list[int]]:
    """Count the flops the BLAS route executes within the block (torch's own counter cannot see them).

    Yields a one-element list whose entry grows by m(m+1)n per ``?syrk`` of an m × n X;
    ``benchmarks.flops`` adds it to torch's count.
    """
    tally = [0]
    token = _TALLY.set(tally)
    try:
        yield tally
    finally:
        _TALLY.reset(token)


def _count(flops: int) -> None:
    tally = _TALLY.get()
    if tally is not None:
        tally[0] += flops


def mode() -> str:
    """The mode in force: ``"auto"``, ``"on"`` or ``"off"``."""
    return _MODE.get()


def route(dtype: torch.dtype, device: torch.device) -> str:
    """``"blas"``, ``"triton"`` or ``"plain"``: how a backend on this dtype and device forms symmetric products.

    Under ``torch.compile`` always ``"plain"``: the compiler traces torch's own products (a BLAS call
    through ctypes, or the mode's context variable, would break the graph).
    """
    if torch.compiler.is_compiling():
        return "plain"
    current = _MODE.get()
    if current == "off":
        return "plain"
    if device.type == "cpu" and dtype in (torch.float32, torch.float64):
        # Whether MKL's ?syrk is really there is checked (once, ~0.1 s: a library load and a
        # self-check) on the first product large enough to use it, not here: a process that only
        # forms small products never pays for it.
        return "blas" if torch.backends.mkl.is_available() else "plain"
    if current == "on" and dtype in (torch.float32, torch.float16, torch.bfloat16):
        from spectral_la import syrk_triton

        if syrk_triton.available() and (device.type == "cuda" or syrk_triton.interpreted()):
            return "triton"
    return "plain"


def _pays(x: torch.Tensor) -> bool:
    """Whether the BLAS route applies: large enough (or forced), no autograd graph to keep, ?syrk loaded."""
    # A 1 × 1 product (a scalar map's σ batch: thousands of them) has no triangle to save, and one BLAS
    # call per member made the divergence check of a 3 × 5 iteration take seconds under "on".
    if x.requires_grad or x.shape[-2] < 2 or x.numel() == 0:
        return False
    forced_or_large = _MODE.get() == "on" or x.shape[-2] >= AUTO_MIN_ROWS.get(x.dtype, 1 << 62)
    return forced_or_large and _mkl_syrk() is not None  # loaded (once) only for a product that would use it


def gram(x: torch.Tensor, how: str) -> torch.Tensor:
    """X Xᵀ for x of shape (..., m, n) by the route ``how`` (see :func:`route`)."""
    if how == "blas" and _pays(x):
        return _blas(x, None, 0.0, 1.0)
    if how == "triton":
        from spectral_la import syrk_triton

        return syrk_triton.syrk(x)
    return x @ x.mT


def gram_addmm(a: torch.Tensor, beta: float, alpha: float, how: str) -> torch.Tensor | None:
    """βA + αA² for a symmetric A (..., m, m): the fused pair of a Horner step; None on the plain route."""
    if how == "blas" and _pays(a):
        return _blas(a, a, beta, alpha)
    if how == "triton":
        from spectral_la import syrk_triton

        return syrk_triton.syrk(a, c=a, beta=beta, alpha=alpha)
    return None


def blas_available() -> bool:
    """Whether MKL's ?syrk is callable here (loads and self-checks it once per process, ~0.1 s)."""
    return _mkl_syrk() is not None


@functools.cache
def _mkl_syrk() -> dict[torch.dtype, Any] | None:
    """MKL's ?syrk from the library torch itself runs on (its OpenMP threads), or None where torch has none.

    torch's CPU build links MKL statically and exports its BLAS entry points; calling ?syrk there
    keeps every product of an iteration in one thread pool. (A second BLAS, e.g. SciPy's OpenBLAS,
    would leave its threads spinning after each call, slowing the torch products that follow by
    up to 2.5× here.) A 40 × 70 self-check against ``x @ x.mT`` guards the calling convention.
    """
    if not torch.backends.mkl.is_available():
        return None
    try:
        lib = ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))
        found = {torch.float32: lib.mkl_blas_ssyrk, torch.float64: lib.mkl_blas_dsyrk}
    except (OSError, AttributeError):
        return None
    for dtype, fn in found.items():
        fn.restype = None
        x = torch.randn(40, 70, dtype=dtype, generator=torch.Generator().manual_seed(0))
        out = torch.zeros(40, 40, dtype=dtype)
        _syrk_into(x, out, 0.0, 1.0, fn)
        # Both sum 70 products per entry: within 2γ₇₀·max(|X||X|ᵀ) of each other (Higham 2002, §3.5).
        tol = 2 * 70 * float(torch.finfo(dtype).eps) * float((x.abs() @ x.abs().mT).max())
        if not float((torch.tril(out) - torch.tril(x @ x.mT)).abs().max()) <= tol:
            return None
    return found


def _syrk_into(x: torch.Tensor, out: torch.Tensor, beta: float, alpha: float, fn: Any = None) -> None:
    """out ← α X Xᵀ + β out on out's lower triangle (C order), X 2-D, out C-contiguous m × m."""
    m, n = x.shape
    if x.stride(-1) == 1 and x.stride(-2) == n:  # C order: column-major Xᵀ (n × m), "T" forms X Xᵀ
        trans, lda = b"T", n
    elif x.stride(-2) == 1 and x.stride(-1) == m:  # F order (a transposed view): column-major X, "N"
        trans, lda = b"N", m
    else:
        x = x.contiguous()
        trans, lda = b"T", n
    real = ctypes.c_double if x.dtype == torch.float64 else ctypes.c_float
    ref = ctypes.byref
    # Column-major "U" of out is its row-major lower triangle.
    fn = _mkl_syrk()[x.dtype] if fn is None else fn  # type: ignore[index]
    fn(
        ref(ctypes.c_char(b"U")), ref(ctypes.c_char(trans)), ref(ctypes.c_int(m)), ref(ctypes.c_int(n)),
        ref(real(alpha)), ctypes.c_void_p(x.data_ptr()), ref(ctypes.c_int(lda)),
        ref(real(beta)), ctypes.c_void_p(out.data_ptr()), ref(ctypes.c_int(m)),
    )  # fmt: skip


def _blas(x: torch.Tensor, c: torch.Tensor | None, beta: float, alpha: float) -> torch.Tensor:
    """αXXᵀ + βC by ?syrk per matrix of the batch, the lower triangle mirrored to a full symmetric result."""
    m, n = x.shape[-2:]
    _count(math.prod(x.shape[:-2]) * m * (m + 1) * n)
    xs = x.reshape(-1, m, n)
    if c is None:
        out = torch.empty((xs.shape[0], m, m), dtype=x.dtype)
    else:
        out = c.expand(*x.shape[:-2], m, m).reshape(-1, m, m).clone(memory_format=torch.contiguous_format)
    for i in range(xs.shape[0]):
        _syrk_into(xs[i], out[i], beta, alpha)
        _mirror_lower(out[i])
    return out.reshape(*x.shape[:-2], m, m)


def _mirror_lower(c: torch.Tensor) -> None:
    """Copy the lower triangle of the square ``c`` onto its upper triangle, in place, block by block (a copy:
    the result is exactly symmetric)."""
    m = c.shape[0]
    b = _MIRROR_BLOCK
    for i in range(0, m, b):
        j = min(i + b, m)
        d = c[i:j, i:j]
        d.copy_(torch.tril(d) + torch.tril(d, -1).mT)
        if j < m:
            c[i:j, j:].copy_(c[j:, i:j].mT)
