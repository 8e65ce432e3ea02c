"""The mpmath backend: :class:`MpOps` on NumPy object arrays of mpmath numbers (:class:`MpArray`).

Products run in python-flint and decompositions in :mod:`spectral_la.mp_kernels` (float64 start,
refined and verified; mpmath fallback), at ``mp.prec`` plus :data:`GUARD_BITS` inside a routine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import mpmath
import numpy as np

from spectral_la import mp_kernels

__all__ = ["GUARD_BITS", "MpArray", "MpOps", "as_mp", "round_to_precision", "to_object"]

#: Guard bits added to ``mp.prec`` inside a routine on the mpmath path.
GUARD_BITS = 20


class MpArray(np.ndarray):
    """A NumPy object array of mpf whose ``@`` runs through python-flint (:func:`mp_kernels.matmul`).

    Everything else is NumPy's object arithmetic; :class:`MpOps` keeps its results
    in this type so that every algorithm's products are fast without naming a kernel.
    """

    def __matmul__(self, other):
        return as_mp(mp_kernels.matmul(np.asarray(self), np.asarray(other)))

    def __rmatmul__(self, other):
        return as_mp(mp_kernels.matmul(np.asarray(other), np.asarray(self)))


def as_mp(a: Any) -> MpArray:
    return np.asarray(a, dtype=object).view(MpArray)


def _mp_apply(fn: Callable, *arrays: np.ndarray) -> Any:
    """Apply a per-matrix mpmath function over the leading (batch) dimensions."""
    batch = arrays[0].shape[:-2]
    outs = [fn(*(mpmath.matrix(a[idx].tolist()) for a in arrays)) for idx in np.ndindex(*batch)]
    outs = [o if isinstance(o, tuple) else (o,) for o in outs]
    stacked = []
    for k in range(len(outs[0])):
        parts = [to_object(o[k]) for o in outs]
        stacked.append(as_mp(np.stack(parts).reshape(*batch, *parts[0].shape)))
    return tuple(stacked) if len(stacked) > 1 else stacked[0]


def to_object(m: Any) -> np.ndarray:
    if isinstance(m, mpmath.matrix):
        return np.array(m.tolist(), dtype=object).reshape(m.rows, m.cols)
    return np.asarray(m, dtype=object)


_vsqrt = np.vectorize(mpmath.sqrt, otypes=[object])
_vabs = np.vectorize(abs, otypes=[object])
round_to_precision = np.vectorize(lambda v: +v, otypes=[object])


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
        return as_mp(out)

    @staticmethod
    def scalar(v: Any):
        return mpmath.mpf(v)

    @staticmethod
    def where(cond, a, b):
        return as_mp(np.where(cond, a, b))

    @staticmethod
    def sqrt(x):
        return as_mp(_vsqrt(x))

    @staticmethod
    def rsqrt(x):
        return as_mp(1 / _vsqrt(x))

    @staticmethod
    def maximum(x, v):
        return as_mp(np.where(x > v, x, mpmath.mpf(v)))

    @staticmethod
    def power(x, p):
        p = mpmath.mpf(p)
        return as_mp(np.vectorize(lambda s: mpmath.power(s, p), otypes=[object])(x))

    @staticmethod
    def pow2_scale(x):
        """``(x, 0)``: mpf exponents are unbounded, so no rescaling is needed on this path."""
        return x, as_mp(np.zeros((*x.shape[:-2], 1, 1), dtype=object) + 0)

    @staticmethod
    def mul_pow2(y, t):
        return as_mp(y * np.vectorize(lambda v: mpmath.mpf(2) ** v, otypes=[object])(np.asarray(t, dtype=object)))

    @staticmethod
    def fro(x, *, prescaled: bool = False, float64: bool = False):
        return _vsqrt((x * x).sum(axis=(-2, -1), keepdims=True))

    @staticmethod
    def unscaled_fro(x, *, float64: bool = False, squared: bool = False):
        """None: mpf exponents are unbounded, the (no-op) prescaled route is the only one."""
        return None

    @staticmethod
    def row_abs_sums(x):
        return as_mp(_vabs(x).sum(axis=-1, keepdims=True))

    @staticmethod
    def randn(shape, seed: int = 0):
        """A fixed standard normal array (NumPy's seeded generator), as mpf entries."""
        draw = np.random.default_rng(seed).standard_normal(shape)
        return as_mp(np.vectorize(mpmath.mpf, otypes=[object])(draw))

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
    def stack(arrays):
        """Stack same-shaped arrays along a new leading (batch) axis."""
        return as_mp(np.stack([np.asarray(a) for a in arrays]))

    @staticmethod
    def cat_rows(a, b):
        return as_mp(np.concatenate([a, np.broadcast_to(b, (*a.shape[:-2], *b.shape))], axis=-2))

    @staticmethod
    def addmm(c, a, b, beta, alpha=1):
        """``beta·c + alpha·(a @ b)`` in one python-flint pass (:func:`mp_kernels.addmm`)."""
        if isinstance(c, mp_kernels.ArbBatch):
            return c.addmm(a, b, beta, alpha)
        return as_mp(mp_kernels.addmm(c, a, b, beta, alpha))

    @staticmethod
    def gram(x):
        """X Xᵀ (the general product: no symmetric kernel at high precision)."""
        return x @ x.mT

    @classmethod
    def gram_addmm(cls, a, beta, alpha):
        """βA + αA² for a symmetric A."""
        return cls.addmm(a, a, a, beta, alpha)

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
        return as_mp(x.to_objects()) if isinstance(x, mp_kernels.ArbBatch) else x

    @staticmethod
    def diagonal(x):
        return as_mp(np.diagonal(x, axis1=-2, axis2=-1))

    @staticmethod
    def lerp(a, b, w):
        return a + (b - a) * w

    @staticmethod
    def flip_last(x):
        return x[..., ::-1]

    @staticmethod
    def arcsin(x):
        return as_mp(np.vectorize(mpmath.asin, otypes=[object])(np.asarray(x)))

    @staticmethod
    def svd(x):
        """Thin SVD through :func:`mp_kernels.svd` (refined Gram eigendecomposition; mpmath fallback)."""
        return tuple(as_mp(t) for t in mp_kernels.svd(np.asarray(x)))

    @staticmethod
    def eigh(a):
        """Symmetric eigendecomposition through :func:`mp_kernels.eigh` (float64 start, refined)."""
        return tuple(as_mp(t) for t in mp_kernels.eigh(np.asarray(a)))

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
