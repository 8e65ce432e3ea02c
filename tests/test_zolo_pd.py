"""ZOLO-PD's Zolotarev coefficients against their defining properties, in mpmath.

The iteration's contract (verified polar factor, any rank, both backends, iteration count) is
tested with QDWH's in tests/test_qdwh.py (``SOLVERS``). Here: the rational function the
coefficients define is the best approximation of the sign on [ℓ, 1] (its error equioscillates
at 2r + 2 points, Chebyshev's criterion), its partial fractions are the same function, and
two steps of type r = 8 reach double precision from κ = 10¹⁶ (Nakatsukasa & Freund 2016, §3).
"""

from __future__ import annotations

import mpmath
import pytest
import torch

from spectral_la import polar, zolo_pd
from spectral_la.zolo_pd import choose_r, zolotarev


def _rational(z, x):
    """x(1 + Σ aⱼ/(x² + c₂ⱼ₋₁)) (the iteration's form), times 1/R(1)."""
    return z.scale * x * (1 + mpmath.fsum(a / (x * x + c) for a, c in zip(z.a, z.c_odd, strict=True)))


@pytest.mark.parametrize(("ell", "r"), [(0.5, 1), (1e-2, 2), (1e-6, 4), (1e-16, 8)])
def test_error_equioscillates_at_2r_plus_2_points(ell, r):
    mpmath.mp.dps = 40
    z = zolotarev(ell, r)
    # Locate the local extrema of the error of M·Ẑ (M = 2/(max + min)) on a log grid, refine each
    # interior one by golden-section search: they must number 2r + 2 (ends included), alternate in
    # sign and agree in size to 1e-20 relative (Chebyshev's criterion for the best approximation).
    n = 2000
    xs = [mpmath.mpf(ell) ** (1 - mpmath.mpf(k) / n) for k in range(n + 1)]
    vals = [_rational(z, x) for x in xs]
    ext = [0] + [k for k in range(1, n) if (vals[k] - vals[k - 1]) * (vals[k + 1] - vals[k]) < 0] + [n]
    assert len(ext) == 2 * r + 2
    peaks = [vals[0]]
    for k in ext[1:-1]:
        sign = 1 if vals[k] > vals[k - 1] else -1  # a maximum or a minimum of Ẑ
        lo, hi = xs[k - 1], xs[k + 1]
        for _ in range(120):
            a, b = lo + (hi - lo) * mpmath.mpf("0.382"), lo + (hi - lo) * mpmath.mpf("0.618")
            if sign * _rational(z, a) > sign * _rational(z, b):
                hi = b
            else:
                lo = a
        peaks.append(_rational(z, (lo + hi) / 2))
    peaks.append(vals[-1])
    m = 2 / (max(peaks) + min(peaks))
    err = [m * p - 1 for p in peaks]
    assert all(a * b < 0 for a, b in zip(err, err[1:], strict=False))
    sizes = [abs(e) for e in err]
    assert max(sizes) - min(sizes) <= mpmath.mpf(10) ** -20 * max(sizes)
    # Ẑ = R/R(1): largest at x = 1 (value 1) and smallest at ℓ (value ℓ₁).
    assert abs(vals[-1] - 1) < mpmath.mpf(10) ** -35 and abs(vals[0] - z.ell_next) < mpmath.mpf(10) ** -35


def test_partial_fractions_equal_the_product_form():
    mpmath.mp.dps = 40
    ell, r = mpmath.mpf("1e-8"), 5
    z = zolotarev(ell, r)
    # The product form from the cᵢ directly: c₂ⱼ are the zeros in x², recomputed from sn/cn here at
    # 80 digits (with ℓ′² = 1 − 10⁻¹⁶, sn and cn lose 16 of them; zolotarev adds the bits itself).
    with mpmath.workdps(80):
        m_prime = 1 - ell**2
        kp = mpmath.ellipk(m_prime)
        c = [
            ell**2
            * (
                mpmath.ellipfun("sn", i * kp / (2 * r + 1), m=m_prime)
                / mpmath.ellipfun("cn", i * kp / (2 * r + 1), m=m_prime)
            )
            ** 2
            for i in range(1, 2 * r + 1)
        ]
    for x in [ell, mpmath.mpf("1e-4"), mpmath.mpf("0.3"), mpmath.mpf(1)]:
        prod = x * mpmath.fprod((x * x + c[2 * j + 1]) / (x * x + c[2 * j]) for j in range(r))
        assert abs(_rational(z, x) - z.scale * prod) <= mpmath.mpf(10) ** -30 * abs(z.scale * prod)


def test_two_steps_reach_double_precision_from_kappa_1e16():
    mpmath.mp.dps = 40
    u = mpmath.mpf(2) ** -53
    one = zolotarev(mpmath.mpf("1e-16"), 8)
    two = zolotarev(one.ell_next, 8)
    assert 1 - two.ell_next <= 10 * u  # the paper's claim: 2 iterations for κ ≤ 1e16 in double
    assert 1 - zolotarev(zolotarev(mpmath.mpf("1e-16"), 7).ell_next, 7).ell_next > 10 * u  # r = 7 does not
    assert choose_r(mpmath.mpf("1e-16"), 10 * u) == 8
    assert choose_r(mpmath.mpf("0.9"), 10 * u) <= 2


def test_polar_zolo_agrees_with_svd_and_differentiates():
    x = torch.randn(30, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    u = polar(x, "zolo")
    torch.testing.assert_close(u, polar(x.detach()), rtol=0, atol=1e-12)
    (g,) = torch.autograd.grad((u * u.detach()).sum(), x)  # d/dX ⟨U, U₀⟩, as the SVD route's
    (g_svd,) = torch.autograd.grad((polar(x) * u.detach()).sum(), x)
    torch.testing.assert_close(g, g_svd, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("ell", "r", "error"), [(0.0, 2, ValueError), (1.5, 2, ValueError), (0.5, 0, ValueError), (0.5, 9, ValueError)]
)
def test_bad_coefficient_arguments(ell, r, error):
    with pytest.raises(error):
        zolotarev(ell, r)


def test_ill_conditioned_takes_two_steps_where_qdwh_takes_six():
    g = torch.Generator().manual_seed(3)
    q1, _ = torch.linalg.qr(torch.randn(40, 40, dtype=torch.float64, generator=g))
    q2, _ = torch.linalg.qr(torch.randn(40, 40, dtype=torch.float64, generator=g))
    x = (q1 * torch.logspace(0, -15, 40, dtype=torch.float64)) @ q2.T
    res = zolo_pd(x)
    assert res.converged and res.iterations == 2
