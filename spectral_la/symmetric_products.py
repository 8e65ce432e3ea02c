"""Symmetric products at half the work: G = X Xᵀ and βA + αA² (A symmetric).

Every Newton–Schulz-type step forms A = X Xᵀ and, for degree ≥ 5, A·A with A symmetric
(:func:`spectral_la.kernels.iterate`). Both results are symmetric, so only one triangle
needs computing: a rank-k update (BLAS ``?syrk``, C ← αAAᵀ + βC on one triangle) does
m²n instead of 2m²n flops for X Xᵀ (m × n) and m³ instead of 2m³ for A². For the quintic
step on a 1024 × 4096 matrix that is 0.72× the flops of the step with general products.

Routes (chosen per backend object by :func:`route`):

* ``"blas"`` -- CPU float32/float64: SciPy's ``ssyrk``/``dsyrk`` fill the upper triangle
  and a blocked copy mirrors it (a copy, no arithmetic: the result is exactly symmetric).
* ``"triton"`` -- CUDA float32/float16/bfloat16: one Triton kernel computes the tiles on
  and above the diagonal and writes each off-diagonal tile twice
  (:mod:`spectral_la.syrk_triton`); fp32 runs with IEEE products (no TF32).
* ``"plain"`` -- the general product ``x @ x.mT`` (every other dtype and device).

The mode is set with :func:`symmetric_products` (a context manager); the default ``"auto"``
takes the BLAS route on the CPU for m ≥ :data:`AUTO_MIN_ROWS` (below that the mirror and the
call overhead eat the gain, measured in ``benchmarks``; on that route the general product of a
step goes to the same BLAS, :func:`blas_addmm`) and the plain product on CUDA until
the Triton kernel has been measured against cuBLAS there (``scripts/gpu_check.sh``).
``"on"`` takes a symmetric route wherever one exists, whatever the size; ``"off"`` never.

Rounding: the symmetric kernels sum each entry's n products in a different order than the
general product, so results differ in the last bits (|Δ| ≤ γ_n·|X||X|ᵀ either way, Higham 2002,
§3.5); nothing that asserts bit-identity with a peer's general-product code runs through them
(``tests/test_symmetric_products.py``).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["AUTO_MIN_ROWS", "MODES", "gram", "gram_addmm", "mode", "route", "symmetric_products"]

MODES = ("auto", "on", "off")
# CPU, "auto": the smallest m at which the BLAS route beat torch's products in a whole Newton–Schulz run,
# measured on a 2-core AMD EPYC (fp32: 0.83× at 1024 × 4096, 1.13× at 512 × 2048; fp64: 0.90× at 512 × 2048).
AUTO_MIN_ROWS = {torch.float32: 1024, torch.float64: 512}
_MODE: contextvars.ContextVar[str] = contextvars.ContextVar("spectral_la_symmetric_products", default="auto")
_MIRROR_BLOCK = 32


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


def mode() -> str:
    """The mode in force: ``"auto"``, ``"on"`` or ``"off"``."""
    return _MODE.get()


def _triton_available() -> bool:
    from spectral_la import syrk_triton

    return syrk_triton.available()


def route(dtype: torch.dtype, device: torch.device) -> str:
    """``"blas"``, ``"triton"`` or ``"plain"``: how a backend on this dtype and device forms symmetric products."""
    current = _MODE.get()
    if current == "off":
        return "plain"
    if device.type == "cpu" and dtype in (torch.float32, torch.float64):
        return "blas"
    if current == "on" and dtype in (torch.float32, torch.float16, torch.bfloat16) and _triton_available():
        if device.type == "cuda" or syrk_interpreted():
            return "triton"
    return "plain"


def syrk_interpreted() -> bool:
    """Whether Triton runs in its interpreter (``TRITON_INTERPRET=1``): the Triton route on CPU tensors, for tests."""
    import os

    return os.environ.get("TRITON_INTERPRET") == "1"


def _pays(x: torch.Tensor, *others: torch.Tensor) -> bool:
    """Whether the BLAS route applies: large enough (or forced) and no autograd graph to keep."""
    if x.requires_grad or any(t.requires_grad for t in others):
        return False
    return _MODE.get() == "on" or x.shape[-2] >= AUTO_MIN_ROWS.get(x.dtype, 1 << 62)


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


def blas_addmm(c: torch.Tensor, a: torch.Tensor, b: torch.Tensor, beta: float, alpha: float) -> torch.Tensor | None:
    """βC + α·A B by BLAS ?gemm for 2-D CPU operands where the BLAS route pays; None otherwise.

    On the BLAS route the general product of a step goes to the same BLAS as its symmetric
    products: alternating between SciPy's OpenBLAS threads and torch's OpenMP threads costs
    more than the symmetric kernels save (measured: 1.2× the plain step at 1024 × 4096 fp32).
    """
    if not (a.ndim == b.ndim == c.ndim == 2 and _pays(a, b, c) and c.shape == (a.shape[0], b.shape[1])):
        return None
    from scipy.linalg import blas

    gemm = blas.dgemm if a.dtype == torch.float64 else blas.sgemm
    # Column-major view: (βC + αAB)ᵀ = βCᵀ + α·BᵀAᵀ, and a C-order array read column-major is its transpose.
    b_arg, trans_b = _column_major_transpose(b.numpy())
    a_arg, trans_a = _column_major_transpose(a.numpy())
    c_init = np.array(c.numpy().T, order="F")
    out = gemm(alpha, b_arg, a_arg, beta=beta, c=c_init, trans_a=trans_b, trans_b=trans_a, overwrite_c=1)
    return torch.from_numpy(out.T)


def _column_major_transpose(m: np.ndarray) -> tuple[np.ndarray, int]:
    """(array, trans) such that op(array) read column-major is mᵀ, without a copy where m's layout allows."""
    if m.flags.c_contiguous:
        return m.T, 0  # F-contiguous, read column-major as mᵀ
    if m.flags.f_contiguous:
        return m, 1  # read column-major as m; trans gives mᵀ
    return np.ascontiguousarray(m).T, 0


