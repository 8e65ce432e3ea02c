"""Step traces and the rounding model (analysis.low_precision).

References: the float64 trace against the same iteration run by mpmath at 40 digits; the fp8
emulation against an independent NumPy rounding to the fp8 grids; the model against the measured
error on a case where first-order analysis holds.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch

import spectral_la as sl
from spectral_la.analysis.low_precision import EmulatedOps, fp8_round, predicted_error, step_trace
from spectral_la.analysis.spectra import torch_matrix_with_spectrum


def _numpy_fp8(v: np.ndarray, mantissa: int, min_exp: int, max_value: float) -> np.ndarray:
    """Round to nearest even on the grid of a binary format with ``mantissa`` bits and subnormals below 2^min_exp."""
    out = np.empty_like(v)
    for i, x in enumerate(v.reshape(-1)):
        if x == 0:
            out.reshape(-1)[i] = 0.0
            continue
        e = max(math.floor(math.log2(abs(x))), min_exp)
        ulp = 2.0 ** (e - mantissa)
        q = x / ulp
        r = math.floor(q)
        frac = q - r
        r = r + 1 if frac > 0.5 or (frac == 0.5 and r % 2 == 1) else r
        out.reshape(-1)[i] = min(max(r * ulp, -max_value), max_value)
    return out


@pytest.mark.parametrize(
    ("fmt", "mantissa", "min_exp", "max_value"), [("fp8_e4m3", 3, -6, 448.0), ("fp8_e5m2", 2, -14, 57344.0)]
)
def test_fp8_emulation_matches_a_numpy_rounding_of_the_same_products(fmt, mantissa, min_exp, max_value):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(12, 20, generator=g) * 0.3
    b = torch.randn(20, 9, generator=g) * 0.01
    ops = EmulatedOps(torch.float32, torch.device("cpu"), fmt, "fused")
    got = ops.addmm(torch.zeros(12, 9), a, b, beta=0.0)

    def numpy_q(t: torch.Tensor) -> np.ndarray:
        amax = float(t.abs().max())
        scale = 2.0 ** math.floor(math.log2(max_value / 2 / amax))  # the same power-of-two scaling
        return _numpy_fp8(t.double().numpy() * scale, mantissa, min_exp, max_value) / scale

    ref = numpy_q(a) @ numpy_q(b)  # exact products of the rounded operands (float64), fp32 accumulation below
    # The emulation accumulates 20 exact products in fp32: within γ₂₀(fp32)·Σ|aᵢbᵢ| of the float64 sum.
    bound = 20 * 2.0**-24 * (np.abs(numpy_q(a)) @ np.abs(numpy_q(b)))
    assert np.all(np.abs(got.double().numpy() - ref) <= bound + 1e-30)
    assert torch.equal(fp8_round(a, fmt), torch.from_numpy(numpy_q(a)).float())


def test_float64_trace_follows_the_mpmath_run():
    """Each step of the float64 trace against newton_schulz(steps=k) on the same input at 40 digits."""
    x = torch_matrix_with_spectrum(6, 9, torch.logspace(0, -2, 6, dtype=torch.float64), seed=1, dtype=torch.float64)
    rows, sigma, errors = step_trace("ns:polar_express", x, compute="fp64")
    assert np.all(errors == 0)  # the compute run is the float64 run
    mpmath.mp.dps = 40
    xm = mpmath.matrix(x.tolist())
    u, s, v = mpmath.svd_r(xm)
    for k, row in enumerate(rows):
        y = sl.newton_schulz(xm, "polar_express", steps=k)
        ref_max = max(abs(float(v_)) for v_ in y)
        # k fp64 steps, each within ~10·n·u of exact (tests/test_newton_schulz.py), amplified by at most
        # the steps' slopes (≤ 8 for Polar Express's first rows): 10·9·u·8^k.
        assert abs(row["ref_max_abs_x"] - ref_max) <= 10 * 9 * 2.0**-53 * 8**k
    sig_ref = [float(s[i]) for i in range(6)]
    norm = 1.01 * math.sqrt(sum(v_**2 for v_ in sig_ref)) + 1e-7  # Polar Express's normalisation
    np.testing.assert_allclose(sigma, np.array(sig_ref) / norm, rtol=1e-12)


def test_model_within_a_factor_ten_where_first_order_holds():
    """σ̂ ≥ 0.1 after normalisation, u ≤ 2⁻⁸: the steps' slopes are O(1) there and errors stay O(u), so
    the linearisation holds and the model should be right to within an order of magnitude (its √n growth of
    fp32 sums is a random-walk estimate; blocked BLAS sums grow less). One 96×384 input with σ log-spaced
    over [0.1, 1], fp32, bf16 and fp16: the median of measured/predicted lies in [1/10, 2]. (In fp8,
    u = 2⁻⁴ is not small: the model under-predicts by 80–220×, and the report says so.) The grid of
    families, shapes and seeds is the slow test below."""
    m, n = 96, 384
    x = torch_matrix_with_spectrum(m, n, torch.logspace(0, -1, m, dtype=torch.float64), seed=2, dtype=torch.float64)
    for compute in ("fp32", "bf16", "fp16"):
        _, sigma, errors = step_trace("ns:polar_express", x, compute=compute)
        pred = predicted_error("ns:polar_express", sigma, compute, (m, n))
        band = sigma >= 0.1
        ratio = float(np.median(errors[-1][band] / pred[band]))
        assert 1 / 10 <= ratio <= 2, (compute, ratio)


@pytest.mark.slow
def test_model_within_an_order_of_magnitude_over_the_study_grid():
    """The report's own grid: 4 families × 2 seeds × 2 shapes (64×256, 256×1024) × fp32, bf16, fp16.

    Measured/model (median over σ̂ ≥ 0.1) ranged 0.075–4.7 on this grid when first measured: first order
    is an estimate, so the claim tested is the one the report makes, an order of magnitude either way
    ([1/20, 10], a factor 1.5–2 of room beyond the measured extremes for other BLAS blockings), and the
    ratio's median over the grid within [1/5, 5]. A Gaussian at 256×1024 has no σ̂ ≥ 0.1 (its Frobenius
    normalisation leaves σ̂ ≈ 1/√256) and is not counted."""
    from spectral_la.analysis.low_precision import model_accuracy, study_inputs

    inputs = [pair for shape in ((64, 256), (256, 1024)) for pair in study_inputs(shape, 2)]
    rows = model_accuracy("ns:polar_express", inputs)
    assert len(rows) == 4 * 2 * 2 * 3
    ratios = np.array([r["measured_over_model_sigma_ge_0.1"] for r in rows])
    finite = ratios[np.isfinite(ratios)]
    assert len(finite) == len(ratios) - 2 * 3  # the two 256×1024 Gaussian seeds, 3 dtypes
    assert np.all((finite >= 1 / 20) & (finite <= 10)), sorted(finite)
    assert 1 / 5 <= float(np.median(finite)) <= 5


def test_accumulation_orders_differ_only_in_rounding():
    x = torch.randn(32, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    fused, _, e_fused = step_trace("ns:polar_express", x, compute="bf16", accumulation="fused")
    separate, _, e_sep = step_trace("ns:polar_express", x, compute="bf16", accumulation="separate")
    assert [r["step"] for r in fused] == [r["step"] for r in separate]
    # both within bf16 rounding of the float64 run (u = 2^-8, times the slopes of 5 steps, ≤ 10)
    assert e_fused.max() < 0.2 and e_sep.max() < 0.2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"compute": "fp4"}, ValueError, "compute"),
        ({"accumulation": "kahan"}, ValueError, "accumulation"),
        ({"spec": "gram_ns:polar_express"}, ValueError, "plain Newton"),
        ({"spec": "muon_p:1/2"}, ValueError, "plain Newton"),
        ({"x": torch.tensor([[1.0, float("nan")], [0.0, 1.0]])}, ValueError, "non-finite"),
        ({"x": torch.zeros(0, 3)}, ValueError, "x"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    args = {"spec": "ns:polar_express", "x": torch.randn(4, 6)} | kwargs
    with pytest.raises(error, match=match):
        step_trace(args.pop("spec"), args.pop("x"), **args)


def test_normalization_table_against_closed_forms():
    """σ̂₁ of Frobenius and Schatten-4 in closed form from the spectrum; the spectral bound's products:
    one Gram product 2m²n and three squarings of 2m³, i.e. 1 + 3m/n Gram units; the others none extra."""
    from spectral_la.analysis.normalizations import normalization_rows

    m, n = 16, 64
    sig = torch.logspace(0, -2, m, dtype=torch.float64)
    x = torch_matrix_with_spectrum(m, n, sig, seed=4, dtype=torch.float64)
    rows = {r["normalization"]: r for r in normalization_rows([("x", x)])}
    s = sig.numpy()
    assert rows["frobenius"]["sigma1_hat"] == pytest.approx(s[0] / np.sqrt(np.sum(s**2)), rel=1e-12)
    assert rows["schatten4"]["sigma1_hat"] == pytest.approx(s[0] / np.sum(s**4) ** 0.25, rel=1e-12)
    spectral = rows["spectral (3 squarings)"]
    assert rows["schatten4"]["sigma1_hat"] <= spectral["sigma1_hat"] <= 1 + 1e-12
    assert spectral["extra_gram_products"] == pytest.approx(1 + 3 * m / n)
    assert rows["frobenius"]["extra_gram_products"] == rows["schatten4"]["extra_gram_products"] == 0
    assert rows["aol"]["extra_gram_products"] == 0 and rows["aol"]["sigma1_hat"] <= 1 + 1e-12


def test_softened_spec_traces_the_blend_as_its_last_step():
    """soften:s:… traces the inner Newton–Schulz steps and then the blend; in fp64 its last step is
    spectral_la.soften's result bit for bit (the same operations in the same order)."""
    x = torch.randn(12, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    rows, _, _ = step_trace("soften:0.3:polar_express", x, compute="fp64")
    inner, _, _ = step_trace("ns:polar_express", x, compute="fp64")
    assert len(rows) == len(inner) + 1
    assert rows[-1]["ref_max_abs_x"] == float(sl.soften(x, 0.3).abs().max())
    model = predicted_error("soften:0.3:polar_express", np.array([0.5]), "bf16", (12, 40))
    plain = predicted_error("ns:polar_express", np.array([0.5]), "bf16", (12, 40))
    assert model[0] == pytest.approx(0.7 * plain[0] + 2.0**-8 / math.sqrt(40))
