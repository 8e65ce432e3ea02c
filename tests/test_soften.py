"""Soft-Muon softening: the blend identity, s = 0 bit-identity, the two maps."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch

from spectral_la import newton_schulz, schedules, soften, soften_scalar_map, soften_target_map
from tests.mp_reference import prescribed, unit_roundoff
from tests.poly_reference import amplification, compose


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", ["polar_express", "jordan_ns5"])
def test_s_zero_is_bit_identical_to_plain_ns(dtype, name):
    x = torch.randn(3, 16, 40, generator=torch.Generator().manual_seed(0)).to(dtype)
    assert torch.equal(soften(x, 0.0, name), newton_schulz(x, name))


def test_s_one_is_frobenius_normalised_input():
    x = torch.randn(2, 8, 5, dtype=torch.float64)
    expected = x / (torch.linalg.matrix_norm(x, keepdim=True) + 1e-7)
    torch.testing.assert_close(soften(x, 1.0), expected, rtol=0, atol=4 * unit_roundoff(torch.float64))


@pytest.mark.parametrize("s", [0.1, 0.5, 0.9])
def test_blend_identity(s):
    x = torch.randn(12, 30, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    manual = (1 - s) * newton_schulz(x) + s * x / (torch.linalg.matrix_norm(x) + 1e-7)
    # lerp and the manual blend differ by the rounding of one fma: ≤ 2u·max|entry|.
    torch.testing.assert_close(soften(x, s), manual, rtol=0, atol=4 * unit_roundoff(torch.float64))


@pytest.mark.parametrize("s", [0.0, 0.25, 0.75])
def test_singular_values_follow_the_finite_step_map(s):
    # X = U diag(σ) Vᵀ: the response uᵢᵀ soften(X) vᵢ is (1 − s)·f(σ̂ᵢ) + s·σᵢ/‖X‖_F
    # (soften_scalar_map); the tolerance is the NS one (test_newton_schulz) times (1 − s).
    g = torch.Generator().manual_seed(2)
    u, _ = torch.linalg.qr(torch.randn(24, 16, dtype=torch.float64, generator=g))
    v, _ = torch.linalg.qr(torch.randn(16, 16, dtype=torch.float64, generator=g))
    sigma = torch.logspace(0, -2, 16, dtype=torch.float64)
    x = (u * sigma) @ v.T
    d = torch.diagonal(u.T @ soften(x, s) @ v)
    rel = torch.linalg.svdvals(x) / torch.linalg.matrix_norm(x)
    predicted = soften_scalar_map("polar_express", rel, s)
    rows = schedules["polar_express"].coefficients()
    mpmath.mp.dps = 20
    amp = max(float(amplification(rows, mpmath.mpf(float(r) / 1.01))) for r in rel)
    tol = 10 * 24 * unit_roundoff(torch.float64) * 5 * amp + 1e-7 * 30  # + eps/‖X‖_F · f'
    assert float((d - predicted).abs().max()) <= tol


def test_closed_form_differs_from_finite_step_map_by_the_ns_error():
    # The claimed map (1 − s) + s·σ/‖X‖_F and the true one differ by exactly
    # (1 − s)·(1 − f(σ̂)): computed from the coefficients in mpmath.
    mpmath.mp.dps = 30
    rel = torch.tensor([0.001, 0.01, 0.1, 0.5], dtype=torch.float64)
    s = 0.3
    gap = soften_target_map(rel, s) - soften_scalar_map("jordan_ns5", rel, s)
    rows = schedules["jordan_ns5"].coefficients()
    for r, g in zip(rel.tolist(), gap.tolist(), strict=True):
        assert abs(g - (1 - s) * (1 - float(compose(rows, mpmath.mpf(r))))) <= 1e-14


def test_mpmath_path():
    mpmath.mp.dps = 30
    ref = prescribed(5, 3, [1, "0.2", "0.01"], seed=3)
    y = soften(ref.x, 0.5, "jordan_ns5")
    fro = mpmath.sqrt(1 + mpmath.mpf("0.04") + mpmath.mpf("0.0001"))
    rows = schedules["jordan_ns5"].coefficients()
    # eps is the binary float 1e-7, as the code uses it.
    expected = ref.svd_map(
        lambda t: (
            mpmath.mpf("0.5") * compose(rows, t / (fro + mpmath.mpf(1e-7)))
            + mpmath.mpf("0.5") * t / (fro + mpmath.mpf(1e-7))
        )
    )
    assert max(abs(y[i, j] - expected[i, j]) for i in range(5) for j in range(3)) <= mpmath.mpf("1e-25")


@pytest.mark.parametrize(
    ("s", "exc"),
    [(-0.1, ValueError), (1.1, ValueError), (float("nan"), ValueError), ("0.5", TypeError), (None, TypeError)],
)
def test_bad_s(s, exc):
    with pytest.raises(exc, match="s"):
        soften(torch.randn(4, 4), s)


def test_zero_matrix_gives_zero():
    assert torch.equal(soften(torch.zeros(3, 4), 0.5), torch.zeros(3, 4))


def test_runs_on_device(device):
    x = torch.randn(4, 16, 32, device=device)
    y = soften(x, 0.3)
    assert y.device.type == device.type and bool(torch.isfinite(y).all())
    assert math.isclose(float(np.float64(0.3)), 0.3)
