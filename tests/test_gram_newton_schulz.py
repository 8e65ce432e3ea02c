"""Gram Newton–Schulz equals plain NS in exact arithmetic; its rounding is measured.

In mpmath at 40 digits both iterations are exact to ~1e-38 per operation, and a
difference can only come from the algebra, so they must agree to ~1e-30 (the
amplification of PE steps is ≤ 1e3). In float64 they differ by rounding,
bounded like any NS run by C·n·u·T·A with A ≤ 1e3 (test_newton_schulz).
"""

from __future__ import annotations

import mpmath
import pytest
import torch

from spectral_la import gram_newton_schulz, newton_schulz
from tests.mp_reference import prescribed, unit_roundoff


@pytest.mark.parametrize("name", ["polar_express", "jordan_ns5", "newton_schulz_cubic", "you_ns6"])
@pytest.mark.parametrize("restart_after", [(), (2,), (1, 3)])
def test_equals_plain_ns_in_mpmath(name, restart_after):
    mpmath.mp.dps = 40
    ref = prescribed(4, 9, [1, "0.5", "0.05", "0.002"], seed=1)
    a = gram_newton_schulz(ref.x, name, restart_after=restart_after)
    b = newton_schulz(ref.x, name)
    assert max(abs(a[i, j] - b[i, j]) for i in range(4) for j in range(9)) <= mpmath.mpf("1e-30")


@pytest.mark.parametrize("shape", [(16, 128), (128, 16), (32, 32), (3, 8, 40)])
def test_float64_close_to_plain_ns(shape):
    x = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    a = gram_newton_schulz(x)
    b = newton_schulz(x)
    assert a.shape == x.shape
    assert float((a - b).abs().max()) <= 10 * max(shape) * unit_roundoff(torch.float64) * 5 * 1e3


def test_restart_reduces_low_precision_drift():
    # fp16-like drift measured in float32 compute with a small-σ spectrum: the
    # restart must not make things worse than the never-restarted variant.
    g = torch.Generator().manual_seed(3)
    u, _ = torch.linalg.qr(torch.randn(64, 64, dtype=torch.float64, generator=g))
    v, _ = torch.linalg.qr(torch.randn(512, 64, dtype=torch.float64, generator=g))
    x = ((u * torch.logspace(0, -3, 64, dtype=torch.float64)) @ v.T).float()
    exact = newton_schulz(x.double(), "polar_express")
    err = {r: float((gram_newton_schulz(x, restart_after=r).double() - exact).abs().max()) for r in [(), (2,)]}
    assert err[(2,)] <= err[()] * 1.5
    assert err[(2,)] <= 10 * 512 * unit_roundoff(torch.float32) * 5 * 1e3


def test_bad_restart():
    with pytest.raises(ValueError, match="restart_after"):
        gram_newton_schulz(torch.randn(3, 5), restart_after=(0,))


def test_runs_on_device(device):
    x = torch.randn(2, 32, 256, device=device)
    y = gram_newton_schulz(x)
    assert y.device.type == device.type
    torch.testing.assert_close(y, newton_schulz(x), rtol=0, atol=1e-3)
