"""coupled_inverse_root / coupled_sqrt: agreement with the exact references and with mpmath.

Tolerance in tolerance-driven mode: the stopping rule reaches ‖M − I‖_F ≤ √(n·u)
and takes one more (quadratically convergent) step, leaving an O(n·u) residual;
the root is then as accurate as its conditioning allows, κ·u relative to its
scale ‖A^{-1/r}‖₂: 10·n·κ·u·scale.
"""

from __future__ import annotations

import mpmath
import pytest
import torch

import spectral_la as sl
from spectral_la import (
    NotPositiveSemidefiniteError,
    SingularMatrixError,
    coupled_inverse_root,
    coupled_sqrt,
    inverse_root,
)
from tests.mp_reference import max_abs_diff, mp_unit_roundoff, prescribed, unit_roundoff


def _spd(n, kappa, batch=(), seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(*batch, n, n, dtype=torch.float64, generator=g))
    lam = torch.logspace(0, -torch.log10(torch.tensor(kappa)).item(), n, dtype=torch.float64)
    return ((q * lam) @ q.mT).to(dtype)


@pytest.mark.parametrize("r", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("kappa", [1e1, 1e4, 1e8])
def test_newton_matches_exact_inverse_root(r, kappa):
    a = _spd(16, kappa)
    res = coupled_inverse_root(a, r)
    assert res.converged and res.iterations < 100
    exact = inverse_root(a, r)
    scale = kappa ** (1 / r)  # ‖A^{-1/r}‖₂
    assert float((res.root - exact).abs().max()) <= 10 * 16 * kappa * unit_roundoff(torch.float64) * scale


@pytest.mark.parametrize("kappa", [1e1, 1e4, 1e8])
def test_newton_schulz_sqrt_pair(kappa):
    a = _spd(12, kappa)
    sq, inv, info = coupled_sqrt(a)
    assert info.converged
    u = unit_roundoff(torch.float64)
    assert float((inv - inverse_root(a, 2)).abs().max()) <= 10 * 12 * kappa * u * kappa**0.5
    # (A^{1/2})² = A to backward-error size n·u·κ^{1/2}·‖A‖.
    assert float((sq @ sq - a).abs().max()) <= 10 * 12 * kappa**0.5 * u
    res = coupled_inverse_root(a, 2, method="newton_schulz")
    torch.testing.assert_close(res.root, inv, rtol=0, atol=0)


@pytest.mark.parametrize("kappa", [1e2, 1e4, 1e8])
def test_cans_schedule_matches_and_needs_fewer_products(kappa):
    """Coupled NS driven by a Remez-designed sign schedule for ℓ = √(λ_min/‖A‖_F) (CANS, arXiv 2506.10935).

    Reference: the closed form Q diag(λ^{-1/2}) Qᵀ of the constructed A. Same tolerance argument
    as the classic iteration (the same stopping rule): 10·n·κ·u·‖A^{-1/2}‖₂.
    """
    import math

    from spectral_la import design_schedule

    n = 32
    g = torch.Generator().manual_seed(3)
    q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=g))
    lam = torch.logspace(0, -math.log10(kappa), n, dtype=torch.float64)
    a = (q * lam) @ q.T
    exact = (q * lam.rsqrt()) @ q.T
    ell = math.sqrt(float(lam.min()) / float(torch.linalg.matrix_norm(a)))
    # 12 designed steps: past ℓ_T ≈ 1 the design's rows are the Padé (Newton–Schulz) step, which
    # converges quadratically when repeated, so the tolerance mode can run it
    cans = design_schedule(5, 12, 0.9 * ell).schedule
    sq, inv, info = coupled_sqrt(a, schedule=cans)
    classic = coupled_inverse_root(a, 2, method="newton_schulz")
    assert info.converged and classic.converged
    bound = 10 * n * kappa * unit_roundoff(torch.float64) * kappa**0.5
    assert float((inv - exact).abs().max()) <= bound
    assert float((sq @ sq - a).abs().max()) <= 10 * n * kappa**0.5 * unit_roundoff(torch.float64)
    # a degree-5 step costs 4 products (ZY, M², Y·T, T·Z), the classic one 3: CANS takes fewer in all
    assert 4 * info.iterations < 3 * classic.iterations


def test_coupled_schedule_errors():
    a = _spd(4, 10.0)
    with pytest.raises(ValueError, match="fixed rows"):
        coupled_sqrt(a, schedule="dion_ns5")
    with pytest.raises(ValueError, match="needs a sign one"):
        from spectral_la import design_schedule

        coupled_sqrt(a, schedule=design_schedule(5, 1, 0.1, target_map="power:0.5").schedule, steps=1)
    with pytest.raises(ValueError, match="defines 5 steps"):
        coupled_sqrt(a, schedule="dion_ns5", steps=6)


def test_eps_regularises_a_singular_matrix():
    g = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    a = g @ g.T  # rank 3
    res = coupled_inverse_root(a, 2, eps=1e-3)
    assert res.converged
    # κ(A + εI) ≤ (‖A‖ + ε)/ε ≈ 1e4.
    kappa = (float(torch.linalg.matrix_norm(a, 2)) + 1e-3) / 1e-3
    exact = inverse_root(a, 2, eps=1e-3)
    assert float((res.root - exact).abs().max()) <= 10 * 6 * kappa * unit_roundoff(torch.float64) * 1e-3**-0.5


