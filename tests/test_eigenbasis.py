"""EigenbasisTracker: covariance EMA, bias correction, β = 1 rejection, tracking accuracy."""

from __future__ import annotations

import math

import mpmath
import numpy as np
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


@pytest.mark.parametrize(
    ("scale", "dtype"),
    [
        (1e-30, torch.float32),
        (2.0**-140, torch.float32),
        (1e20, torch.float32),
        (1e30, torch.float32),
        (1e200, torch.float64),
        (1e-300, torch.float64),
    ],
)
def test_tracking_is_scale_safe(scale, dtype):
    """Was: residual 0.5 with no error at 1e-30 (fp32, M Mᵀ underflows), eigh failures at 1e20/1e30 and 1e200."""
    g = torch.Generator().manual_seed(0)
    ms = [torch.randn(8, 24, dtype=torch.float64, generator=g) for _ in range(4)]
    ref, scaled = EigenbasisTracker(0.9), EigenbasisTracker(0.9)
    for m in ms:
        q_ref = ref.update(m.to(dtype))
        q = scaled.update((m * scale).to(dtype))
    # the same inputs up to one factor: the same basis, up to the rounding of the scaled input
    # (fp32 subnormals at 2^-140 keep ~9 bits: a looser bound there) and of 4 QR steps
    tol = 1e-2 if scale == 2.0**-140 else 1e-4 if dtype == torch.float32 else 1e-10
    assert float(subspace_angles(q, q_ref, 8).max()) < tol
    eye = torch.eye(8, dtype=dtype)
    torch.testing.assert_close(q.mT @ q, eye, rtol=0, atol=1e-5 if dtype == torch.float32 else 1e-12)


def test_kinds_shapes_and_dtypes_are_checked():
    tr = EigenbasisTracker(0.9)
    q = tr.update(np.ones((4, 6), dtype=np.float32) + np.eye(4, 6, dtype=np.float32))
    assert isinstance(q, np.ndarray) and q.dtype == np.float32
    assert isinstance(subspace_angles(q, tr.exact_basis(), 2), np.ndarray)
    for bad in (np.ones((4, 6)), torch.ones(4, 6)):
        with pytest.raises(TypeError, match="must match the first update"):
            tr.update(bad)
    with pytest.raises(ValueError, match="incompatible"):
        tr.update(np.ones((5, 6), dtype=np.float32))
    with pytest.raises(TypeError, match="one kind and dtype"):
        subspace_angles(torch.eye(3), np.eye(3, dtype=np.float32), 1)
    with pytest.raises(ValueError, match="one shape"):
        subspace_angles(torch.eye(3), torch.eye(4), 1)
