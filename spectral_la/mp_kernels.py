"""Fast kernels under the mpmath path: python-flint matrix products and matmul-only refinement.

The mpmath path (:class:`spectral_la.backend.MpOps`) holds NumPy object arrays of
``mpf`` and runs every algorithm of the package unchanged. Its heavy linear
algebra goes through the kernels below, at the working precision ``mp.prec``
(which already includes the routine's guard bits):

* :func:`matmul` -- a batched product through python-flint's ``arb_mat`` (C,
  ball arithmetic at ``mp.prec`` bits, midpoints kept): 64 × 64 at 50 digits in
  ≈ 17 ms against ≈ 0.5 s for NumPy's object ``@`` on ``mpf``. Without
  python-flint installed it falls back to that ``@``.
* :func:`eigh` -- symmetric eigendecomposition: float64 ``eigh`` (LAPACK) for a
  start, then Ogita–Aishima refinement (T. Ogita and K. Aishima, "Iterative
  refinement for symmetric eigenvalue decomposition", Japan J. Indust. Appl.
  Math. 35, 2018, Algorithm 1), which needs only matrix products and converges
  quadratically: from 16 correct digits to 32, 64, … . Accuracy: each step
  gives ‖X̂ᵀX̂ − I‖ and ‖AX̂ − X̂Λ‖/‖A‖ of O(u) once the start separates the
  eigenvalues (gap ≫ u₆₄‖A‖); eigenvalues closer than the float64 start can
  resolve form a cluster whose invariant subspace is refined but not its
  basis inside, which is exact for a repeated eigenvalue. The result is
  *verified* (residual and orthogonality ≤ 10·n·u); if not, the kernel falls
  back to ``mpmath.eigsy``.
* :func:`svd` -- thin SVD of X (m ≥ n after transposing) from :func:`eigh` of
  the Gram matrix XᵀX formed and decomposed at *twice* the working precision:
  λᵢ err by u²·n·σ₁², so σᵢ = √λᵢ has relative error ≤ u²·n·κ²/2, below u
  while κ ≤ u^{-1/2}/√n (10^25 at 50 digits); U = X V Σ⁻¹ (Higham, *Accuracy
  and Stability*, 2002, §20.5, on the Gram route's conditioning). A numerically
  rank-deficient X gets its null-space columns of U (σ ≤ 2·m·u·σ₁, not defined
  by X V Σ⁻¹) from a float64 completion refined by Newton–Schulz; only σ in
  (2·m·u·σ₁, √u·σ₁], where neither route is accurate, fall back to
  ``mpmath.svd_r``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import mpmath
import numpy as np
import torch

try:
    import flint
except ImportError:  # pragma: no cover - python-flint is an optional accelerator
    flint = None  # type: ignore[assignment]

__all__ = ["HAVE_FLINT", "ArbBatch", "RadiusTracker", "addmm", "eigh", "matmul", "svd", "track_radius"]

HAVE_FLINT = flint is not None


def _to_mpf(values) -> np.ndarray:
    make = mpmath.mp.make_mpf
    out = np.empty(len(values), dtype=object)
    out[:] = [make(v._mpf_) for v in values]
    return out


def _matmul_2d(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    m, k = a.shape
    n = b.shape[1]
    fa = flint.arb_mat(m, k, list(a.reshape(-1)))
    fb = flint.arb_mat(k, n, list(b.reshape(-1)))
    prod = (fa * fb).entries()
    return _to_mpf(prod).reshape(m, n)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for object arrays of mpf, batched over leading dims (NumPy broadcasting)."""
    a, b = np.asarray(a), np.asarray(b)
    if flint is None or a.ndim < 2 or b.ndim < 2:
        return np.matmul(a, b)
    old = flint.ctx.prec
    flint.ctx.prec = mpmath.mp.prec
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a_b = np.broadcast_to(a, (*batch, *a.shape[-2:]))
        b_b = np.broadcast_to(b, (*batch, *b.shape[-2:]))
        out = np.empty((*batch, a.shape[-2], b.shape[-1]), dtype=object)
        for idx in np.ndindex(*batch):
            out[idx] = _matmul_2d(np.ascontiguousarray(a_b[idx]), np.ascontiguousarray(b_b[idx]))
        return out
    finally:
        flint.ctx.prec = old


