"""fractional_power(X, p) = U Σ^p Vᵀ against closed forms, mpmath and SciPy.

Tolerance: U Σ^p Vᵀ of the rounded input, computed from a backward-stable SVD.
The map σ ↦ σ^p has relative condition p, but the singular vectors move by
‖E‖/gap; with the geometric spectra used here (gaps ≥ σ_min·(κ^{1/(k−1)} − 1))
and entries of the result ≤ 1, the entrywise error is ≤ C·n·u·κ as for the
polar factor (test_polar), with C = 10.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import scipy.linalg
import torch

from spectral_la import fractional_power, polar
from tests.mp_reference import (
    from_torch,
    geometric_spectrum,
    max_abs_diff,
    mp_svd_map,
    mp_unit_roundoff,
    prescribed,
    to_torch,
    unit_roundoff,
)

PS = [0.0, 0.1, 1 / 3, 0.5, 0.9, 1.0]


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("shape", [(6, 6), (7, 4), (4, 7)])
@pytest.mark.parametrize("kappa", [1e2, 1e8, 1e16])
def test_mpmath_path_matches_closed_form(shape, p, kappa):
    mpmath.mp.dps = 50
    m, n = shape
    ref = prescribed(m, n, geometric_spectrum(min(m, n), kappa), seed=1)
    pp = mpmath.mpf(p)
    got = fractional_power(ref.x, p)
    assert max_abs_diff(got, ref.svd_map(lambda s: s**pp)) <= 10 * max(m, n) * mp_unit_roundoff() * kappa


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("kappa", [1e2, 1e6, 1e10])
def test_float64_matches_mpmath_reference(p, kappa):
    mpmath.mp.dps = 40
    x = to_torch(prescribed(9, 6, geometric_spectrum(6, kappa), seed=2).x)
    pp = mpmath.mpf(p)
    ref = mp_svd_map(from_torch(x), lambda s: s**pp)
    assert max_abs_diff(fractional_power(x, p), ref) <= 10 * 9 * unit_roundoff(torch.float64) * kappa


def test_endpoints():
    x = torch.randn(2, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert torch.equal(fractional_power(x, 0), polar(x))
    # p = 1 reconstructs X from its SVD: backward error n·u·‖X‖.
    torch.testing.assert_close(fractional_power(x, 1), x, rtol=0, atol=10 * 5 * unit_roundoff(torch.float64) * 4)


def test_rank_deficient_zeros_stay_zero_for_small_p():
    # σ^p at a rounding-level σ ~ 1e-17 would be 1e-17^0.1 = 0.02: the rank
    # threshold must map it to 0. Smallest nonzero σ 1e-2 bounds the error.
    mpmath.mp.dps = 30
    ref = prescribed(6, 6, [1, 0.5, 1e-2, 0, 0, 0], seed=4)
    exact = ref.svd_map(lambda s: s ** mpmath.mpf("0.1"))
    assert max_abs_diff(fractional_power(to_torch(ref.x), 0.1), exact) <= 10 * 6 * unit_roundoff(torch.float64) / 1e-2


@pytest.mark.parametrize("p", [0.25, 0.5, 0.75])
def test_agrees_with_scipy_on_spd(p):
    # For symmetric positive definite A, U Σ^p Vᵀ = A^p (principal power).
    rng = np.random.default_rng(5)
    g = rng.standard_normal((6, 6))
    a = g @ g.T + 0.5 * np.eye(6)
    w = np.linalg.eigvalsh(a)
    ref = np.real(scipy.linalg.fractional_matrix_power(a, p))
    got = fractional_power(torch.from_numpy(a), p).numpy()
    assert np.max(np.abs(got - ref)) <= 10 * 6 * unit_roundoff(torch.float64) * (w[-1] / w[0]) * w[-1] ** p


@pytest.mark.parametrize("p", [-0.1, 1.1, float("nan"), float("inf")])
def test_p_out_of_range(p):
    with pytest.raises(ValueError, match="p"):
        fractional_power(torch.eye(3), p)


def test_p_wrong_type():
    with pytest.raises(TypeError, match="p"):
        fractional_power(torch.eye(3), "0.5")
    with pytest.raises(TypeError, match="p"):
        fractional_power(torch.eye(3), True)
