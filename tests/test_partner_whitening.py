"""Partner whitening: C, C⁻¹ exact vs matmul vs mpmath; the composite direction; isotropic error."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import torch

import spectral_la as sl
from spectral_la import isotropic_inverse_root, partner_gram_roots, polar, whitened_direction
from tests.mp_reference import max_abs_diff, mp_unit_roundoff, prescribed, unit_roundoff


def _w(k=40, n=16, seed=0):
    return torch.randn(k, n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_exact_roots_against_mpmath_closed_form():
    mpmath.mp.dps = 30
    ref = prescribed(7, 4, [2, 1, "0.5", "0.1"], seed=1)
    lam = mpmath.mpf(0.01)  # the binary double the call below passes
    c, c_inv = partner_gram_roots(ref.x, 0.01)
    # WᵀW + λI = V diag(σ² + λ) Vᵀ.
    exact_c = ref.v * mpmath.diag([mpmath.sqrt(s * s + lam) for s in ref.sigma]) * ref.v.T
    exact_inv = ref.v * mpmath.diag([1 / mpmath.sqrt(s * s + lam) for s in ref.sigma]) * ref.v.T
    kappa = (4 + 0.01) / (0.01 + 0.01)
    assert max_abs_diff(c, exact_c) <= 10 * 4 * kappa * mp_unit_roundoff() * 2
    assert max_abs_diff(c_inv, exact_inv) <= 10 * 4 * kappa * mp_unit_roundoff() * 10


@pytest.mark.parametrize("lam", [1e-3, 1.0])
def test_matmul_roots_match_exact(lam):
    w = _w()
    c, c_inv = partner_gram_roots(w, lam)
    c2, c_inv2 = partner_gram_roots(w, lam, method="matmul")
    gram_eigs = torch.linalg.eigvalsh(w.T @ w) + lam
    kappa = float(gram_eigs[-1] / gram_eigs[0])
    u = unit_roundoff(torch.float64)
    assert float((c2 - c).abs().max()) <= 10 * 16 * kappa * u * float(gram_eigs[-1]) ** 0.5
    assert float((c_inv2 - c_inv).abs().max()) <= 10 * 16 * kappa * u * float(gram_eigs[0]) ** -0.5
    torch.testing.assert_close(c @ c_inv, torch.eye(16, dtype=torch.float64), rtol=0, atol=10 * 16 * kappa * u)


def test_direction_definition_and_isotropic_limit():
    w = _w(seed=2)
    g = torch.randn(24, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    _, c_inv = partner_gram_roots(w, 1e-2)
    expected = polar(g @ c_inv) @ c_inv
    torch.testing.assert_close(whitened_direction(g, w, 1e-2), expected, rtol=0, atol=0)
    # An isotropic partner (orthonormal columns scaled by 3): the shortcut is exact,
    # C = √(9 + λ)·I, direction msign(G)/√(9 + λ).
    q, _ = torch.linalg.qr(_w(seed=4))
    w_iso = 3 * q
    exact = whitened_direction(g, w_iso, 1e-2)
    iso = whitened_direction(g, w_iso, 1e-2, method="isotropic")
    torch.testing.assert_close(iso, polar(g) / (9 + 1e-2) ** 0.5, rtol=0, atol=1e-14)
    torch.testing.assert_close(exact, iso, rtol=0, atol=10 * 16 * unit_roundoff(torch.float64))


def test_isotropic_scalar_is_rms_eigenvalue():
    w = _w(seed=5)
    c_inv = isotropic_inverse_root(w, 0.5)
    c = (float(torch.linalg.matrix_norm(w)) ** 2 / 16 + 0.5) ** 0.5
    torch.testing.assert_close(c_inv, torch.eye(16, dtype=torch.float64) / c, rtol=1e-15, atol=0)


def test_matmul_direction_close_to_exact_within_ns_band():
    # Polar Express (5 steps) maps singular values into [0.85, 1.13] on [1e-3, 1]
    # (report), so the direction differs from exact by at most that band relative.
    w = _w(seed=6)
    g = torch.randn(24, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    e = whitened_direction(g, w, 1e-2)
    m = whitened_direction(g, w, 1e-2, method="matmul")
    rel = float(torch.linalg.matrix_norm(m - e) / torch.linalg.matrix_norm(e))
    assert rel <= 0.16


@pytest.mark.parametrize(("kw", "match"), [({"lam": -1.0}, "lam"), ({"lam": 0.1, "method": "svd"}, "method")])
def test_bad_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        whitened_direction(torch.randn(3, 4), torch.randn(5, 4), **kw)
    with pytest.raises(ValueError, match="lam"):
        partner_gram_roots(torch.randn(5, 4), -1.0)


def test_zero_and_rank_deficient_g_follow_the_documented_msign():
    """Was: max |D| = 2.71 for a zero G on the exact route (a polar factor), 0.5–1.3 apart from the matmul route."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(6, 10, dtype=torch.float64, generator=g)
    zero = torch.zeros(4, 10, dtype=torch.float64)
    for method in ("exact", "matmul", "isotropic"):
        assert torch.equal(sl.whitened_direction(zero, w, 1e-3, method=method), zero)
    low = torch.randn(4, 2, dtype=torch.float64, generator=g) @ torch.randn(2, 10, dtype=torch.float64, generator=g)
    exact = sl.whitened_direction(low, w, 1e-3)
    _, c_inv = sl.partner_gram_roots(w, 1e-3)
    # the exact route is msign(G C⁻¹) C⁻¹: rank 2, and equal to an independent SVD construction
    u, s, vh = torch.linalg.svd(low @ c_inv, full_matrices=False)
    torch.testing.assert_close(exact, u[:, :2] @ vh[:2] @ c_inv, rtol=0, atol=1e-10)
    # the matmul route (Polar Express, worst |1 − f| ≤ 0.154 on its interval) agrees to that band
    matmul = sl.whitened_direction(low, w, 1e-3, method="matmul")
    assert float(torch.linalg.matrix_norm(matmul - exact) / torch.linalg.matrix_norm(exact)) < 0.154


def test_whitening_is_scale_safe_and_checks_its_inputs():
    g = torch.Generator().manual_seed(1)
    w, grad = torch.randn(6, 10, generator=g), torch.randn(4, 10, generator=g)
    ref = sl.whitened_direction(grad, w, 1e-3)
    for scale in (1e-30, 1e30):  # G·C⁻¹ at 1e30 × ~1e1 used to overflow fp32 before msign saw it
        torch.testing.assert_close(sl.whitened_direction(grad * scale, w, 1e-3), ref, rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match="must share n"):
        sl.whitened_direction(torch.randn(4, 9), w, 1e-3)
    with pytest.raises(TypeError, match="one kind and dtype"):
        sl.whitened_direction(grad.numpy(), w, 1e-3)
    with pytest.raises(TypeError, match="one kind and dtype"):
        sl.whitened_direction(grad.double(), w, 1e-3)
    out = sl.whitened_direction(grad.numpy(), w.numpy(), 1e-3)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