def _arb(a: np.ndarray):
    return flint.arb_mat(a.shape[0], a.shape[1], list(a.reshape(-1)))


def _mpf_array(m) -> np.ndarray:
    return _to_mpf(m.entries()).reshape(m.nrows(), m.ncols())


def addmm(c: np.ndarray, a: np.ndarray, b: np.ndarray, beta, alpha) -> np.ndarray:
    """beta·c + alpha·(a @ b) in one pass through arb_mat (batched; NumPy broadcasting)."""
    a, b, c = np.asarray(a), np.asarray(b), np.asarray(c)
    if flint is None:
        return c * beta + np.matmul(a, b) * alpha
    old = flint.ctx.prec
    flint.ctx.prec = mpmath.mp.prec
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2], c.shape[:-2])
        m, n = a.shape[-2], b.shape[-1]
        a_b, b_b, c_b = (np.broadcast_to(t, (*batch, *t.shape[-2:])) for t in (a, b, c))
        fb, fa = flint.arb(beta), flint.arb(alpha)
        out = np.empty((*batch, m, n), dtype=object)
        for idx in np.ndindex(*batch):
            prod = (
                _arb(np.ascontiguousarray(c_b[idx])) * fb
                + _arb(np.ascontiguousarray(a_b[idx])) * _arb(np.ascontiguousarray(b_b[idx])) * fa
            )
            out[idx] = _to_mpf(prod.entries()).reshape(m, n)
        return out
    finally:
        flint.ctx.prec = old


class RadiusTracker:
    """Collects the ball radii of the product-bound loops run inside :func:`track_radius`."""

    def __init__(self) -> None:
        self.radius = 0.0  # max entrywise radius over every loop result (a float, rounded up)
        self.loops = 0


_TRACKERS: list[RadiusTracker] = []


@contextlib.contextmanager
def track_radius() -> Iterator[RadiusTracker]:
    """Run the mpmath path's product-bound loops (Newton–Schulz and its kin) in full ball arithmetic.

    Inside, :class:`ArbBatch` keeps python-flint's radii instead of dropping them after each
    operation, and the tracker records the largest entrywise radius of each loop's result.
    That radius is a **rigorous** bound on the distance between the returned midpoints and the
    loop run in exact arithmetic on the same (already normalised) input -- the certificate of
    an mpmath "approximation" run (analysis.error_report reports it) -- before the final
    rounding of the result to ``mp.prec``, which adds at most one unit roundoff per entry.
    """
    tracker = RadiusTracker()
    _TRACKERS.append(tracker)
    try:
        yield tracker
    finally:
        _TRACKERS.remove(tracker)


