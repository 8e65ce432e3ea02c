"""The torch backend: :class:`TorchOps`, the operations of :class:`spectral_la.backend.Ops` on tensors.

Any device and dtype; the compute dtype policy (half types in float32) is :func:`spectral_la.backend.working`'s.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch

from spectral_la import symmetric_products

__all__ = ["TorchOps"]


def broadcast_batch(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast of batch shapes (NumPy's rule), in plain Python.

    ``torch.broadcast_shapes`` would do, but its first call imports ``torch._refs`` and sympy
    (about 0.3–0.5 s), a tax on the first product of every process.
    """
    ndim = 0
    for s in shapes:  # plain loops: torch.compile traces this (no generator arguments to max)
        ndim = len(s) if len(s) > ndim else ndim
    out = []
    for i in range(ndim):
        size = 1
        for s in shapes:
            d = s[i - ndim + len(s)] if i - ndim + len(s) >= 0 else 1
            if d != 1:
                if size not in (1, d):
                    raise ValueError(f"batch shapes {shapes} do not broadcast")
                size = d
        out.append(size)
    return tuple(out)


class TorchOps:
    """Operations on torch tensors of shape ``(..., m, n)``."""

    kind = "torch"
    host_math = math

    def __init__(self, dtype: torch.dtype, device: torch.device) -> None:
        self.dtype = dtype
        self.device = device
        self.unit_roundoff = float(torch.finfo(dtype).eps) / 2  # u = 2^-t
        self.machine_epsilon = 2 * self.unit_roundoff
        self.products = symmetric_products.route(dtype, device)  # "blas", "triton" or "plain"

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
        underflow whatever the input's scale (ARCHITECTURE.md, principle 6). No host
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
    def stack(arrays):
        """Stack same-shaped arrays along a new leading (batch) axis."""
        return torch.stack(list(arrays))

    @staticmethod
    def cat_rows(a, b):
        """Stack ``a`` (..., m, n) on ``b`` (n, n), broadcasting ``b`` over the batch."""
        return torch.cat([a, b.expand(*a.shape[:-2], *b.shape)], dim=-2)

    def addmm(self, c, a, b, beta, alpha=1.0):
        """``beta·c + alpha·(a @ b)`` as one fused BLAS call (addmm / baddbmm)."""
        if a.ndim == b.ndim == c.ndim == 2:  # the common case, without the cost of broadcast_shapes
            return torch.addmm(c, a, b, beta=beta, alpha=alpha)
        batch = broadcast_batch(a.shape[:-2], b.shape[:-2], c.shape[:-2])
        if not batch:
            return torch.addmm(c, a, b, beta=beta, alpha=alpha)
        m, n = a.shape[-2], b.shape[-1]
        flat = [t.expand(*batch, *t.shape[-2:]).reshape(-1, *t.shape[-2:]) for t in (c, a, b)]
        return torch.baddbmm(*flat, beta=beta, alpha=alpha).reshape(*batch, m, n)

    def gram(self, x):
        """X Xᵀ, by a symmetric kernel where one pays (:mod:`spectral_la.symmetric_products`)."""
        return symmetric_products.gram(x, self.products)

    def gram_addmm(self, a, beta, alpha):
        """βA + αA² for a symmetric A, by a symmetric kernel where one pays."""
        out = symmetric_products.gram_addmm(a, beta, alpha, self.products)
        return self.addmm(a, a, a, beta, alpha) if out is None else out

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
