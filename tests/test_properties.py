"""Property tests (hypothesis): shapes, batches and dtypes of the exact references.

Properties that hold for every input, rank-deficient included: the SVD polar
factor P is a partial isometry (P Pᵀ P = P), PᵀX is symmetric PSD and
X = P (PᵀX); QDWH's U has orthonormal columns (rows) and X = U H. Tolerances
are c·n·u_out·‖X‖ with u_out the unit roundoff of the output dtype (half types
compute in fp32 and round once at the end) and c = 20; the check itself runs
in float64.
"""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spectral_la import fractional_power, polar, qdwh
from tests.mp_reference import unit_roundoff

DTYPES = [torch.float64, torch.float32, torch.bfloat16, torch.float16]


@st.composite
def matrices(draw):
    batch = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
    m, n = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    values = draw(hnp.arrays("float64", (*batch, m, n), elements=st.floats(-4, 4, allow_subnormal=False, width=16)))
    dtype = draw(st.sampled_from(DTYPES))
    return torch.from_numpy(values).to(dtype)


def _tol(x):
    u = unit_roundoff(x.dtype)
    return 20 * max(x.shape[-2:]) * u


def _norm(t):
    return torch.linalg.matrix_norm(t.double())


@settings(max_examples=60, deadline=None)
@given(matrices())
def test_svd_polar_is_partial_isometry_with_psd_h(x):
    p = polar(x)
    assert p.shape == x.shape and p.dtype == x.dtype
    p64, x64 = p.double(), x.double()
    tol = _tol(x)
    assert bool((_norm(p64 @ p64.mT @ p64 - p64) <= tol * (1 + _norm(p64))).all())
    h = p64.mT @ x64
    scale = 1 + _norm(x64)
    assert bool((_norm(h - h.mT) <= tol * scale).all())
    assert bool((torch.linalg.eigvalsh((h + h.mT) / 2)[..., 0] >= -tol * scale).all())
    assert bool((_norm(p64 @ h - x64) <= tol * scale * (1 + _norm(p64))).all())


@settings(max_examples=40, deadline=None)
@given(matrices())
def test_qdwh_factor_is_orthonormal_and_reconstructs(x):
    res = qdwh(x)
    assert res.u.shape == x.shape and res.h.shape == (*x.shape[:-2], x.shape[-1], x.shape[-1])
    u64, h64, x64 = res.u.double(), res.h.double(), x.double()
    tol = _tol(x)
    k = min(x.shape[-2:])
    gram = u64.mT @ u64 if x.shape[-2] >= x.shape[-1] else u64 @ u64.mT
    zero = _norm(x64) == 0
    orth = _norm(gram - torch.eye(k, dtype=torch.float64))
    # converged is False only on numerically rank-deficient X (test_qdwh); only a converged
    # result carries QDWH's guarantees (orthonormal U, O(u) backward error).
    if res.converged:
        assert bool((zero | (orth <= tol * k)).all())
        assert bool((_norm(u64 @ h64 - x64) <= tol * (1 + _norm(x64)) * k).all())


@settings(max_examples=40, deadline=None)
@given(matrices(), st.floats(0, 1))
def test_fractional_power_shape_dtype_and_norm(x, p):
    y = fractional_power(x, p)
    assert y.shape == x.shape and y.dtype == x.dtype
    # Singular values of U Σ^p Vᵀ are σᵢ^p ≤ max(1, σ₁): spectral norm bounded.
    s1 = torch.linalg.matrix_norm(x.double(), 2)
    bound = torch.clamp_min(s1, 1.0) * (1 + _tol(x))
    assert bool((torch.linalg.matrix_norm(y.double(), 2) <= bound).all())