class ArbBatch:
    """A batch of python-flint ``arb_mat`` (midpoints) standing in for an object array inside a matmul loop.

    The backend hands it to product-bound loops (:meth:`MpOps.fast`): it supports exactly what
    such a loop uses -- ``@`` (broadcast over the batch), ``.mT``, ``+``/``−`` and products with
    a scalar -- so the iterates stay in flint between products and are converted to mpf once,
    at the end (:meth:`to_objects`), instead of twice per product.
    """

    def __init__(self, mats: list, batch: tuple, m: int, n: int) -> None:
        self.mats, self.batch, self._mn = mats, batch, (m, n)

    @classmethod
    def from_objects(cls, a: np.ndarray) -> ArbBatch:
        batch = a.shape[:-2]
        m, n = a.shape[-2:]
        flat = np.asarray(a).reshape(-1, m, n)
        return cls([_arb(np.ascontiguousarray(flat[i])) for i in range(flat.shape[0])], batch, m, n)

    def to_objects(self) -> np.ndarray:
        m, n = self._mn
        out = np.empty((len(self.mats), m, n), dtype=object)
        for i, mat in enumerate(self.mats):
            out[i] = _mpf_array(mat.mid())
        if _TRACKERS:
            radius = max((float(v.rad()) for mat in self.mats for v in mat.entries()), default=0.0)
            for tracker in _TRACKERS:
                tracker.radius = max(tracker.radius, radius * (1 + 2**-50))  # float rounding, upward
                tracker.loops += 1
        return out.reshape(*self.batch, m, n)

    @property
    def shape(self) -> tuple:
        return (*self.batch, *self._mn)

    @property
    def mT(self) -> ArbBatch:  # noqa: N802 - mirrors the array attribute
        return ArbBatch([mat.transpose() for mat in self.mats], self.batch, self._mn[1], self._mn[0])

    def _zip(self, other: ArbBatch) -> zip:
        if len(other.mats) == len(self.mats):
            return zip(self.mats, other.mats, strict=True)
        if len(other.mats) == 1:
            return zip(self.mats, other.mats * len(self.mats), strict=True)
        if len(self.mats) == 1:
            return zip(self.mats * len(other.mats), other.mats, strict=True)
        raise ValueError("batch shapes do not broadcast")

    def _like(self, mats: list, m: int, n: int, other: ArbBatch | None = None) -> ArbBatch:
        batch = self.batch if other is None or len(self.mats) >= len(other.mats) else other.batch
        if not _TRACKERS:  # midpoint arithmetic unless radii are being tracked
            mats = [mat.mid() for mat in mats]
        return ArbBatch(mats, batch, m, n)

    def __matmul__(self, other: ArbBatch) -> ArbBatch:
        return self._like([a * b for a, b in self._zip(other)], self._mn[0], other._mn[1], other)

    def __add__(self, other: ArbBatch) -> ArbBatch:
        return self._like([a + b for a, b in self._zip(other)], *self._mn, other)

    def __sub__(self, other: ArbBatch) -> ArbBatch:
        return self._like([a - b for a, b in self._zip(other)], *self._mn, other)

    def __mul__(self, scalar) -> ArbBatch:
        c = flint.arb(scalar)  # an mpf coefficient is exact as a ball (radius 0)
        return self._like([a * c for a in self.mats], *self._mn)

    __rmul__ = __mul__

    def addmm(self, a: ArbBatch, b: ArbBatch, beta, alpha=1) -> ArbBatch:
        """beta·self + alpha·(a @ b)."""
        fb, fa = flint.arb(beta), flint.arb(alpha)
        prods = [x * y for x, y in a._zip(b)]
        if len(prods) == 1 and len(self.mats) > 1:
            prods = prods * len(self.mats)
        mats = [
            c * fb + p * fa for c, p in zip(self.mats * (len(prods) if len(self.mats) == 1 else 1), prods, strict=True)
        ]
        return self._like(mats, *self._mn, a)


def _fro(m):
    """Frobenius norm of an arb_mat (an arb); where the sum of squares' ball reaches below zero (a matrix
    that is zero up to its radii), the square root of its upper end, so the result is never NaN."""
    total = sum((v * v for v in m.entries()), flint.arb(0))
    return total.sqrt() if total > 0 else flint.arb(total.abs_upper()).sqrt()


def _bits_below_one(size) -> int:
    """⌊−log₂ size⌋ of an arb (no float underflow at any precision); a huge value for zero."""
    mid = size.mid()
    if mid == 0:
        return 1 << 30
    bits = -float((abs(mid).log() / flint.arb(2).log()).mid())
    return max(0, int(bits)) if math.isfinite(bits) else 0  # not finite: the next step runs at full precision


