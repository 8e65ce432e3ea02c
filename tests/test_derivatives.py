"""Derivatives only where they exist: Daleckii–Krein backward passes at rank-deficient, zero and repeated inputs."""

from __future__ import annotations

import pytest
import torch

import spectral_la as sl


def _rank_deficient(kind: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if kind == "diag(1,1,0,0)":
        return torch.diag(torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64))
    if kind == "rank 2 of 4":
        return torch.randn(4, 2, dtype=torch.float64, generator=g) @ torch.randn(2, 6, dtype=torch.float64, generator=g)
    return torch.zeros(4, 6, dtype=torch.float64)


NO_DERIVATIVE = {
    "polar (svd)": lambda x: sl.polar(x),
    "polar (qdwh)": lambda x: sl.polar(x, "qdwh"),
    "msign": sl.msign,
    "fractional_power(0.5)": lambda x: sl.fractional_power(x, 0.5),
}


@pytest.mark.parametrize("kind", ["diag(1,1,0,0)", "rank 2 of 4", "zero"])
@pytest.mark.parametrize("name", list(NO_DERIVATIVE))
def test_maps_without_a_derivative_there_raise(name, kind):
    """Was: gradients of size 1e17 of the wrong sign (polar), finite values where none exists (msign, p = 1/2)."""
    x = _rank_deficient(kind).requires_grad_()
    y = NO_DERIVATIVE[name](x)
    with pytest.raises(ValueError, match="no derivative at this X"):
        y.sum().backward()


@pytest.mark.parametrize("kind", ["diag(1,1,0,0)", "rank 2 of 4", "zero"])
def test_the_identity_map_has_the_identity_derivative_everywhere(kind):
    """Was: fractional_power(X, 1.0) gave 1.92 where the finite difference gives −2.07 (rank-deficient X)."""
    x = _rank_deficient(kind).requires_grad_()
    assert torch.equal(sl.fractional_power(x, 1.0), x)
    assert torch.autograd.gradcheck(lambda a: sl.fractional_power(a, 1.0), (x,))


def test_repeated_nonzero_singular_values_keep_exact_derivatives():
    """Full rank with σ = (2, 2, 1, 1): every map is differentiable; gradcheck against finite differences."""
    g = torch.Generator().manual_seed(1)
    q1, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64, generator=g))
    q2, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64, generator=g))
    x = (q1 * torch.tensor([2.0, 2.0, 1.0, 1.0], dtype=torch.float64)) @ q2.T
    x.requires_grad_()
    for fn in NO_DERIVATIVE.values():
        assert torch.autograd.gradcheck(fn, (x,))
    # the QDWH route's derivative is the SVD route's (the map's, not the method's)
    w = torch.arange(16.0, dtype=torch.float64).reshape(4, 4)
    (a,) = torch.autograd.grad((sl.polar(x, "qdwh") * w).sum(), x)
    (b,) = torch.autograd.grad((sl.polar(x) * w).sum(), x)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
