"""One algorithm, two execution paths: torch tensors and mpmath numbers.

Every routine of spectral_la is written once against the small set of
operations below (DESIGN.md, principle 1). :func:`working` inspects the input
and returns a *backend* object ``ops`` together with the input converted to the
backend's working array:

* :class:`TorchOps` -- ``torch.Tensor`` of shape ``(..., m, n)`` on any device.
  **Dtype policy**: float64 computes in float64, float32 in float32, and the
  half types (bfloat16, float16) are upcast to float32 (LAPACK/cuSOLVER have
  no half-precision SVD, eigh or QR); the result is cast back to the input
  dtype. ``ops.unit_roundoff`` is the unit roundoff u of the *compute* dtype
  (``ops.machine_epsilon`` = 2u).
* :class:`MpOps` -- an ``mpmath.matrix`` or a NumPy ``object`` array of mpmath
  numbers with shape ``(..., m, n)`` (batched). Matrix products use NumPy's
  ``@`` on object arrays; decompositions use mpmath (``svd_r``, ``eigsy``,
  ``qr``, ``cholesky``). It runs at the caller's ``mp.prec`` plus
  :data:`GUARD_BITS` guard bits and rounds the result back to ``mp.prec``; ``ops.unit_roundoff``
  is the working precision's unit roundoff.

Scalars that drive an iteration (weights, interval ends) are host numbers:
Python floats for torch (so no device synchronisation), ``mpf`` for mpmath.
``ops.host_math`` is the scalar math module for them (:mod:`math` or ``mpmath.mp``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import mpmath
import numpy as np
import torch

from spectral_la import mp_kernels
from spectral_la.validation import check_finite, check_matrix_shape

__all__ = ["GUARD_BITS", "MpArray", "MpOps", "Ops", "TorchOps", "sigma_batch", "working"]

#: Guard bits added to ``mp.prec`` inside a routine on the mpmath path.
GUARD_BITS = 20

_HALF_TYPES = (torch.float16, torch.bfloat16)


class Ops(Protocol):
    """The backend contract: everything an algorithm may ask of its numbers (ARCHITECTURE.md).

    Arrays have shape ``(..., m, n)`` and support ``@``, ``.mT``, slicing and
    elementwise ``+ − × ÷`` with each other and with host scalars; everything
    else goes through these methods, so no algorithm asks which kind it holds.
    Implementations: :class:`TorchOps` (any device and dtype) and :class:`MpOps`
    (mpmath numbers, python-flint kernels).
    """

    @property
    def kind(self) -> str: ...  # "torch" or "mpmath": read by the backend alone
    @property
    def host_math(self) -> Any: ...  # the math module for host scalars: math or mpmath.mp

    @property
    def unit_roundoff(self) -> Any: ...  # u = 2^-t of the compute precision (never a regulariser)
    @property
    def machine_epsilon(self) -> Any: ...  # 2u, the spacing of floats at 1: rank and symmetry tolerances

    def eye(self, n: int) -> Any: ...
    def scalar(self, v: Any) -> Any: ...
    def where(self, cond: Any, a: Any, b: Any) -> Any: ...
    def sqrt(self, x: Any) -> Any: ...
    def rsqrt(self, x: Any) -> Any: ...
    def maximum(self, x: Any, v: Any) -> Any: ...
    def power(self, x: Any, p: Any) -> Any: ...
    def arcsin(self, x: Any) -> Any: ...
    def pow2_scale(self, x: Any) -> tuple[Any, Any]: ...
    def mul_pow2(self, y: Any, t: Any) -> Any: ...
    def fro(self, x: Any, *, prescaled: bool = False, float64: bool = False) -> Any: ...
    def row_abs_sums(self, x: Any) -> Any: ...  # Σⱼ|xᵢⱼ| per row, shape (..., m, 1)
    def unscaled_fro(self, x: Any, *, float64: bool = False, squared: bool = False) -> Any: ...  # ‖X‖_F or None
    def norm1_inf(self, x: Any) -> tuple[Any, Any]: ...
    def batch_max(self, x: Any) -> Any: ...
    def batch_min(self, x: Any) -> Any: ...
    def randn(self, shape: tuple, seed: int = 0) -> Any: ...
    def is_positive_definite(self, a: Any) -> bool: ...
    def cat_rows(self, a: Any, b: Any) -> Any: ...
    def addmm(self, c: Any, a: Any, b: Any, beta: Any, alpha: Any = 1) -> Any: ...
    def diagonal(self, x: Any) -> Any: ...
    def lerp(self, a: Any, b: Any, w: Any) -> Any: ...
    def flip_last(self, x: Any) -> Any: ...
    def svd(self, x: Any) -> tuple[Any, Any, Any]: ...
    def eigh(self, a: Any) -> tuple[Any, Any]: ...
    def qr(self, x: Any) -> tuple[Any, Any]: ...
    def solve_spd_right(self, x: Any, m: Any) -> Any: ...
    def inv_upper(self, r: Any) -> Any: ...
    def changes_precision(self, compute_dtype: Any) -> bool: ...  # would compute_dtype round the working array?
    def for_products(self, x: Any) -> Any: ...  # representation for a product-bound loop (@, .mT, addmm, × scalar)
    def from_products(self, x: Any) -> Any: ...  # back to the general array
    def guard(self) -> contextlib.AbstractContextManager: ...


class TorchOps:
    """Operations on torch tensors of shape ``(..., m, n)``."""

    kind = "torch"
    host_math = math

    def __init__(self, dtype: torch.dtype, device: torch.device) -> None:
        self.dtype = dtype
        self.device = device
        self.unit_roundoff = float(torch.finfo(dtype).eps) / 2  # u = 2^-t
        self.machine_epsilon = 2 * self.unit_roundoff

    # -- construction -------------------------------------------------------
    def eye(self, n: int) -> torch.Tensor:
        return torch.eye(n, dtype=self.dtype, device=self.device)

    def scalar(self, v: Any) -> float:
        return float(v)

    # -- elementwise and reductions ----------------------------------------
    @staticmethod
    def where(cond, a, b):
        return torch.where(cond, a, b)

    @staticmethod
    def sqrt(x):
        return torch.sqrt(x)

    @staticmethod
    def rsqrt(x):
        return torch.rsqrt(x)

    @staticmethod
    def maximum(x, v: float):
        return torch.clamp_min(x, v)

    @staticmethod
    def power(x, p):
        return torch.pow(x, p)

    def pow2_scale(self, x):
        """``(x·2^-e, e)`` per matrix with max|x·2^-e| ∈ [1/2, 1) (e = 0 for a zero matrix).

        Multiplying by a power of two is exact (barring underflow of entries
        below 2^-e·tiny, which are negligible against the largest), so every
        norm, square and Gram matrix formed after it is free of overflow and
        underflow whatever the input's scale (DESIGN.md, principle 6). No host
        synchronisation: e is a tensor of shape ``(..., 1, 1)``.

        Two passes over x: the largest |entry|, then one product by 2^-e, with
        -e clamped to the dtype's normal exponents so that 2^-e is itself a
        normal number. The clamp only acts where max|x| is within a
        factor 4 of the largest finite value (max|x·2^-e| ∈ [1, 4) then) or is
        subnormal (max|x·2^-e| ≥ 2^-(p+1) for p mantissa bits); e is the
        exponent actually applied, so x = 2^e·(x·2^-e) exactly in every case.
        """
        amax = x.abs().amax(dim=(-2, -1), keepdim=True)  # (an ∞-norm reduction is 10× slower in bf16 on CPU)
        _, e = torch.frexp(amax)
        info = torch.finfo(x.dtype)
        lo, hi = math.frexp(info.tiny)[1] - 1, math.frexp(info.max)[1] - 1  # 2^t normal for t ∈ [lo, hi]
        t = torch.clamp(-e, lo, hi)
        return x * torch.exp2(t.to(x.dtype)), -t.to(torch.float64)  # exponents in float64: e·p, −e/r exact

    def mul_pow2(self, y, t):
        """``y·2^t`` for a real exponent t, in two factors 2^⌊t/2⌋·2^{t−⌊t/2⌋} so none leaves the dtype's range.

        Exact (a power of two) where t is an integer; otherwise each factor is
        rounded once (relative error ≤ 2u).
        """
        if not isinstance(y, torch.Tensor):
            y = torch.tensor(y, dtype=self.dtype, device=self.device)
        t = torch.as_tensor(t, dtype=torch.float64, device=y.device)
        half = torch.floor(t / 2)
        return y * torch.exp2(half).to(y.dtype) * torch.exp2(t - half).to(y.dtype)

    def fro(self, x, *, prescaled: bool = False, float64: bool = False):
        """Frobenius norm per matrix, shape ``(..., 1, 1)``; overflows only if the norm itself does.

        ``prescaled``: x already came from :meth:`pow2_scale` (entries ≤ 1), so no second rescaling.
        ``float64``: reduce in float64 and round the norm to x's dtype.
        """
        if not prescaled:
            y, e = self.pow2_scale(x)
            return self.mul_pow2(self.fro(y, prescaled=True, float64=float64), e)
        if float64:
            return torch.linalg.vector_norm(x, dim=(-2, -1), keepdim=True, dtype=torch.float64).to(x.dtype)
        return torch.linalg.matrix_norm(x, "fro", keepdim=True)

    def unscaled_fro(self, x, *, float64: bool = False, squared: bool = False):
        """‖X‖_F per matrix without prescaling where that is provably accurate and the check is free, else None.

        Free means on the host (CPU tensors: no device synchronisation) and outside
        ``torch.compile`` (the branch would break the graph). Accurate: every
        norm is finite and ≥ √(mn·tiny/u), so squares that underflow (each < tiny) change
        ‖X‖² by at most mn·tiny ≤ u·‖X‖², and at most max/4, so c·‖X‖ with the
        normalisation's c ≤ 2 stays finite. Then X/(c‖X‖ + ε) needs no power-of-two
        prescaling, and gives the bits the prescaled route gives (:meth:`pow2_scale`).
        ``squared``: the caller forms X Xᵀ (entries ≤ ‖X‖²), so the upper limit is √(max)/2.
        """
        if x.device.type != "cpu" or torch.compiler.is_compiling():  # a compiled graph takes no host branch
            return None
        info = torch.finfo(x.dtype)
        size = self.fro(x, prescaled=True, float64=float64)
        lo = math.sqrt(x.shape[-1] * x.shape[-2] * info.tiny / info.eps)
        hi = math.sqrt(info.max) / 2 if squared else info.max / 4
        if size.numel() == 1:  # one matrix: one host read instead of three small kernels
            return size if lo <= size.item() <= hi else None  # False for NaN and Inf
        ok = (size >= lo) & (size <= hi)
        return size if bool(ok.all()) else None

    @staticmethod
    def row_abs_sums(x):
        return x.abs().sum(dim=-1, keepdim=True)

    def randn(self, shape, seed: int = 0):
        """A fixed standard normal array (a seeded generator on the device): deterministic perturbations."""
        gen = torch.Generator(device=self.device).manual_seed(seed)
        return torch.randn(shape, generator=gen, device=self.device, dtype=self.dtype)

    @staticmethod
    def is_positive_definite(a) -> bool:
        """Whether every matrix of the batch has a Cholesky factor (one host synchronisation).

        Half types are factored in float32 (torch has no bf16/fp16 Cholesky; the widening is exact).
        """
        if a.dtype in (torch.bfloat16, torch.float16):
            a = a.float()
        return bool((torch.linalg.cholesky_ex(a).info == 0).all())

    @staticmethod
    def norm1_inf(x):
        """``(‖x‖₁, ‖x‖_∞)`` per matrix, each of shape ``(..., 1, 1)``."""
        a = x.abs()
        n1 = a.sum(-2, keepdim=True).amax(-1, keepdim=True)
        ninf = a.sum(-1, keepdim=True).amax(-2, keepdim=True)
        return n1, ninf

    @staticmethod
    def batch_max(x) -> float:
        """Largest entry over the whole (batched) array, as a host float."""
        return float(x.detach().max()) if x.numel() else 0.0

    @staticmethod
    def batch_min(x) -> float:
        return float(x.detach().min()) if x.numel() else 1.0

    @staticmethod
    def cat_rows(a, b):
        """Stack ``a`` (..., m, n) on ``b`` (n, n), broadcasting ``b`` over the batch."""
        return torch.cat([a, b.expand(*a.shape[:-2], *b.shape)], dim=-2)

    @staticmethod
    def addmm(c, a, b, beta, alpha=1.0):
        """``beta·c + alpha·(a @ b)`` as one fused BLAS call (addmm / baddbmm)."""
        if a.ndim == b.ndim == c.ndim == 2:  # the common case, without the cost of broadcast_shapes
            return torch.addmm(c, a, b, beta=beta, alpha=alpha)
        batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2], c.shape[:-2])
        if not batch:
            return torch.addmm(c, a, b, beta=beta, alpha=alpha)
        m, n = a.shape[-2], b.shape[-1]
        flat = [t.expand(*batch, *t.shape[-2:]).reshape(-1, *t.shape[-2:]) for t in (c, a, b)]
        return torch.baddbmm(*flat, beta=beta, alpha=alpha).reshape(*batch, m, n)

    @staticmethod
    def diagonal(x):
        return torch.diagonal(x, dim1=-2, dim2=-1)

    @staticmethod
    def lerp(a, b, w):
        """a + w·(b − a) in one fused kernel; w = 0 returns a bit for bit."""
        return torch.lerp(a, b, w)

    @staticmethod
    def flip_last(x):
        return x.flip(-1)

    @staticmethod
    def arcsin(x):
        return torch.arcsin(x)

    # -- decompositions -----------------------------------------------------
    @staticmethod
    def svd(x):
        """Thin SVD ``U, S, Vh`` with S descending."""
        return torch.linalg.svd(x, full_matrices=False)

    @staticmethod
    def eigh(a):
        """Eigenvalues ascending and eigenvectors of a symmetric matrix."""
        return torch.linalg.eigh(a)

    @staticmethod
    def qr(x):
        return torch.linalg.qr(x, mode="reduced")

    @staticmethod
    def solve_spd_right(x, m):
        """``x @ inv(m)`` for symmetric positive definite ``m``, via Cholesky."""
        chol = torch.linalg.cholesky(m)
        return torch.cholesky_solve(x.mT, chol).mT

    def inv_upper(self, r):
        """Inverse of an upper-triangular ``r`` (inf/nan where singular)."""
        eye = self.eye(r.shape[-1]).expand(r.shape)
        return torch.linalg.solve_triangular(r, eye, upper=True)

    def changes_precision(self, compute_dtype: Any) -> bool:
        """Whether running in ``compute_dtype`` rounds this working array (a different torch dtype)."""
        return compute_dtype is not None and compute_dtype != self.dtype

    @staticmethod
    def for_products(x):
        """Identity: torch tensors are already the fast representation of a matmul loop."""
        return x

    @staticmethod
    def from_products(x):
        return x

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        yield


class MpArray(np.ndarray):
    """A NumPy object array of mpf whose ``@`` runs through python-flint (:func:`mp_kernels.matmul`).

    Everything else is NumPy's object arithmetic; :class:`MpOps` keeps its results
    in this type so that every algorithm's products are fast without naming a kernel.
    """

    def __matmul__(self, other):
        return _mp(mp_kernels.matmul(np.asarray(self), np.asarray(other)))

    def __rmatmul__(self, other):
        return _mp(mp_kernels.matmul(np.asarray(other), np.asarray(self)))


def _mp(a: Any) -> MpArray:
    return np.asarray(a, dtype=object).view(MpArray)


def _mp_apply(fn: Callable, *arrays: np.ndarray) -> Any:
    """Apply a per-matrix mpmath function over the leading (batch) dimensions."""
    batch = arrays[0].shape[:-2]
    outs = [fn(*(mpmath.matrix(a[idx].tolist()) for a in arrays)) for idx in np.ndindex(*batch)]
    outs = [o if isinstance(o, tuple) else (o,) for o in outs]
    stacked = []
    for k in range(len(outs[0])):
        parts = [_to_object(o[k]) for o in outs]
        stacked.append(_mp(np.stack(parts).reshape(*batch, *parts[0].shape)))
    return tuple(stacked) if len(stacked) > 1 else stacked[0]


def _to_object(m: Any) -> np.ndarray:
    if isinstance(m, mpmath.matrix):
        return np.array(m.tolist(), dtype=object).reshape(m.rows, m.cols)
    return np.asarray(m, dtype=object)


_vsqrt = np.vectorize(mpmath.sqrt, otypes=[object])
_vabs = np.vectorize(abs, otypes=[object])
_vround = np.vectorize(lambda v: +v, otypes=[object])


class MpOps:
    """Operations on NumPy object arrays of mpmath numbers, shape ``(..., m, n)``."""

    kind = "mpmath"
    host_math = mpmath.mp

    def __init__(self) -> None:
        self.dtype = object
        self.device = None

    @property
    def unit_roundoff(self):
        return mpmath.mp.eps / 2  # at the current working precision

    @property
    def machine_epsilon(self):
        return mpmath.mp.eps

    def eye(self, n: int) -> np.ndarray:
        out = np.full((n, n), mpmath.mpf(0), dtype=object)
        np.fill_diagonal(out, mpmath.mpf(1))
        return _mp(out)

    @staticmethod
    def scalar(v: Any):
        return mpmath.mpf(v)

    @staticmethod
    def where(cond, a, b):
        return _mp(np.where(cond, a, b))

    @staticmethod
    def sqrt(x):
        return _mp(_vsqrt(x))

    @staticmethod
    def rsqrt(x):
        return _mp(1 / _vsqrt(x))

    @staticmethod
    def maximum(x, v):
        return _mp(np.where(x > v, x, mpmath.mpf(v)))

    @staticmethod
    def power(x, p):
        p = mpmath.mpf(p)
        return _mp(np.vectorize(lambda s: mpmath.power(s, p), otypes=[object])(x))

    @staticmethod
    def pow2_scale(x):
        """``(x, 0)``: mpf exponents are unbounded, so no rescaling is needed on this path."""
        return x, _mp(np.zeros((*x.shape[:-2], 1, 1), dtype=object) + 0)

    @staticmethod
    def mul_pow2(y, t):
        return _mp(y * np.vectorize(lambda v: mpmath.mpf(2) ** v, otypes=[object])(np.asarray(t, dtype=object)))

    @staticmethod
    def fro(x, *, prescaled: bool = False, float64: bool = False):
        return _vsqrt((x * x).sum(axis=(-2, -1), keepdims=True))

    @staticmethod
    def unscaled_fro(x, *, float64: bool = False, squared: bool = False):
        """None: mpf exponents are unbounded, the (no-op) prescaled route is the only one."""
        return None

    @staticmethod
    def row_abs_sums(x):
        return _mp(_vabs(x).sum(axis=-1, keepdims=True))

    @staticmethod
    def randn(shape, seed: int = 0):
        """A fixed standard normal array (NumPy's seeded generator), as mpf entries."""
        draw = np.random.default_rng(seed).standard_normal(shape)
        return _mp(np.vectorize(mpmath.mpf, otypes=[object])(draw))

    @staticmethod
    def is_positive_definite(a) -> bool:
        def one(m):
            try:
                mpmath.cholesky(m, tol=mpmath.mpf(0))
            except (ValueError, ZeroDivisionError):
                return mpmath.matrix([[0]])
            return mpmath.matrix([[1]])

        flags = _mp_apply(one, a)
        return bool(all(v == 1 for v in flags.reshape(-1)))

    @staticmethod
    def norm1_inf(x):
        a = _vabs(x)
        n1 = a.sum(axis=-2, keepdims=True).max(axis=-1, keepdims=True)
        ninf = a.sum(axis=-1, keepdims=True).max(axis=-2, keepdims=True)
        return n1, ninf

    @staticmethod
    def batch_max(x):
        return max(x.reshape(-1)) if x.size else mpmath.mpf(0)

    @staticmethod
    def batch_min(x):
        return min(x.reshape(-1)) if x.size else mpmath.mpf(1)

    @staticmethod
    def cat_rows(a, b):
        return _mp(np.concatenate([a, np.broadcast_to(b, (*a.shape[:-2], *b.shape))], axis=-2))

    @staticmethod
    def addmm(c, a, b, beta, alpha=1):
        """``beta·c + alpha·(a @ b)`` in one python-flint pass (:func:`mp_kernels.addmm`)."""
        if isinstance(c, mp_kernels.ArbBatch):
            return c.addmm(a, b, beta, alpha)
        return _mp(mp_kernels.addmm(c, a, b, beta, alpha))

    @staticmethod
    def changes_precision(compute_dtype: Any) -> bool:
        """Never: the mpmath path runs at ``mp.prec`` (a compute_dtype is refused by :func:`working`)."""
        return False

    @staticmethod
    def for_products(x):
        """The representation a product-bound loop should run on: flint matrices (:class:`mp_kernels.ArbBatch`)."""
        if not mp_kernels.HAVE_FLINT:
            return x
        mp_kernels.flint.ctx.prec = mpmath.mp.prec
        return mp_kernels.ArbBatch.from_objects(np.asarray(x))

    @staticmethod
    def from_products(x):
        """Back from :meth:`fast` to the object array every other operation takes."""
        return _mp(x.to_objects()) if isinstance(x, mp_kernels.ArbBatch) else x

    @staticmethod
    def diagonal(x):
        return _mp(np.diagonal(x, axis1=-2, axis2=-1))

    @staticmethod
    def lerp(a, b, w):
        return a + (b - a) * w

    @staticmethod
    def flip_last(x):
        return x[..., ::-1]

    @staticmethod
    def arcsin(x):
        return _mp(np.vectorize(mpmath.asin, otypes=[object])(np.asarray(x)))

    @staticmethod
    def svd(x):
        """Thin SVD through :func:`mp_kernels.svd` (refined Gram eigendecomposition; mpmath fallback)."""
        return tuple(_mp(t) for t in mp_kernels.svd(np.asarray(x)))

    @staticmethod
    def eigh(a):
        """Symmetric eigendecomposition through :func:`mp_kernels.eigh` (float64 start, refined)."""
        return tuple(_mp(t) for t in mp_kernels.eigh(np.asarray(a)))

    @staticmethod
    def qr(x):
        return _mp_apply(lambda m: mpmath.qr(m, mode="skinny"), x)

    @staticmethod
    def solve_spd_right(x, m):
        # x @ inv(m) = x (L⁻ᵀ L⁻¹) with m = L Lᵀ; at working precision plus guard
        # bits an explicit inverse of the (well-conditioned, κ ≤ 101 in QDWH) factor suffices.
        def one(xm, mm):
            chol = mpmath.cholesky(mm)
            inv = mpmath.inverse(chol)
            return xm * (inv.T * inv)

        return _mp_apply(one, x, m)

    @staticmethod
    def inv_upper(r):
        def one(m):
            try:
                return mpmath.inverse(m)
            except ZeroDivisionError:
                return mpmath.matrix([[mpmath.inf] * m.cols for _ in range(m.rows)])

        return _mp_apply(one, r)

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        with mpmath.mp.extraprec(GUARD_BITS):
            yield


Working = tuple[Any, Any, Callable[[Any], Any]]


def sigma_batch(sigma: Any) -> Working:
    """Scalar-map inputs as a batch of 1 × 1 matrices: ``(ops, x, restore)`` for every kind of σ.

    A scalar map runs the matrix iteration itself on 1 × 1 matrices (DESIGN.md,
    principle 1), so every map accepts the same σ and returns the same kind:

    * ``torch.Tensor`` (any shape, evaluated in its dtype) → tensor of that shape;
    * NumPy float array → NumPy array of that shape and dtype;
    * an mpmath number, a Python number, or a sequence / object array of them →
      evaluated at ``mp.prec`` (plus guard bits; run the iteration inside
      ``ops.guard()``): a scalar gives a scalar, a sequence a list.
    """
    if isinstance(sigma, torch.Tensor) or (isinstance(sigma, np.ndarray) and sigma.dtype != object):
        shape = tuple(sigma.shape)
        flat = sigma.reshape(-1, 1, 1)
        if flat.shape[0] == 0:
            raise ValueError("sigma is empty")
        ops, x, restore = working(flat, "sigma")
        return ops, x, lambda y: restore(y).reshape(shape)
    single = not isinstance(sigma, (list, tuple, np.ndarray))
    values = [sigma] if single else list(np.asarray(sigma, dtype=object).reshape(-1))
    if not values:
        raise ValueError("sigma is empty")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, mpmath.mpf, np.floating, np.integer)):
            raise TypeError(f"sigma must hold real numbers, got {type(v).__name__}")
    arr = np.array([mpmath.mpf(v) for v in values], dtype=object).reshape(-1, 1, 1)
    ops, x, restore = working(arr, "sigma")

    def back(y: Any) -> Any:
        flat = list(np.asarray(restore(y)).reshape(-1))
        return flat[0] if single else flat

    return ops, x, back