def _blas(x: torch.Tensor, c: torch.Tensor | None, beta: float, alpha: float) -> torch.Tensor:
    """αXXᵀ + βC by BLAS ?syrk per matrix of the batch, mirrored to a full symmetric result."""
    from scipy.linalg import blas

    syrk = blas.dsyrk if x.dtype == torch.float64 else blas.ssyrk
    m = x.shape[-2]
    xs = x.reshape(-1, *x.shape[-2:])
    cs = None if c is None else c.reshape(-1, m, m)
    results = []
    for i in range(xs.shape[0]):
        xi = xs[i].numpy()
        # BLAS is column-major: a C-contiguous X is the column-major Xᵀ, whose "AᵀA" (trans=1) is X Xᵀ;
        # an F-contiguous X (a transposed view) is column-major X itself (trans=0).
        a_arg, trans = _column_major_transpose(xi)
        trans = 1 - trans  # syrk's trans=1 forms op(A)ᵀop(A): with op(A) = Xᵀ that is X Xᵀ
        if cs is None:
            ci = syrk(alpha, a_arg, trans=trans)
        else:
            # C symmetric: its C-order copy read column-major is C itself; syrk updates it in place.
            c_init = np.array(cs[i].numpy().T, order="F")
            ci = syrk(alpha, a_arg, beta=beta, c=c_init, trans=trans, overwrite_c=1)
        _mirror_upper(ci)
        results.append(torch.from_numpy(ci.T))  # symmetric: the C-order view of the F-order result is itself
    out = results[0] if len(results) == 1 else torch.stack(results)
    return out.reshape(*x.shape[:-2], m, m)


def _mirror_upper(c: np.ndarray) -> None:
    """Copy the upper triangle of the square ``c`` onto its lower triangle, in place, block by block.

    NumPy, not torch: a torch copy here would wake torch's thread pool between two BLAS calls
    (see :func:`blas_addmm`); measured, that costs more than the copy itself.
    """
    m = c.shape[0]
    b = _MIRROR_BLOCK
    for i in range(0, m, b):
        j = min(i + b, m)
        for k in range(i + 1, j):
            c[k, i:k] = c[i:k, k]
        if j < m:
            c[j:, i:j] = c[i:j, j:].T
