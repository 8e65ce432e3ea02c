"""muon_p: bivariate recurrences (published) and the coupled route, against exact references.

Coupled route tolerance: Y = (X₀X₀ᵀ)^{-k/r} X₀ with the inverse root of the Gram
matrix (condition κ² for κ = σ₁/σ_min of X) accurate to ~10·m·κ²·u relative
(tests/test_coupled_inverse_root); the entries of U Σ̂^p Vᵀ are ≤ 1, so
|Y − ref| ≤ 10·m·κ²·u·(k + 1) covers the k-th power as well.
"""

from __future__ import annotations

import math

import mpmath
import pytest
import torch

from spectral_la import fractional_power, muon_p, muon_p_scalar_map
from tests.mp_reference import max_abs_diff, mp_unit_roundoff, prescribed, unit_roundoff

P_GRID = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def _construct(m, n, kappa, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    k = min(m, n)
    u, _ = torch.linalg.qr(torch.randn(m, k, dtype=torch.float64, generator=g))
    v, _ = torch.linalg.qr(torch.randn(n, k, dtype=torch.float64, generator=g))
    s = torch.logspace(0, -math.log10(kappa), k, dtype=torch.float64)
    return ((u * s) @ v.T).to(dtype), u, v


def _normalised(x):
    return x / (torch.linalg.matrix_norm(x, keepdim=True) + 1e-7)


@pytest.mark.parametrize("p", P_GRID)
@pytest.mark.parametrize(("shape", "kappa"), [((12, 30), 1e1), ((30, 12), 1e3)])
def test_coupled_matches_exact_fractional_power(p, shape, kappa):
    x, _, _ = _construct(*shape, kappa)
    got = muon_p(x, p, method="coupled")
    ref = fractional_power(_normalised(x), p)
    m = min(shape)
    assert float((got - ref).abs().max()) <= 10 * m * kappa**2 * unit_roundoff(torch.float64) * 20


@pytest.mark.parametrize("p", [0.25, 0.5, 0.75])
def test_coupled_mpmath_path(p):
    mpmath.mp.dps = 30
    ref = prescribed(4, 6, [1, "0.3", "0.1", "0.03"], seed=1)
    got = muon_p(ref.x, p, method="coupled")
    fro = mpmath.sqrt(sum(s * s for s in ref.sigma)) + mpmath.mpf(1e-7)
    exact = ref.svd_map(lambda s: (s / fro) ** mpmath.mpf(p))
    # κ(X) ≈ 33: 10·m·κ²·u·(k + 1) with k ≤ 3.
    assert max_abs_diff(got, exact) <= 10 * 4 * 33**2 * mp_unit_roundoff() * 4


@pytest.mark.parametrize("p", [1 / 2, 1 / 3, 1 / 5, 3 / 5, 13 / 15])
def test_bivariate_matrix_response_is_its_scalar_map(p):
    x, u, v = _construct(16, 40, 1e2, seed=2)
    # σ̂₁ ≈ 0.6 here, just above p = 1/2's stable bound 0.580, where muon_p raises; unchecked, the matrix
    # still follows its scalar map (what this test pins), whatever that map's distance to σ̂^p
    y = muon_p(x, p, check_finite=False)
    d = u.T @ y @ v
    sig_hat = torch.linalg.svdvals(x) / (torch.linalg.matrix_norm(x) + 1e-7)
    predicted = muon_p_scalar_map(p, sig_hat, check_range=False)
    # Stable region (σ̂ ≤ 0.6 here, amplification ≤ ~10 in the golden tables):
    # 6 steps of a few matmuls, 10·n·T·u·10.
    tol = 10 * 40 * 6 * unit_roundoff(torch.float64) * 10
    assert float((torch.diagonal(d) - predicted).abs().max()) <= tol
    assert float((d - torch.diag(torch.diagonal(d))).abs().max()) <= tol


def test_bivariate_mpmath_path():
    mpmath.mp.dps = 30
    ref = prescribed(3, 5, [1, "0.2", "0.04"], seed=3)
    got = muon_p(ref.x, 1 / 3)
    fro = mpmath.sqrt(sum(s * s for s in ref.sigma)) + mpmath.mpf(1e-7)
    expected = ref.svd_map(lambda s: muon_p_scalar_map(1 / 3, [s / fro])[0])
    assert max_abs_diff(got, expected) <= mpmath.mpf("1e-25")


def test_dtypes_batches_and_shapes():
    x = torch.randn(2, 3, 8, 20, generator=torch.Generator().manual_seed(4))
    for dtype in (torch.float32, torch.bfloat16):
        y = muon_p(x.to(dtype), 1 / 3)
        assert y.dtype == dtype and y.shape == x.shape
    y = muon_p(x.double(), 0.5, method="coupled", steps=40)
    ref = fractional_power(_normalised(x.double()), 0.5)
    assert float((y - ref).abs().max()) <= 1e-6  # Gaussian 8×20: κ ≲ 10, 40 steps converge


@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        ({"p": 0.0}, ValueError, "p must"),
        ({"p": 1.0}, ValueError, "p must"),
        ({"p": float("nan")}, ValueError, "p"),
        ({"p": 0.4}, ValueError, "no published bivariate"),
        ({"p": 0.37, "method": "coupled"}, ValueError, "denominator"),
        ({"p": 1 / 3, "eps": 1e-3}, ValueError, "eps applies"),
        ({"p": 1 / 3, "method": "svd"}, ValueError, "method"),
        ({"p": 1 / 3, "steps": 0}, ValueError, "steps"),
        ({"p": "1/3"}, TypeError, "p"),
    ],
)
def test_bad_parameters(kw, exc, match):
    with pytest.raises(exc, match=match):
        muon_p(torch.randn(4, 6), **kw)


def test_runs_on_device(device):
    x = torch.randn(2, 16, 48, device=device)
    y = muon_p(x, 1 / 3)
    assert y.device.type == device.type and bool(torch.isfinite(y).all())