def working(
    x: Any,
    name: str = "X",
    *,
    square: bool = False,
    compute_dtype: torch.dtype | None = None,
    check_finite_entries: bool = True,
) -> Working:
    """Validate ``x`` and return ``(ops, array, restore)``.

    ``array`` is ``x`` in the backend's compute representation and
    ``restore(y)`` turns a result of the same kind back into the caller's type
    (torch dtype, NumPy float array of the input dtype, or ``mpmath.matrix``
    rounded to the caller's precision).
    Raises ``TypeError`` for unsupported types and complex or integer dtypes,
    ``ValueError`` for fewer than 2 dims, empty matrix dims, non-square input
    when ``square`` is set, and non-finite entries (unless
    ``check_finite_entries`` is False: that check costs one host
    synchronisation on a GPU). ``compute_dtype`` overrides the torch compute
    dtype (the default policy is in the module docstring).
    """
    if isinstance(x, np.ndarray) and x.dtype != object:
        # SciPy users pass NumPy arrays first: float16/32/64 run on the torch CPU path and
        # come back as NumPy arrays of the input dtype.
        if x.dtype.kind != "f" or x.dtype not in (np.float16, np.float32, np.float64):
            raise TypeError(
                f"{name} must be a real floating-point array (float16, float32 or float64), got dtype {x.dtype}; "
                "for higher precision pass an mpmath matrix"
            )
        ops, arr, restore_t = working(
            torch.from_numpy(np.ascontiguousarray(x)),
            name,
            square=square,
            compute_dtype=compute_dtype,
            check_finite_entries=check_finite_entries,
        )
        return ops, arr, lambda y: restore_t(y).detach().numpy()
    if isinstance(x, torch.Tensor):
        if x.is_complex() or not x.is_floating_point():
            raise TypeError(f"{name} must be a real floating-point tensor, got dtype {x.dtype}")
        check_matrix_shape(tuple(x.shape), name, square=square)
        if check_finite_entries:
            check_finite(bool(torch.isfinite(x).all()), name)
        if compute_dtype is None:
            compute = torch.float32 if x.dtype in _HALF_TYPES else x.dtype
        elif (
            isinstance(compute_dtype, torch.dtype) and compute_dtype.is_floating_point and not compute_dtype.is_complex
        ):
            compute = compute_dtype
        else:
            raise TypeError(f"compute_dtype must be a real floating torch.dtype, got {compute_dtype!r}")
        ops = TorchOps(compute, x.device)
        dtype = x.dtype
        return ops, x.to(compute), lambda y: y.to(dtype)
    if compute_dtype is not None:
        raise TypeError("compute_dtype applies to torch tensors only; the mpmath path runs at mp.prec")
    if isinstance(x, mpmath.matrix):
        arr = _to_object(x)
        was_matrix = True
    elif isinstance(x, np.ndarray) and x.dtype == object:
        arr, was_matrix = x, False
    else:
        raise TypeError(
            f"{name} must be a torch.Tensor, a NumPy float array, an mpmath.matrix or a NumPy object array of "
            "mpmath numbers, "
            f"got {type(x).__name__}"
        )
    check_matrix_shape(arr.shape, name, square=square)
    flat = arr.reshape(-1)
    if any(isinstance(v, (mpmath.mpc, complex)) for v in flat):
        raise TypeError(f"{name} must be real; complex entries are not supported")
    try:
        arr = np.vectorize(mpmath.mpf, otypes=[object])(arr)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} has entries that are not real numbers: {exc}") from None
    check_finite(all(mpmath.isfinite(v) for v in arr.reshape(-1)), name)

    def restore(y: np.ndarray) -> Any:
        y = _vround(np.asarray(y))
        if was_matrix and y.ndim == 2:
            return mpmath.matrix(y.tolist())
        return y

    return MpOps(), _mp(arr), restore
