"""QDWH and ZOLO-PD: iteration counts, backward stability, agreement with mpmath, both paths.

Tolerances. QDWH is backward stable (Nakatsukasa & Higham, SIMAX 2012): the
computed U, H satisfy ‖X − UH‖_F ≤ c·u·‖X‖_F and ‖UᵀU − I‖_F ≤ c·u with a
modest c that grows like √n from the Frobenius norms of n×n products.
Measured at n = 100 (fp64): ~9u backward and ~60u orthogonality, so the bounds
30·√n·u and 100·√n·u leave room for other BLAS blockings without hiding a
lost digit. Forward error against the
exact polar factor obeys the same n·u·κ bound as the SVD route (test_polar).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch

from spectral_la import polar, qdwh, zolo_pd
from spectral_la.qdwh import dwh_weights
from tests.mp_reference import (
    from_torch,
    geometric_spectrum,
    max_abs_diff,
    mp_polar,
    mp_unit_roundoff,
    prescribed,
    unit_roundoff,
)

KAPPAS = [1e1, 1e4, 1e8, 1e12, 1e16]
#: Both polar iterations keep one contract (verified, any rank, both backends).
SOLVERS = [qdwh, zolo_pd]
#: Steps for κ ≤ 1e16 in double: QDWH at most 6 (NBG 2010, §5), ZOLO-PD 2 (Nakatsukasa & Freund 2016, §3).
MAX_ITERATIONS = {qdwh: 6, zolo_pd: 2}


def _prescribed_torch(m, n, kappa, seed, dtype=torch.float64):
    """Float matrix with geometric spectrum 1 … 1/κ, built in float64 from QR factors."""
    g = torch.Generator().manual_seed(seed)
    k = min(m, n)
    u, _ = torch.linalg.qr(torch.randn(m, k, dtype=torch.float64, generator=g))
    v, _ = torch.linalg.qr(torch.randn(n, k, dtype=torch.float64, generator=g))
    s = torch.logspace(0, -math.log10(kappa), k, dtype=torch.float64)
    return ((u * s) @ v.T).to(dtype)


def _backward_and_orthogonality(x, res):
    n = min(x.shape[-2:])
    back = torch.linalg.matrix_norm(x - res.u @ res.h) / torch.linalg.matrix_norm(x)
    gram = res.u.mT @ res.u if x.shape[-2] >= x.shape[-1] else res.u @ res.u.mT
    orth = torch.linalg.matrix_norm(gram - torch.eye(n, dtype=x.dtype))
    return float(back.max()), float(orth.max())


@pytest.mark.parametrize("kappa", KAPPAS)
@pytest.mark.parametrize("shape", [(60, 60), (90, 60), (60, 90)])
@pytest.mark.parametrize("solve", SOLVERS)
def test_float64_iterations_and_backward_error(solve, shape, kappa):
    x = _prescribed_torch(*shape, kappa, seed=0)
    res = solve(x)
    assert res.converged
    assert res.iterations <= MAX_ITERATIONS[solve]
    back, orth = _backward_and_orthogonality(x, res)
    u, n = unit_roundoff(torch.float64), min(shape)
    assert back <= 30 * math.sqrt(n) * u
    assert orth <= 100 * math.sqrt(n) * u
    h = res.h
    assert torch.equal(h, h.mT)
    # H is PSD: its eigenvalues are σ(X) ≥ 0 up to backward error.
    assert float(torch.linalg.eigvalsh(h).min()) >= -30 * math.sqrt(n) * u * float(torch.linalg.matrix_norm(x))


@pytest.mark.parametrize("kappa", [1e1, 1e4, 1e8])
@pytest.mark.parametrize("solve", SOLVERS)
def test_float64_forward_error_against_mpmath(solve, kappa):
    mpmath.mp.dps = 40
    x = _prescribed_torch(12, 8, kappa, seed=1)
    ref = mp_polar(from_torch(x))
    assert max_abs_diff(solve(x).u, ref) <= 10 * 12 * unit_roundoff(torch.float64) * kappa


@pytest.mark.parametrize("kappa", [1e1, 1e8, 1e16])
@pytest.mark.parametrize("shape", [(6, 6), (8, 5), (5, 8)])
@pytest.mark.parametrize("solve", SOLVERS)
def test_mpmath_path_matches_closed_form(solve, shape, kappa):
    mpmath.mp.dps = 50
    m, n = shape
    ref = prescribed(m, n, geometric_spectrum(min(m, n), kappa), seed=2)
    res = solve(ref.x)
    assert res.converged and isinstance(res.u, mpmath.matrix)
    assert max_abs_diff(res.u, ref.u * ref.v.T) <= 10 * max(m, n) * mp_unit_roundoff() * kappa
    # H = V Σ Vᵀ (n × n) in closed form; its error is backward-error sized: n·u·‖X‖.
    h_exact = ref.v * mpmath.diag(ref.sigma) * ref.v.T
    assert max_abs_diff(res.h, h_exact) <= 10 * max(m, n) * mp_unit_roundoff() * kappa


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("solve", SOLVERS)
def test_low_precision_inputs(solve, dtype):
    # Compute in fp32 (u₃₂ = 6e-8); half-type outputs are then rounded once to
    # their own precision, which dominates: ‖UᵀU − I‖_F ≲ 2√n·u_out in fp32 arithmetic.
    x = _prescribed_torch(40, 24, 1e3, seed=3, dtype=dtype)
    res = solve(x)
    assert res.u.dtype == dtype and res.h.dtype == dtype and res.converged
    u32 = res.u.float()
    orth = float(torch.linalg.matrix_norm(u32.mT @ u32 - torch.eye(24)))
    u_out = max(unit_roundoff(dtype), 10 * unit_roundoff(torch.float32))
    assert orth <= 10 * math.sqrt(24) * u_out


@pytest.mark.parametrize("solve", SOLVERS)
def test_batched_members_are_independent(solve):
    xs = torch.stack([_prescribed_torch(10, 7, k, seed=i) for i, k in enumerate([1e1, 1e6, 1e12])])
    res = solve(xs.reshape(3, 1, 10, 7))
    assert res.u.shape == (3, 1, 10, 7) and res.h.shape == (3, 1, 7, 7)
    for i in range(3):
        single = solve(xs[i]).u
        # A shared (smaller) ℓ₀ may take another step; both are exact to n·u·κ ≤ 1e-3.
        assert float((res.u[i, 0] - single).abs().max()) <= 10 * 10 * unit_roundoff(torch.float64) * 1e12


@pytest.mark.parametrize("zero_columns", [(1, 3), (0,), (0, 1, 2, 3)])
@pytest.mark.parametrize("solve", SOLVERS)
def test_rank_deficient_gives_a_verified_polar_factor(solve, zero_columns):
    # Zero columns give exact zero singular values, which QDWH's odd rational keeps
    # at 0; the perturbed second pass (module docstring) must still return a
    # verified polar factor: orthonormal, X = UH to O(u), and U = U_r V_rᵀ on the
    # range of Xᵀ (here: the nonzero columns of X are reproduced through H).
    x = torch.randn(8, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    x[:, list(zero_columns)] = 0
    res = solve(x)
    assert res.converged
    back, orth = _backward_and_orthogonality(x, res)
    # Verification bound of qdwh (10·n·u) on both.
    assert back <= 10 * 5 * unit_roundoff(torch.float64)
    assert orth <= 10 * 5 * unit_roundoff(torch.float64)
    assert float(torch.linalg.eigvalsh(res.h).min()) >= -10 * 5 * unit_roundoff(torch.float64) * float(x.norm())
    u_svd = polar(x)
    keep = [j for j in range(5) if j not in zero_columns]
    if keep:  # range part: U applied to the range of Xᵀ agrees with the SVD's factor
        v_r = torch.linalg.svd(x, full_matrices=False).Vh[: len(keep)].mT
        torch.testing.assert_close(res.u @ v_r, u_svd @ v_r, rtol=0, atol=1e-12)


@pytest.mark.parametrize("solve", SOLVERS)
def test_zero_matrix(solve):
    # Every orthonormal U is a polar factor of 0; H = 0 exactly.
    res = solve(torch.zeros(2, 4, 3, dtype=torch.float64))
    assert res.converged
    torch.testing.assert_close(res.u.mT @ res.u, torch.eye(3, dtype=torch.float64).expand(2, 3, 3), rtol=0, atol=1e-14)
    assert torch.equal(res.h, torch.zeros(2, 3, 3, dtype=torch.float64))


def test_max_iterations_reports_non_convergence():
    res = qdwh(_prescribed_torch(20, 20, 1e12, seed=5), max_iterations=2)
    assert res.iterations == 2 and not res.converged


def test_user_bounds_are_used():
    x = _prescribed_torch(20, 20, 1e2, seed=6)
    tight = qdwh(x, alpha=1.0, ell=1e-2)
    loose = qdwh(x, alpha=1.0, ell=1e-15)
    assert tight.iterations < loose.iterations
    assert tight.converged and loose.converged


def test_weights_match_halley_at_one_and_closed_form():
    # At ℓ = 1 the weights are Halley's (3, 1, 3) exactly.
    a, b, c = dwh_weights(mpmath.mpf(1), mpmath.mp)
    assert (a, b, c) == (3, 1, 3)
    # The DWH map sends [ℓ, 1] into [f(ℓ), 1] with f(1) = 1 (NBG 2010, §3): the
    # interval update ℓ ← f(ℓ) of step 4 relies on exactly this.
    mpmath.mp.dps = 30
    ell = mpmath.mpf("1e-3")
    a, b, c = dwh_weights(ell, mpmath.mp)
    f = lambda x: x * (a + b * x * x) / (1 + c * x * x)  # noqa: E731
    assert abs(f(mpmath.mpf(1)) - 1) < mpmath.mpf("1e-25")
    xs = [ell + (1 - ell) * mpmath.mpf(i) / 200 for i in range(201)]
    values = [f(x) for x in xs]
    assert min(values) == values[0]
    assert max(values) <= 1 + mpmath.mpf("1e-25")


def test_polar_qdwh_method_agrees_with_svd():
    x = torch.randn(3, 9, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    s = torch.linalg.svdvals(x)
    kappa = float((s[..., 0] / s[..., -1]).max())
    err = float((polar(x, method="qdwh") - polar(x)).abs().max())
    assert err <= 10 * 9 * unit_roundoff(torch.float64) * kappa


@pytest.mark.parametrize(
    ("bad", "error"), [(0, ValueError), (-1, ValueError), (10**9, ValueError), (1.5, TypeError), (True, TypeError)]
)
@pytest.mark.parametrize("solve", SOLVERS)
def test_bad_max_iterations(solve, bad, error):
    with pytest.raises(error, match="max_iterations"):
        solve(torch.eye(3), max_iterations=bad)


@pytest.mark.parametrize(("kw", "match"), [({"alpha": 0.0}, "alpha"), ({"ell": 0.0}, "ell"), ({"ell": 2.0}, "ell")])
@pytest.mark.parametrize("solve", SOLVERS)
def test_bad_bounds(solve, kw, match):
    with pytest.raises(ValueError, match=match):
        solve(torch.eye(3), **kw)


@pytest.mark.parametrize("solve", SOLVERS)
def test_runs_on_device(solve, device):
    x = torch.randn(2, 16, 8, device=device, dtype=torch.float64)
    res = solve(x)
    assert res.u.device.type == device.type and res.converged
    back, orth = _backward_and_orthogonality(x.cpu(), res._replace(u=res.u.cpu(), h=res.h.cpu()))
    assert back <= 30 * math.sqrt(8) * unit_roundoff(torch.float64)
    assert orth <= 100 * math.sqrt(8) * unit_roundoff(torch.float64)


@pytest.mark.parametrize("solve", SOLVERS)
def test_numpy_object_array_batch_path(solve):
    mpmath.mp.dps = 30
    mats = [prescribed(5, 3, [1, 0.1, 0.01], seed=s) for s in range(2)]
    arr = np.stack([np.array(mt.x.tolist(), dtype=object) for mt in mats])
    res = solve(arr)
    assert res.u.shape == (2, 5, 3) and res.h.shape == (2, 3, 3)
    for k, mt in enumerate(mats):
        assert max_abs_diff(res.u[k], mt.u * mt.v.T) <= 10 * 5 * mp_unit_roundoff() * 100