def _float64_start(a: np.ndarray):
    """float64 eigenvectors of the symmetric a (scaled by a power of two so float64 holds it), as arb_mat."""
    amax = max((abs(v) for v in a.reshape(-1)), default=mpmath.mpf(0))
    shift = 0 if amax == 0 else -int(mpmath.floor(mpmath.log(amax, 2)))
    a64 = np.array([float(mpmath.ldexp(v, shift)) for v in a.reshape(-1)]).reshape(a.shape)
    _, q = torch.linalg.eigh(torch.from_numpy((a64 + a64.T) / 2))
    return flint.arb_mat(q.numpy().tolist())


def _refine(a, x, norm_a):
    """One Ogita–Aishima step (their Algorithm 1) on arb_mat: X ← X + X·E.

    Returns (X, ‖E‖_F, clusters): eigenvalue estimates closer than δ form a
    cluster, whose columns the step keeps orthonormal but does not rotate.
    """
    n = a.nrows()
    xt = x.transpose()
    r = flint.arb_mat(n, n, [int(i == j) for i in range(n) for j in range(n)]) - xt * x  # R = I − XᵀX
    s = xt * (a * x)  # S = XᵀAX
    lam = [s[i, i] / (1 - r[i, i]) for i in range(n)]
    off = s - flint.arb_mat(n, n, [lam[i] if i == j else 0 for i in range(n) for j in range(n)])
    delta = 2 * (_fro(off) + norm_a * _fro(r))  # eigenvalues closer than δ form a cluster
    # E_ij = (s_ij + λ_j r_ij)/(λ_j − λ_i) off the clusters, r_ij/2 inside them and on the diagonal:
    # entrywise over flat lists (R·diag(λ) as a matrix product would cost an n³ product at full precision).
    s_flat, r_flat = s.entries(), r.entries()
    out = [v * 0.5 for v in r_flat]
    # The cluster test only needs to be roughly right (δ is itself a bound): in floats, with a
    # scale that keeps tiny eigenvalues away from float underflow.
    scale = float(norm_a) or 1.0
    lam_f = [float(v / scale) for v in lam]
    delta_f = float(delta / scale)
    for i in range(n):
        li, lfi = lam[i], lam_f[i]
        row = i * n
        for j in range(n):
            if i != j and abs(lam_f[j] - lfi) > delta_f:
                out[row + j] = (s_flat[row + j] + lam[j] * r_flat[row + j]) / (lam[j] - li)
    e = flint.arb_mat(n, n, out)
    order = sorted(range(n), key=lambda i: float(lam[i].mid()))
    clusters, current = [], [order[0]]
    for i in order[1:]:
        if abs(lam[i] - lam[current[-1]]) > delta:
            clusters.append(current)
            current = [i]
        else:
            current.append(i)
    clusters.append(current)
    return (x + x * e).mid(), _fro(e), [c for c in clusters if len(c) > 1]


def _split_clusters(a, x, clusters, depth: int = 0):
    """Rotate each cluster's columns by the eigenvectors of its shifted k × k block (Ogita–Aishima II).

    The block X_cᵀ A X_c − μI (μ its mean diagonal) has the cluster's spread as its
    scale, so a float64 start resolves eigenvalues that were too close for the
    n × n start; the recursion ends where a block's eigenvalues are equal to
    working precision (any basis is then exact).
    """
    x_obj = _mpf_array(x)
    a_obj = _mpf_array(a)
    for c in clusters:
        xc = x_obj[:, c]
        block = matmul(xc.T, matmul(a_obj, xc))
        block = (block + block.T) / 2
        mu = mpmath.fsum(block[i, i] for i in range(len(c))) / len(c)
        for i in range(len(c)):
            block[i, i] -= mu
        if all(v == 0 for v in block.reshape(-1)):
            continue
        _, q = _eigh_2d(block, depth=depth + 1)
        x_obj[:, c] = matmul(xc, q)
    return _arb(x_obj)


