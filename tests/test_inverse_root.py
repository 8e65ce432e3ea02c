"""inverse_root(A, r, eps) = (A + εI)^{-1/r} against closed forms, mpmath and SciPy.

Tolerance: eigh is backward stable, so the result is the exact function of
A + E with ‖E‖ ≲ c·n·u·‖A‖. The map λ ↦ (λ + ε)^{-1/r} has relative
condition 1/r but the result's size is λ̂_min^{-1/r}; with eigenvector
perturbations bounded by ‖E‖/gap, the entrywise error is
≤ C·n·u·κ̂·λ̂_min^{-1/r} with κ̂ = λ̂_max/λ̂_min, C = 10.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import scipy.linalg
import torch

from spectral_la import NotPositiveSemidefiniteError, SingularMatrixError, inverse_root
from tests.mp_reference import geometric_spectrum, max_abs_diff, mp_unit_roundoff, prescribed, to_torch, unit_roundoff


def _spd(n, lams, seed):
    """A = Q diag(λ) Qᵀ with its exact factor Q (prescribed() with U = V)."""
    ref = prescribed(n, n, lams, seed=seed)
    q = ref.u
    return q * mpmath.diag(ref.sigma) * q.T, q, ref.sigma


def _exact(q, lams, r, eps):
    return q * mpmath.diag([(lam + eps) ** (-1 / mpmath.mpf(r)) for lam in lams]) * q.T


@pytest.mark.parametrize("r", [1, 2, 4, 2.5])
@pytest.mark.parametrize("kappa", [1e2, 1e8])
@pytest.mark.parametrize("eps", [0.0, 1e-6])
def test_mpmath_path_matches_closed_form(r, kappa, eps):
    mpmath.mp.dps = 50
    lams = geometric_spectrum(6, kappa)
    a, q, lams = _spd(6, lams, seed=1)
    got = inverse_root(a, r, eps=eps)
    lam_min = min(lams) + mpmath.mpf(eps)
    tol = 10 * 6 * mp_unit_roundoff() * kappa * lam_min ** (-1 / mpmath.mpf(r))
    assert max_abs_diff(got, _exact(q, lams, r, mpmath.mpf(eps))) <= tol


@pytest.mark.parametrize("r", [2, 4])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_torch_matches_closed_form(r, dtype):
    mpmath.mp.dps = 40
    kappa = 1e3
    a, q, lams = _spd(8, geometric_spectrum(8, kappa), seed=2)
    x = to_torch(a, dtype)
    # Rounding A to dtype is itself a perturbation of size u·‖A‖: same bound.
    tol = 10 * 8 * unit_roundoff(dtype) * kappa * float(min(lams)) ** (-1 / r)
    assert max_abs_diff(inverse_root(x, r), _exact(q, lams, r, 0)) <= tol


def test_eps_floor_regularises_singular_psd():
    # Rank-2 PSD in 4 dims: λ = (0, 0, 0.5, 1) up to rounding, some possibly negative.
    mpmath.mp.dps = 30
    a, q, lams = _spd(4, [1, 0.5, 0, 0], seed=3)
    eps = 1e-4
    x = to_torch(a)
    got = inverse_root(x, 2, eps=eps)
    # Rounding moves the zero eigenvalues by ~n·u ≪ eps; relative effect n·u/eps on eps^{-1/2}.
    tol = 10 * 4 * unit_roundoff(torch.float64) / eps * eps**-0.5
    assert max_abs_diff(got, _exact(q, lams, 2, mpmath.mpf(eps))) <= tol
    with pytest.raises(SingularMatrixError, match="eps"):
        inverse_root(torch.zeros(3, 3, dtype=torch.float64), 2)


def test_agrees_with_scipy():
    rng = np.random.default_rng(4)
    g = rng.standard_normal((5, 5))
    a = g @ g.T
    w = np.linalg.eigvalsh(a)
    eps = 1e-3
    ref = np.real(scipy.linalg.fractional_matrix_power(a + eps * np.eye(5), -0.25))
    got = inverse_root(torch.from_numpy(a), 4, eps=eps).numpy()
    kap = (w[-1] + eps) / (w[0] + eps)
    assert np.max(np.abs(got - ref)) <= 10 * 5 * unit_roundoff(torch.float64) * kap * (w[0] + eps) ** -0.25


def test_batched_and_half_dtypes():
    g = torch.randn(3, 2, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    a = g @ g.mT + torch.eye(6, dtype=torch.float64)
    batched = inverse_root(a, 2)
    for idx in np.ndindex(3, 2):
        torch.testing.assert_close(batched[idx], inverse_root(a[idx], 2), rtol=0, atol=1e-13)
    for dtype in (torch.bfloat16, torch.float16):
        ah = a.to(dtype)
        got = inverse_root(ah, 2)
        assert got.dtype == dtype
        # Same input, exact in fp64: the fp32 compute contributes 10·n·u₃₂·κ (entries
        # of the result are ≤ λ_min^{-1/2} ≤ 1 since A ⪰ I), the final rounding u_out.
        ref = inverse_root(ah.double(), 2)
        lam = torch.linalg.eigvalsh(ah.double())
        kappa = float((lam[..., -1] / lam[..., 0]).max())
        tol = 2 * unit_roundoff(dtype) + 10 * 6 * unit_roundoff(torch.float32) * kappa
        assert float((got.double() - ref).abs().max()) <= tol


def test_rejects_non_symmetric_and_indefinite():
    with pytest.raises(ValueError, match="symmetric"):
        inverse_root(torch.tensor([[1.0, 2.0], [0.0, 1.0]]), 2)
    with pytest.raises(NotPositiveSemidefiniteError, match="positive semidefinite"):
        inverse_root(torch.tensor([[1.0, 0.0], [0.0, -1.0]]), 2)
    with pytest.raises(ValueError, match="square"):
        inverse_root(torch.ones(2, 3), 2)


BAD_PARAMETERS = [
    ({"r": 0}, ValueError),
    ({"r": -2}, ValueError),
    ({"r": float("nan")}, ValueError),
    ({"r": "2"}, TypeError),
    ({"r": 2, "eps": -1e-3}, ValueError),
    ({"r": 2, "eps": float("inf")}, ValueError),
]


@pytest.mark.parametrize(("kw", "exc"), BAD_PARAMETERS)
def test_bad_parameters(kw, exc):
    name = "eps" if "eps" in kw else "r"
    with pytest.raises(exc, match=name):
        inverse_root(torch.eye(3), **kw)


def test_runs_on_device(device):
    g = torch.randn(2, 5, 5, device=device, dtype=torch.float64)
    a = g @ g.mT + torch.eye(5, device=device, dtype=torch.float64)
    z = inverse_root(a, 2)
    assert z.device.type == device.type
    eye = torch.eye(5, device=device, dtype=torch.float64).expand(2, 5, 5)
    torch.testing.assert_close(z @ a @ z, eye, rtol=0, atol=1e-11)
