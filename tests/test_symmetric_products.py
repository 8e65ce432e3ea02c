"""Symmetric products (X Xᵀ and βA + αA² on one triangle) against the general product.

Tolerance: each route sums the n products of an entry in its own order, so each is within
γ_n·(|X||X|ᵀ)ᵢⱼ of the exact value (Higham 2002, Lemma 3.5; γ_n = nu/(1 − nu)); two routes
differ by at most 2γ_n·max(|X||X|ᵀ). A float64 reference stands in for the exact value in
float32 (its own error is 2⁻²⁹ times smaller).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from spectral_la import newton_schulz, symmetric_products
from spectral_la.backend import working
from spectral_la.symmetric_products import symmetric_products as products_mode


def _bound(x: torch.Tensor, n: int) -> float:
    u = torch.finfo(x.dtype).eps / 2
    gamma = n * u / (1 - n * u)
    return 2 * gamma * float((x.abs().double() @ x.abs().double().mT).max())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(37, 53), (2, 3, 20, 45), (64, 64)])
def test_blas_gram_matches_general_product(dtype, shape):
    x = torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(0))
    with products_mode("on"):
        ops, xw, _ = working(x)
        assert ops.products == "blas"
        g = ops.gram(xw)
        h = ops.gram_addmm(g, 0.5, -0.25)
    ref = x.double() @ x.double().mT
    assert torch.equal(g, g.mT)  # mirrored by copy: exactly symmetric
    assert float((g.double() - ref).abs().max()) <= _bound(x, shape[-1])
    ref_h = 0.5 * ref - 0.25 * (ref @ ref)
    # h: the A² products carry A's error (≤ γ_n bound, times 2·max|A|·m) plus their own γ_m.
    tol = 0.25 * (2 * _bound(x, shape[-1]) * float(ref.abs().sum(-1).max()) + _bound(ref, shape[-2])) + 0.5 * _bound(
        x, shape[-1]
    )
    assert float((h.double() - ref_h).abs().max()) <= tol


@pytest.mark.parametrize("layout", ["transposed", "strided"])
def test_blas_gram_of_other_layouts(layout):
    """A transposed (F-contiguous) view takes the "N" branch, a strided one a copy; same product either way."""
    base = torch.randn(50, 60, dtype=torch.float64)
    x = base.mT if layout == "transposed" else base[::2, ::3]
    with products_mode("on"):
        ops, _, _ = working(x)
        g = ops.gram(x)
    assert torch.equal(g, g.mT)
    assert float((g - x @ x.mT).abs().max()) <= _bound(x, x.shape[-1])


def test_newton_schulz_same_within_rounding_and_off_is_bitwise_plain():
    x = torch.randn(40, 96, dtype=torch.float32, generator=torch.Generator().manual_seed(1))
    with products_mode("off"):
        plain = newton_schulz(x)
    with products_mode("on"):
        sym = newton_schulz(x)
    ref = newton_schulz(x.double())
    # Five steps, each with error O(n·u) amplified by at most the steps' slopes: both routes sit at the
    # same distance from float64 (ratio of errors within 2×), the routes differ only in rounding.
    e_plain = float((plain.double() - ref).abs().max())
    e_sym = float((sym.double() - ref).abs().max())
    assert e_sym <= 2 * e_plain + 1e-6
    assert not torch.equal(plain, sym) or e_plain == 0.0


def test_routes_and_modes():
    assert symmetric_products.route(torch.bfloat16, torch.device("cpu")) == "plain"
    assert symmetric_products.route(torch.float32, torch.device("cpu")) == "blas"
    with products_mode("off"):
        assert symmetric_products.route(torch.float32, torch.device("cpu")) == "plain"
    with pytest.raises(ValueError, match="symmetric_products must be one of"):
        with products_mode("yes"):
            pass


def test_autograd_keeps_the_graph():
    """A tensor that needs gradients never leaves torch (the BLAS route would cut the graph)."""
    x = torch.randn(20, 30, dtype=torch.float64, requires_grad=True)
    with products_mode("on"):
        ops, xw, _ = working(x)
        g = ops.gram(xw)
    g.sum().backward()  # d/dX Σᵢⱼ(XXᵀ)ᵢⱼ = 2·(11ᵀ)X
    expected = 2 * torch.ones(20, 20, dtype=torch.float64) @ x.detach()
    assert x.grad is not None and torch.allclose(x.grad, expected, rtol=1e-12, atol=0)


_TRITON_SCRIPT = textwrap.dedent(
    """
    import torch
    from spectral_la import syrk_triton
    torch.manual_seed(0)
    worst = {}
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        for shape in ((40, 70), (2, 33, 65)):
            x = torch.randn(shape).to(dtype)
            g = syrk_triton.syrk(x)
            assert torch.equal(g, g.mT), "not symmetric"
            x64 = x.double()
            ref = x64 @ x64.mT
            a = (ref / ref.abs().max()).to(dtype)
            h = syrk_triton.syrk(a, c=a, beta=0.5, alpha=-0.25)
            a64 = a.double()
            ref_h = 0.5 * a64 - 0.25 * (a64 @ a64)
            # fp32 accumulation of n exact products (γ_n in fp32) then one conversion to the storage dtype:
            # Triton 3.9's interpreter converts fp32 -> bf16 by truncation (error below one ulp, 2u), a GPU
            # rounds to nearest (u); the bound takes the interpreter's 2u.
            u_out = torch.finfo(dtype).eps
            n = shape[-1]
            tol_g = u_out * float(ref.abs().max()) + 2 * n * 2.0**-24 * float((x64.abs() @ x64.abs().mT).max())
            tol_h = u_out * float(ref_h.abs().max()) + 2 * shape[-2] * 2.0**-24 * float((a64.abs() @ a64.abs()).max())
            assert float((g.double() - ref).abs().max()) <= tol_g, (dtype, shape)
            assert float((h.double() - ref_h).abs().max()) <= tol_h, (dtype, shape)
    print("ok")
    """
)


def test_triton_kernel_in_the_interpreter():
    """The Triton symmetric kernel, run by Triton's CPU interpreter on small sizes, against float64."""
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1")
    done = subprocess.run([sys.executable, "-c", _TRITON_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


@pytest.mark.cuda
def test_triton_kernel_on_cuda_matches_cublas():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    pytest.importorskip("triton")
    x = torch.randn(4, 256, 1024, device="cuda", dtype=torch.bfloat16)
    with products_mode("on"):
        ops, xw, _ = working(x, compute_dtype=torch.bfloat16)
        assert ops.products == "triton"
        g = ops.gram(xw)
    ref = x.double() @ x.double().mT
    tol = torch.finfo(torch.bfloat16).eps / 2 * float(ref.abs().max()) + 2 * 1024 * 2.0**-24 * float(
        (x.double().abs() @ x.double().abs().mT).max()
    )
    assert float((g.double() - ref).abs().max()) <= tol