def _eigh_2d(a_obj: np.ndarray, max_steps: int = 12, depth: int = 0) -> tuple[np.ndarray, np.ndarray]:
    n = a_obj.shape[0]
    u = flint.arb(2) ** -mpmath.mp.prec
    a = _arb(a_obj)
    norm_a = _fro(a)
    x = _float64_start(a_obj)
    split = depth >= 4  # clusters are split at most once per level, four levels deep
    # Each step squares the error (quadratic convergence), so a step whose start is accurate to b bits
    # needs only about 2b bits of working precision: the first steps run at a fraction of the full
    # precision (an n³ product costs about half at 170 bits what it costs at 340). The float64 start
    # is accurate to about 40 bits; the last steps and the verification run at full precision.
    full = flint.ctx.prec
    bits = 40
    for _ in range(max_steps):
        flint.ctx.prec = min(full, 2 * bits + 64)
        x, size, clusters = _refine(a, x, norm_a)
        flint.ctx.prec = full
        bits = min(full, 2 * _bits_below_one(size))
        if size <= u.sqrt() * n:
            if clusters and not split:
                x, split = _split_clusters(a, x, clusters, depth), True
                continue
            # Quadratic convergence: this step's correction c leaves an error ≈ c²/gap. With
            # c ≤ √u/16 that is at rounding level already; otherwise one more step gets there.
            # (The verification below catches a shortfall either way.)
            if size > u.sqrt() / 16:
                x, _, _ = _refine(a, x, norm_a)
            break
    s = x.transpose() * (a * x)
    lam = [s[i, i].mid() for i in range(n)]
    order = sorted(range(n), key=lambda i: float(lam[i]))
    # Verification: orthogonality and residual within 10·n·u (relative to ‖A‖_F); else mpmath.
    eye = flint.arb_mat(n, n, [int(i == j) for i in range(n) for j in range(n)])
    orth = _fro(eye - x.transpose() * x)
    ax = (a * x).entries()
    x_flat = x.entries()
    # A X − X·diag(λ), the diagonal product as a column scaling
    resid = _fro(flint.arb_mat(n, n, [ax[k] - x_flat[k] * lam[k % n] for k in range(n * n)]))
    if orth > 10 * n * u or resid > 10 * n * u * norm_a:
        w, q = mpmath.eigsy(mpmath.matrix(a_obj.tolist()))
        order = sorted(range(n), key=lambda i: w[i])
        return np.array([w[i] for i in order], dtype=object), np.array(q.tolist(), dtype=object)[:, order]
    return _to_mpf([lam[i] for i in order]), _mpf_array(x)[:, order]


