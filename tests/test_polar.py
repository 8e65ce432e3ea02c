"""polar(X, method="svd"): accuracy against mpmath, rank deficiency, batches, SciPy agreement.

Tolerance argument (used throughout): the polar factor is computed from a
backward-stable SVD, so the result is the exact polar factor of X + E with
‖E‖ ≲ c·n·u·‖X‖, plus an O(n·u) rounding of the product U Vᵀ. The polar factor
of an n-column matrix moves by at most ‖E‖·2/(σ_n + σ_{n−1}) ≤ ‖E‖/σ_n (square)
and ‖E‖·2/σ_n (rectangular) (Higham 2008, Thm 8.9), so entrywise
|U − U_ref| ≤ C·n·u·κ with κ = σ₁/σ_n; C = 10 covers the LAPACK constants.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import scipy.linalg
import torch

from spectral_la import msign, polar
from tests.mp_reference import (
    from_torch,
    geometric_spectrum,
    max_abs_diff,
    mp_polar,
    mp_unit_roundoff,
    prescribed,
    to_torch,
    unit_roundoff,
)

KAPPAS = [1e2, 1e4, 1e8, 1e12, 1e16]
SHAPES = [(7, 7), (9, 5), (5, 9)]


@pytest.mark.parametrize("kappa", KAPPAS)
@pytest.mark.parametrize("shape", SHAPES)
def test_mpmath_path_matches_closed_form(shape, kappa):
    mpmath.mp.dps = 50
    m, n = shape
    ref = prescribed(m, n, geometric_spectrum(min(m, n), kappa), seed=1)
    got = polar(ref.x)
    assert isinstance(got, mpmath.matrix)
    exact = ref.u * ref.v.T
    # ref.x is U Σ Vᵀ rounded to 50 digits: its polar factor is within ~n·u·κ of U Vᵀ.
    assert max_abs_diff(got, exact) <= 10 * max(m, n) * mp_unit_roundoff() * kappa


@pytest.mark.parametrize("kappa", [1e2, 1e4, 1e8, 1e12])
@pytest.mark.parametrize("shape", SHAPES)
def test_float64_matches_mpmath_reference(shape, kappa):
    mpmath.mp.dps = 50
    m, n = shape
    x = to_torch(prescribed(m, n, geometric_spectrum(min(m, n), kappa), seed=2).x)
    ref = mp_polar(from_torch(x))  # exact polar factor of the rounded float64 input
    err = max_abs_diff(polar(x), ref)
    assert err <= 10 * max(m, n) * unit_roundoff(torch.float64) * kappa


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_low_precision_dtypes_match_mpmath_reference(dtype):
    # Half types compute in float32 and round the result once to their own
    # precision: error ≤ u_out (output rounding, entries ≤ 1) + 10·n·u_fp32·κ.
    mpmath.mp.dps = 40
    m, n, kappa = 8, 6, 1e2
    x = to_torch(prescribed(m, n, geometric_spectrum(n, kappa), seed=3).x, dtype)
    got = polar(x)
    assert got.dtype == dtype
    ref = mp_polar(from_torch(x))
    u_out = unit_roundoff(dtype) if dtype != torch.float32 else 0.0
    assert max_abs_diff(got, ref) <= u_out + 10 * m * unit_roundoff(torch.float32) * kappa


def _assert_polar_factor(x, u, c):
    """U orthonormal, X = U H with H = sym(UᵀX) PSD, each to c·u·(size) (float64)."""
    tall = x.shape[-2] >= x.shape[-1]
    xt, ut = (x, u) if tall else (x.mT, u.mT)
    n = xt.shape[-1]
    eye = torch.eye(n, dtype=x.dtype)
    tol = c * max(x.shape[-2:]) * unit_roundoff(x.dtype)
    assert float(torch.linalg.matrix_norm(ut.mT @ ut - eye).max()) <= tol
    h = ut.mT @ xt
    h = (h + h.mT) / 2
    scale = float(torch.linalg.matrix_norm(xt).max())
    assert float(torch.linalg.matrix_norm(xt - ut @ h).max()) <= tol * scale
    assert float(torch.linalg.eigvalsh(h).min()) >= -tol * scale


@pytest.mark.parametrize("shape", [(8, 6), (6, 8), (6, 6)])
@pytest.mark.parametrize("method", ["svd", "qdwh"])
def test_rank_deficient_gives_a_polar_factor_agreeing_on_the_range(shape, method):
    # Exact zeros in the spectrum: U is a polar factor (orthonormal, X = UH, H PSD)
    # and equals the closed-form U_r V_rᵀ on the range of Xᵀ (U V_r = U_r). The
    # smallest nonzero σ is 1e-3, so U_r moves by ≲ 10·n·u/1e-3 under rounding of X.
    mpmath.mp.dps = 30
    m, n = shape
    sigma = [1, 0.5, 0.1, 1e-3, 0, 0]
    ref = prescribed(m, n, sigma, seed=4)
    x = to_torch(ref.x)
    got = polar(x, method)
    _assert_polar_factor(x, got, c=10)
    v_r = to_torch(ref.v)[:, :4]
    u_r = to_torch(ref.u)[:, :4]
    assert float((got @ v_r - u_r).abs().max()) <= 10 * max(m, n) * unit_roundoff(torch.float64) / 1e-3


@pytest.mark.parametrize("shape", [(8, 6), (6, 8), (6, 6)])
def test_msign_maps_zero_singular_values_to_zero(shape):
    mpmath.mp.dps = 30
    m, n = shape
    sigma = [1, 0.5, 0.1, 1e-3, 0, 0]
    ref = prescribed(m, n, sigma, seed=4)
    exact = ref.svd_map(lambda s: 1)
    got64 = msign(to_torch(ref.x))
    assert max_abs_diff(got64, exact) <= 10 * max(m, n) * unit_roundoff(torch.float64) / 1e-3
    assert max_abs_diff(msign(ref.x), exact) <= 10 * max(m, n) * mp_unit_roundoff() / 1e-3


def test_zero_matrix_polar_factor_is_orthonormal_and_msign_is_zero():
    # Every orthonormal U is a polar factor of 0 (0 = U·0); msign(0) = 0.
    for method in ("svd", "qdwh"):
        u = polar(torch.zeros(2, 6, 4, dtype=torch.float64), method)
        torch.testing.assert_close(u.mT @ u, torch.eye(4, dtype=torch.float64).expand(2, 4, 4), rtol=0, atol=1e-14)
    assert torch.equal(msign(torch.zeros(2, 3, 4)), torch.zeros(2, 3, 4))
    z = msign(mpmath.zeros(3, 2))
    assert all(z[i, j] == 0 for i in range(3) for j in range(2))


def test_batched_equals_per_matrix():
    x = torch.randn(2, 3, 6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    batched = polar(x)
    for idx in np.ndindex(2, 3):
        # The same LAPACK call per matrix: identical up to blocking differences.
        torch.testing.assert_close(batched[idx], polar(x[idx]), rtol=0, atol=1e-14)


def test_mpmath_object_array_batch():
    mpmath.mp.dps = 30
    mats = [prescribed(4, 3, [1, 0.5, 0.25], seed=s) for s in range(2)]
    arr = np.stack([np.array(mt.x.tolist(), dtype=object) for mt in mats])
    got = polar(arr)
    assert isinstance(got, np.ndarray) and got.shape == (2, 4, 3)
    for k, mt in enumerate(mats):
        assert max_abs_diff(got[k], mt.u * mt.v.T) <= 10 * 4 * mp_unit_roundoff() * 4


@pytest.mark.parametrize("shape", [(6, 6), (9, 4)])
def test_agrees_with_scipy_polar(shape):
    # Both are backward stable on a matrix with κ ≤ ~1e2: agreement to ~n·u·κ.
    rng = np.random.default_rng(5)
    a = rng.standard_normal(shape)
    u_scipy, _ = scipy.linalg.polar(a)
    s = np.linalg.svd(a, compute_uv=False)
    got = polar(torch.from_numpy(a)).numpy()
    assert np.max(np.abs(got - u_scipy)) <= 10 * max(shape) * unit_roundoff(torch.float64) * s[0] / s[-1]


def test_msign_rtol_controls_numerical_rank():
    x = torch.diag(torch.tensor([1.0, 1e-6], dtype=torch.float64))
    assert torch.equal(polar(x), torch.eye(2, dtype=torch.float64))
    assert torch.equal(msign(x), torch.eye(2, dtype=torch.float64))
    assert torch.equal(msign(x, rtol=1e-3), torch.diag(torch.tensor([1.0, 0.0], dtype=torch.float64)))


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="method"):
        polar(torch.eye(2), method="newton")


def test_runs_on_device(device):
    x = torch.randn(3, 5, 4, device=device, dtype=torch.float32)
    u = polar(x)
    assert u.device.type == device.type
    eye = torch.eye(4, device=device).expand(3, 4, 4)
    torch.testing.assert_close(u.mT @ u, eye, rtol=0, atol=50 * unit_roundoff(torch.float32) * 4)
