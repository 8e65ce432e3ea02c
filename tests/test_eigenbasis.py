"""EigenbasisTracker: covariance EMA, bias correction, β = 1 rejection, tracking accuracy."""

from __future__ import annotations

import math

import mpmath
import pytest
import torch

from spectral_la import EigenbasisTracker, subspace_angles
from tests.mp_reference import unit_roundoff


def _stream(t, m=8, n=32, noise=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(m, n, dtype=torch.float64, generator=g)
    return [base + noise * torch.randn(m, n, dtype=torch.float64, generator=g) for _ in range(t)]


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.95])
def test_covariance_matches_closed_form(beta):
    ms = _stream(5)
    tr = EigenbasisTracker(beta=beta)
    for mt in ms:
        tr.update(mt)
    # Closed form: C_t = Σ_k (1 − β) β^{t−k} M_k M_kᵀ, bias-corrected by 1/(1 − βᵗ).
    expected = sum((1 - beta) * beta ** (5 - k) * (mt @ mt.T) for k, mt in enumerate(ms, start=1))
    expected = expected / (1 - beta**5)
    scale = float(max(torch.linalg.matrix_norm(mt @ mt.T) for mt in ms))
    torch.testing.assert_close(tr.covariance, expected, rtol=0, atol=10 * 5 * unit_roundoff(torch.float64) * scale)


def test_first_step_is_the_exact_eigenbasis_and_tall_inputs_use_the_small_side():
    m = _stream(1, m=20, n=6)[0]
    tr = EigenbasisTracker(beta=0.9)
    q = tr.update(m)
    assert q.shape == (6, 6)
    lam, v = torch.linalg.eigh(m.T @ m)
    # Descending order; each column equals the exact eigenvector up to sign (gap-limited accuracy).
    d = torch.diagonal(v.flip(-1).T @ q).abs()
    gaps = (lam[1:] - lam[:-1]).min()
    assert float((d - 1).abs().max()) <= 10 * 6 * unit_roundoff(torch.float64) * float(lam[-1] / gaps) ** 2


def test_beta_one_is_rejected_not_nan():
    with pytest.raises(ValueError, match="beta"):
        EigenbasisTracker(beta=1.0)
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="beta"):
            EigenbasisTracker(beta=bad)


def test_tracking_follows_a_slowly_changing_covariance():
    # A stream with a stable dominant subspace: after 30 power steps the leading
    # 2-dimensional tracked subspace is within 0.05 rad of the exact one (the
    # eigengap λ₂/λ₃ of this stream is ≈ 3, power iteration contracts by it).
    tr = EigenbasisTracker(beta=0.9)
    for mt in _stream(30, noise=0.05, seed=1):
        q = tr.update(mt)
    angle = float(subspace_angles(q, tr.exact_basis(), 2))
    assert angle < 0.05
    # The whole basis spans the whole space: the j = n angle is 0 to rounding.
    assert float(subspace_angles(q, tr.exact_basis(), 8)) <= 10 * 8 * unit_roundoff(torch.float64)


def test_basis_stays_orthonormal_and_sign_continuous():
    tr = EigenbasisTracker(beta=0.8)
    prev = None
    for mt in _stream(10, seed=2):
        q = tr.update(mt)
        torch.testing.assert_close(q.T @ q, torch.eye(8, dtype=torch.float64), rtol=0, atol=1e-13)
        if prev is not None:
            assert bool((torch.diagonal(prev.T @ q) > 0).all())
        prev = q


def test_mpmath_path_and_shape_check():
    mpmath.mp.dps = 25
    tr = EigenbasisTracker(beta=0.5)
    m1 = mpmath.matrix([[1, 2, 0], [0, 1, 3]])
    q = tr.update(m1)
    assert isinstance(q, mpmath.matrix) and q.rows == 2
    tr.update(m1 * 2)
    assert tr.step == 2
    with pytest.raises(ValueError, match="incompatible"):
        tr.update(mpmath.matrix([[1, 2, 0, 1], [0, 1, 3, 1], [1, 1, 1, 1]]))
    with pytest.raises(ValueError, match="before the first update"):
        EigenbasisTracker().covariance  # noqa: B018


def test_subspace_angle_closed_form():
    t = 0.3
    q = torch.tensor([[math.cos(t)], [math.sin(t)]], dtype=torch.float64)
    v = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    assert abs(float(subspace_angles(q, v, 1)) - t) <= 1e-15
    assert float(subspace_angles(v, v, 1)) == 0.0
    with pytest.raises(ValueError, match="j must"):
        subspace_angles(q, v, 2)