def eigh(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ascending and orthonormal eigenvectors of symmetric object arrays, batched."""
    if flint is None:
        return _mpmath_eigh(a)
    batch = a.shape[:-2]
    n = a.shape[-1]
    lam = np.empty((*batch, n), dtype=object)
    vec = np.empty(a.shape, dtype=object)
    old = flint.ctx.prec
    flint.ctx.prec = mpmath.mp.prec
    try:
        for idx in np.ndindex(*batch):
            lam[idx], vec[idx] = _eigh_2d(np.asarray(a[idx]))
    finally:
        flint.ctx.prec = old
    return lam, vec


def _mpmath_eigh(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """mpmath.eigsy per matrix, eigenvalues ascending (the path without python-flint)."""
    batch = a.shape[:-2]
    lam = np.empty(a.shape[:-1], dtype=object)
    vec = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(*batch):
        w, q = mpmath.eigsy(mpmath.matrix(np.asarray(a[idx]).tolist()))
        order = sorted(range(len(w)), key=lambda i: w[i])
        lam[idx] = [w[i] for i in order]
        vec[idx] = np.array(q.tolist(), dtype=object)[:, order]
    return lam, vec


def _complete(u_r: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Orthonormal columns spanning range(U_r)^⊥ from a float64 guess: project, then Newton–Schulz.

    Z = (I − U_r U_rᵀ)·start is orthonormal to float64 accuracy; the cubic
    Newton–Schulz step Z ← Z(3I − ZᵀZ)/2 (Higham 2008, eq. (8.20)) squares the
    defect ‖ZᵀZ − I‖ each step (1e-16 → 1e-32 → 1e-64), with matrix products only.
    """
    z = start - matmul(u_r, matmul(u_r.T, start))
    k = z.shape[1]
    eye = np.eye(k, dtype=object) * mpmath.mpf(1)
    for _ in range(12):
        defect = matmul(z.T, z) - eye
        z = z - matmul(z, defect) / 2
        z = z - matmul(u_r, matmul(u_r.T, z))
        if max((abs(v) for v in defect.reshape(-1)), default=0) <= mpmath.mp.eps:
            break
    return z


def _svd_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m, n = x.shape
    if m < n:
        u, s, vh = _svd_2d(x.T)
        return vh.T, s, u.T
    with mpmath.extraprec(mpmath.mp.prec):  # the Gram matrix at twice the working precision
        flint.ctx.prec = mpmath.mp.prec
        xa = _arb(x)
        lam, v = _eigh_2d(_mpf_array((xa.transpose() * xa).mid()))
    flint.ctx.prec = mpmath.mp.prec
    lam, v = lam[::-1], v[:, ::-1]  # descending
    s = np.array([mpmath.sqrt(max(val, 0)) for val in lam], dtype=object)
    # σ from the doubled-precision Gram are accurate to u·σ₁ absolute, so relatively to u while
    # σ > √u·σ₁; below 2·m·u·σ₁ they are numerical zeros (msign's default rank cut), whose U
    # columns X V Σ⁻¹ cannot give: a float64 completion refined to working precision does.
    u_work = mpmath.mp.eps / 2
    resolved = [val > mpmath.sqrt(u_work) * s[0] for val in s]
    zero = [val <= 2 * m * u_work * s[0] for val in s]
    if s[0] == 0 or not all(r or z for r, z in zip(resolved, zero, strict=True)):
        return _mpmath_svd_2d(x)
    r = sum(resolved)
    with mpmath.extraprec(mpmath.mp.prec):  # X V Σ⁻¹ at doubled precision: error u²κ + u, not uκ
        u_r = matmul(x, v[:, :r]) / s[None, :r]
    to_working = np.vectorize(lambda t: +t, otypes=[object])
    u_r, v = to_working(u_r), to_working(v)
    u = np.empty((m, n), dtype=object)
    u[:, :r] = u_r
    if r < n:
        x64 = np.array([[float(val) for val in row] for row in x.tolist()])
        guess = np.linalg.svd(x64, full_matrices=False)[0][:, r:]
        u[:, r:] = _complete(u_r, np.vectorize(mpmath.mpf, otypes=[object])(guess))
    return u, s, v.T


def svd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD ``U, S, Vᵀ`` (S descending) of object arrays of mpf, batched (mpmath.svd_r without flint)."""
    batch = x.shape[:-2]
    m, n = x.shape[-2:]
    k = min(m, n)
    u = np.empty((*batch, m, k), dtype=object)
    s = np.empty((*batch, k), dtype=object)
    vh = np.empty((*batch, k, n), dtype=object)
    one = _svd_2d if flint is not None else _mpmath_svd_2d
    old = flint.ctx.prec if flint is not None else None
    try:
        for idx in np.ndindex(*batch):
            u[idx], s[idx], vh[idx] = one(np.asarray(x[idx]))
    finally:
        if flint is not None:
            flint.ctx.prec = old
    return u, s, vh


def _mpmath_svd_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mpmath.svd_r of one matrix (the path without python-flint, and the rank-deficient fallback)."""
    uu, ss, vv = mpmath.svd_r(mpmath.matrix(x.tolist()), full_matrices=False)
    return (
        np.array(uu.tolist(), dtype=object),
        np.array([ss[i] for i in range(ss.rows)], dtype=object),
        np.array(vv.tolist(), dtype=object),
    )