def test_singular_or_indefinite_input_raises_before_iterating():
    # The coupled iterations need A + εI positive definite; a singular B would never
    # converge and an indefinite one diverges to NaN, so both are refused up front.
    with pytest.raises(SingularMatrixError, match="eps"):
        coupled_inverse_root(torch.zeros(3, 3, dtype=torch.float64), 2)
    with pytest.raises(SingularMatrixError):
        coupled_sqrt(torch.diag(torch.tensor([1.0, 0.0], dtype=torch.float64)))
    with pytest.raises(NotPositiveSemidefiniteError):
        coupled_inverse_root(torch.diag(torch.tensor([1.0, -1.0], dtype=torch.float64)), 2, eps=1e-3)
    # eps lifts a singular PSD matrix: then it converges.
    assert coupled_inverse_root(torch.diag(torch.tensor([1.0, 0.0], dtype=torch.float64)), 2, eps=1e-2).converged


def test_fixed_steps_and_batching():
    a = _spd(8, 1e3, batch=(2, 3), seed=2)
    res = coupled_inverse_root(a, 4, steps=30)
    assert res.iterations == 30 and res.root.shape == (2, 3, 8, 8) and res.converged
    for i in range(2):
        for j in range(3):
            single = coupled_inverse_root(a[i, j], 4, steps=30).root
            torch.testing.assert_close(res.root[i, j], single, rtol=0, atol=1e-12)


def test_mpmath_path():
    mpmath.mp.dps = 40
    ref = prescribed(5, 5, [1, "0.5", "0.1", "0.01", "0.001"], seed=3)
    q = ref.u
    a = q * mpmath.diag(ref.sigma) * q.T
    res = coupled_inverse_root(a, 3)
    exact = q * mpmath.diag([s ** (-mpmath.mpf(1) / 3) for s in ref.sigma]) * q.T
    assert res.converged
    assert max_abs_diff(res.root, exact) <= 10 * 5 * 1e3 * mp_unit_roundoff() * 10


def test_half_precision_input_computes_in_float32():
    a = _spd(8, 1e2, dtype=torch.bfloat16)
    res = coupled_inverse_root(a, 2)
    assert res.root.dtype == torch.bfloat16 and res.converged
    exact = inverse_root(a.double(), 2)
    # fp32 compute (10·n·κ·u₃₂·‖root‖) then one bf16 rounding of entries ≤ ‖root‖ = 10.
    tol = 10 * 8 * 1e2 * unit_roundoff(torch.float32) * 10 + unit_roundoff(torch.bfloat16) * 10
    assert float((res.root.double() - exact).abs().max()) <= tol


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"r": 0}, "r must"),
        ({"r": 2.5}, "r must"),
        ({"r": True}, "r must"),  # TypeError: a bool is not an int
        ({"r": 3, "method": "newton_schulz"}, "r = 2 only"),
        ({"r": 2, "method": "qr"}, "method"),
        ({"r": 2, "eps": -1.0}, "eps"),
        ({"r": 2, "steps": 0}, "steps"),
        ({"r": 2, "max_iterations": 0}, "max_iterations"),
        ({"r": 2, "check_every": 0}, "check_every"),
    ],
)
def test_bad_parameters(kw, match):
    expected = TypeError if kw.get("r") is True else ValueError
    with pytest.raises(expected, match=match):
        coupled_inverse_root(torch.eye(3), **kw)


def test_bad_matrices():
    with pytest.raises(ValueError, match="symmetric"):
        coupled_inverse_root(torch.tensor([[1.0, 2.0], [0.0, 1.0]]), 2)
    with pytest.raises(ValueError, match="square"):
        coupled_inverse_root(torch.ones(2, 3), 2)
    bad = torch.eye(3)
    bad[0, 0] = float("inf")
    with pytest.raises(ValueError, match="non-finite"):
        coupled_inverse_root(bad, 2)


def test_runs_on_device(device):
    a = _spd(16, 1e2).to(device)
    res = coupled_inverse_root(a, 4, steps=25)
    assert res.root.device.type == device.type and res.converged


def test_fixed_step_iterations_that_leave_their_range_raise():
    """Fixed steps used to return whatever the iterate became (a NaN root reported as an overflow)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 32, generator=g, dtype=torch.float64)
    a = x @ x.T + 1e-3 * torch.eye(32, dtype=torch.float64)
    # EO's cans rows have no margin above 1: in bf16, rounding puts an eigenvalue of ZY above it
    with pytest.raises(sl.DivergedError, match="coupled Newton–Schulz: the residual reached"):
        sl.coupled_sqrt(a, schedule="eo_cans", steps=6, compute_dtype=torch.bfloat16)
    # the same input in bf16 with a schedule that keeps its band: no error, residual within the bound
    _, _, info = sl.coupled_sqrt(a, schedule="polar_express", steps=6, compute_dtype=torch.bfloat16)
    assert info.residual < 2 * 32**0.5
    # bf16 no longer fails inside torch's Cholesky (no bf16 kernel): the check runs in fp32
    assert sl.coupled_inverse_root(a, 2, steps=30, compute_dtype=torch.bfloat16, eps=1e-1).iterations == 30
