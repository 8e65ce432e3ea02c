"""Newton–Schulz schedules: scalar map vs matrix response, known behaviour, normalisation.

Tolerance argument for the matrix response. With X = U diag(σ) Vᵀ and
Y = NS(X), the diagonal uᵢᵀ Y vᵢ equals f(σ̂ᵢ) in exact arithmetic. Each step
commits a rounding error of norm ≲ c·n·u (a few matmuls of a matrix of norm ≤ 2);
to first order its (i, i) component is magnified by the derivatives of the
remaining steps along σ̂ᵢ's trajectory, A(σ̂ᵢ) = max_k Π_{j>k} |p_j'(x_j)|
(tests/poly_reference.amplification, computed in mpmath from the coefficients).
So |uᵢᵀYvᵢ − f(σ̂ᵢ)| ≤ C·n·u·T·A(σ̂ᵢ), C = 10. Off-diagonal entries are
pure rounding of the same size.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch

import spectral_la as sl
import spectral_la.spec
from spectral_la import Normalization, Schedule, newton_schulz, scalar_map, schedules
from spectral_la.schedules import POLAR_EXPRESS_TABLE
from tests.mp_reference import prescribed, unit_roundoff
from tests.poly_reference import amplification, compose, poly

SIGMAS = ["1e-3", "3e-3", "0.01", "0.05", "0.1", "0.3", "0.5", "0.8", "1"]


@pytest.mark.parametrize("name", list(schedules))
def test_scalar_map_matches_coefficient_composition(name):
    mpmath.mp.dps = 40
    sched = schedules[name]
    rows = sched.coefficients()
    got = scalar_map(name, [mpmath.mpf(s) for s in SIGMAS])
    for s, g in zip(SIGMAS, got, strict=True):
        # Same arithmetic at 40 digits (+ guard bits): agreement to ~1e-38 · A.
        assert abs(g - compose(rows, s)) <= mpmath.mpf("1e-35")


@pytest.mark.parametrize("name", ["jordan_ns5", "polar_express", "you_ns6", "newton_schulz_cubic"])
def test_diagonal_matrix_iteration_is_the_scalar_map(name):
    # On diag(σ) (mpmath, no normalisation) the matrix iteration applies the scalar map to each σ.
    mpmath.mp.dps = 30
    d = mpmath.diag([mpmath.mpf(s) for s in SIGMAS])
    y = newton_schulz(d, name, normalize="none")
    rows = schedules[name].coefficients()
    for i, s in enumerate(SIGMAS):
        assert abs(y[i, i] - compose(rows, s)) <= mpmath.mpf("1e-25")
        assert all(abs(y[i, j]) <= mpmath.mpf("1e-25") for j in range(len(SIGMAS)) if j != i)


@pytest.mark.parametrize("name", list(schedules))
def test_torch_scalar_map_float64(name):
    rows = schedules[name].coefficients()
    sig = torch.tensor([float(s) for s in SIGMAS], dtype=torch.float64)
    got = scalar_map(name, sig)
    mpmath.mp.dps = 30
    for s, g in zip(SIGMAS, got.tolist(), strict=True):
        tol = 10 * len(rows) * unit_roundoff(torch.float64) * float(amplification(rows, s))
        assert abs(g - float(compose(rows, s))) <= tol


def _construct(m, n, sigma, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    k = min(m, n)
    u, _ = torch.linalg.qr(torch.randn(m, k, dtype=torch.float64, generator=g))
    v, _ = torch.linalg.qr(torch.randn(n, k, dtype=torch.float64, generator=g))
    s = torch.tensor(sigma, dtype=torch.float64)
    return ((u * s) @ v.T).to(dtype), u, v


@pytest.mark.parametrize("name", ["jordan_ns5", "polar_express", "you_ns6", "dion_ns5", "newton_schulz_quintic"])
@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((24, 16), torch.float64), ((16, 40), torch.float64), ((24, 16), torch.float32), ((16, 24), torch.bfloat16)],
)
def test_matrix_response_matches_scalar_map(name, shape, dtype):
    sched = schedules[name]
    rows = sched.coefficients()
    k = min(shape)
    sigma = np.logspace(0, -2.5, k)
    x, u, v = _construct(*shape, sigma, seed=0, dtype=dtype)
    y = newton_schulz(x, name)
    assert y.dtype == dtype and y.shape == x.shape
    d = u.T @ y.double() @ v  # measured response in the exact singular bases
    # Normalised singular values of the input actually used (rounded to dtype).
    x64 = x.double()
    scale = sched.normalization.scale * float(torch.linalg.matrix_norm(x64)) + sched.normalization.eps
    sig_hat = torch.linalg.svdvals(x64) / scale
    mpmath.mp.dps = 30
    compute = torch.float32 if dtype == torch.bfloat16 else dtype
    # bf16 output: Y is rounded entrywise once, ‖ΔY‖₂ ≤ u_out·‖Y‖_F ≤ u_out·√k·1.25 (f ≤ 1.25 here).
    out_round = unit_roundoff(dtype) * math.sqrt(k) * 1.25 if dtype == torch.bfloat16 else 0.0
    for i in range(k):
        # σ̂ is taken from the rounded input itself, so input rounding needs no term.
        s_i = mpmath.mpf(float(sig_hat[i]))
        expected = float(compose(rows, s_i))
        tol = 10 * max(shape) * unit_roundoff(compute) * len(rows) * float(amplification(rows, s_i)) + out_round
        assert abs(float(d[i, i]) - expected) <= tol, (i, float(d[i, i]), expected, tol)
    off = d - torch.diag(torch.diagonal(d))
    worst_amp = max(float(amplification(rows, mpmath.mpf(float(v)))) for v in sig_hat)
    assert float(off.abs().max()) <= 10 * max(shape) * unit_roundoff(compute) * len(rows) * worst_amp + out_round


def test_mpmath_matrix_path_matches_scalar_map():
    mpmath.mp.dps = 30
    ref = prescribed(6, 4, [1, "0.3", "0.05", "0.002"], seed=3)
    y = newton_schulz(ref.x, "polar_express", normalize="none")
    rows = schedules["polar_express"].coefficients()
    expected = ref.svd_map(lambda s: compose(rows, s))
    assert max(abs(y[i, j] - expected[i, j]) for i in range(6) for j in range(4)) <= mpmath.mpf("1e-25")


def test_jordan_ns5_does_not_converge_band_pinned_in_mpmath():
    # The band of NS5 on [1e-3, 1]: computed here by a dense log grid in
    # mpmath from the coefficients, compared with the iteration's scalar map.
    mpmath.mp.dps = 30
    rows = schedules["jordan_ns5"].coefficients()
    grid = [mpmath.mpf(10) ** (-3 + 3 * mpmath.mpf(i) / 600) for i in range(601)]
    ref = [compose(rows, s) for s in grid]
    got = scalar_map("jordan_ns5", grid)
    assert max(abs(a - b) for a, b in zip(ref, got, strict=True)) <= mpmath.mpf("1e-25")
    lo, hi = min(ref), max(ref)
    # Five steps cannot lift σ = 1e-3 beyond 3.4445⁵·1e-3 ≈ 0.48: far from 1.
    assert lo == ref[0] and abs(lo - compose(rows, "1e-3")) == 0
    assert 0.46 < lo < 0.48
    # The top of the band overshoots 1 (NS5 maps into a band around 1, not onto 1).
    assert 1.1 < hi < 1.25
    # Its asymptotic band: iterate the map 100 times on [0.1, 1]; it never settles at 1.
    many = [compose(rows * 20, s) for s in grid[400:]]
    assert min(many) < 0.8 and max(many) > 1.1


def test_polar_express_table_reproduces_its_construction():
    # Amsel et al. 2025, §4: each printed row is the degree-5 minimax polynomial for
    # [ℓ_k, u_k], recentred so that p(ℓ_k) + p(u_k) = 2, then ℓ_{k+1} = p(ℓ_k),
    # u_{k+1} = 2 − ℓ_{k+1}, starting from [1e-3, 1]. The printed digits (16-17)
    # allow a defect of ~1e-14.
    mpmath.mp.dps = 40
    ell, upper = mpmath.mpf("1e-3"), mpmath.mpf(1)
    for row in POLAR_EXPRESS_TABLE[:7]:
        p_lo, p_hi = poly(row, ell), poly(row, upper)
        assert abs(p_lo + p_hi - 2) <= mpmath.mpf("1e-14")
        grid = [ell + (upper - ell) * mpmath.mpf(i) / 2000 for i in range(2001)]
        vals = [poly(row, x) for x in grid]
        assert min(vals) >= p_lo - mpmath.mpf("1e-14") and max(vals) <= 2 - p_lo + mpmath.mpf("1e-14")
        ell, upper = p_lo, 2 - p_lo
        if ell > 1 - mpmath.mpf("1e-8"):
            break
    # Worst error after 5 steps of the unscaled table on [1e-3, 1]: 1 − ℓ₅.
    ell5 = compose(POLAR_EXPRESS_TABLE[:5], "1e-3")
    assert abs((1 - ell5) - mpmath.mpf("0.1235590547")) < mpmath.mpf("1e-9")
    f = scalar_map("polar_express_unscaled", [mpmath.mpf(10) ** (-3 + mpmath.mpf(i) / 100) for i in range(301)])
    # The table's centring defect (≤ 4e-15 per row, above) is magnified at the top end
    # by |p'(u_k)| ≤ 25 per later step: slack 4e-15·25⁴ ≈ 1.6e-9.
    assert max(abs(1 - v) for v in f) <= (1 - ell5) + mpmath.mpf("1.6e-9")


def test_polar_express_safety_rows():
    raw = POLAR_EXPRESS_TABLE
    rows = schedules["polar_express"].rows
    for r, s in zip(raw[:-1], rows[:-1], strict=True):
        assert s == (r[0] / 1.01, r[1] / 1.01**3, r[2] / 1.01**5)
    assert rows[-1] == raw[-1]


def test_frobenius_normalisation_is_scale_invariant():
    x = torch.randn(3, 12, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y1 = newton_schulz(x, "polar_express")
    y2 = newton_schulz(x * 1e3, "polar_express")
    # eps = 1e-7 against ‖X‖_F ≈ 15 vs 1.5e4: σ̂ differs by ≤ 1e-8 relative, times f' ≤ ~30.
    assert float((y1 - y2).abs().max()) <= 30 * 1e-7 / 15


@pytest.mark.parametrize("shape", [(8, 8), (20, 50), (64, 16)])
@pytest.mark.parametrize("squarings", [0, 1, 3])
def test_spectral_bound_is_an_upper_bound_within_its_factor(shape, squarings):
    from spectral_la.backend import TorchOps
    from spectral_la.normalization import _spectral_norm_bound

    x = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    w = x if shape[0] <= shape[1] else x.mT
    bound = float(_spectral_norm_bound(TorchOps(torch.float64, x.device), w, squarings))
    s = torch.linalg.svdvals(x)
    r = min(shape)
    assert float(s[0]) * (1 - 1e-12) <= bound <= float(s[0]) * r ** (1 / 2 ** (squarings + 2)) * (1 + 1e-12)


def test_spectral_normalisation_converges_faster_on_flat_spectra():
    # Flat spectrum of rank 64: Frobenius puts σ̂ at 1/8, spectral near 1.
    x, _, _ = _construct(64, 64, [1.0] * 64, seed=3, dtype=torch.float64)
    fro = newton_schulz(x, "newton_schulz_quintic", steps=3, normalize="frobenius")
    spec = newton_schulz(x, "newton_schulz_quintic", steps=3, normalize="spectral")
    eye = torch.eye(64, dtype=torch.float64)
    err = lambda y: float(torch.linalg.matrix_norm(y.mT @ y - eye, 2))  # noqa: E731
    assert err(spec) < err(fro)
    # quintic map three times from 1/8: compute in mpmath to pin the Frobenius value.
    mpmath.mp.dps = 20
    f = compose(schedules["newton_schulz_quintic"].coefficients(3), mpmath.mpf(1) / (8 + 8e-7 / 8))
    assert abs(err(fro) - float(1 - f * f)) <= 1e-10


def test_schedule_registry_and_metadata():
    sched = schedules["polar_express"]
    assert sched.degree == 5 and sched.interval == (1e-3, 1.0) and sched.steps == 5
    assert schedules["newton_schulz_cubic"].degree == 3
    mine = Schedule(
        name="test_custom_cubic", rows=((1.5, -0.5),), steps=3, repeat_last=True, interval=(0.1, 1.0), source="test"
    )
    try:
        schedules.register(mine)
        with pytest.raises(ValueError, match="registered"):
            schedules.register(mine)
        y = newton_schulz(torch.eye(3, dtype=torch.float64) * 0.5, "test_custom_cubic", normalize="none")
        expected = float(compose(mine.coefficients(), mpmath.mpf("0.5")))
        assert abs(float(y[0, 0]) - expected) <= 1e-15
    finally:
        schedules._table.pop("test_custom_cubic", None)
    with pytest.raises(ValueError, match="defines 6 steps"):
        schedules["you_ns6"].coefficients(7)
    with pytest.raises(KeyError, match="unknown schedule"):
        newton_schulz(torch.eye(2), "nope")


@pytest.mark.parametrize(
    "kw",
    [
        {"rows": ()},
        {"rows": ((1.0, float("nan")),)},
        {"steps": 0},
        {"interval": (0.0, 1.0)},
        {"rows": ((1.0,), (1.0, 2.0))},
    ],
)
def test_schedule_validation(kw):
    base = {"name": "bad", "rows": ((1.5, -0.5),), "steps": 2, "repeat_last": True, "interval": (0.1, 1.0)}
    with pytest.raises(ValueError):
        Schedule(**{**base, **kw})


@pytest.mark.parametrize("kw", [{"kind": "l2"}, {"scale": 0.0}, {"eps": -1.0}, {"squarings": -1}])
def test_normalization_validation(kw):
    with pytest.raises(ValueError):
        Normalization(**kw)


def test_compute_dtype_and_bad_input():
    x = torch.randn(8, 16)
    y = newton_schulz(x, compute_dtype=torch.bfloat16)
    assert y.dtype == torch.float32
    with pytest.raises(TypeError, match="compute_dtype"):
        newton_schulz(x, compute_dtype=torch.int32)
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        newton_schulz(bad)
    # The opt-out documented for training loops: NaN in, NaN out (no check, no sync).
    assert torch.isnan(newton_schulz(bad, check_finite=False)).all()
    with pytest.raises(ValueError, match="steps"):
        newton_schulz(x, steps=-1)
    with pytest.raises(TypeError, match="normalize"):
        newton_schulz(x, normalize=1.0)


def test_steps_zero_returns_normalised_input():
    x = torch.randn(5, 7, dtype=torch.float64)
    y = newton_schulz(x, "jordan_ns5", steps=0)
    torch.testing.assert_close(y, x / (torch.linalg.matrix_norm(x) + 1e-7), rtol=0, atol=0)


def test_batched_members_normalised_independently():
    x = torch.randn(4, 10, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    x[1] *= 1e4
    y = newton_schulz(x, "polar_express")
    for i in range(4):
        torch.testing.assert_close(y[i], newton_schulz(x[i], "polar_express"), rtol=0, atol=1e-12)


def test_runs_on_device(device):
    x = torch.randn(2, 32, 64, device=device)
    y = newton_schulz(x, "polar_express", compute_dtype=torch.bfloat16 if device.type == "cuda" else None)
    assert y.device.type == device.type and y.dtype == torch.float32
    s = torch.linalg.svdvals(y.double())
    # Polar Express (safety 1.01) on a Gaussian matrix: σ in its 5-step band ~[0.7, 1.2].
    assert float(s.min()) > 0.6 and float(s.max()) < 1.25
    assert math.isfinite(float(s.sum()))


def _aol_numpy(x: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """D X with D = diag(Σⱼ|(XXᵀ)ᵢⱼ|)^(-1/2) (Prach & Lampert 2022), wide orientation, NumPy float64."""
    r = np.abs(x @ x.T).sum(axis=1)
    r = np.maximum(r, eps) if eps else np.where(r > 0, r, 1.0)
    return x / np.sqrt(r)[:, None]


@pytest.mark.parametrize(
    "spectrum", ["gaussian", "rank_deficient", "ill_conditioned", "flat"], ids=lambda s: s.replace("_", "-")
)
def test_aol_normalisation_bounds_sigma_max(spectrum):
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(4, 24, 40, dtype=torch.float64, generator=gen)
    if spectrum == "rank_deficient":
        x = x[..., :, :3] @ x[..., :3, :]
    elif spectrum == "ill_conditioned":
        x, _, _ = _construct(24, 40, np.logspace(0, -12, 24), seed=4, dtype=torch.float64)
    elif spectrum == "flat":
        x, _, _ = _construct(24, 40, [1.0] * 24, seed=4, dtype=torch.float64)
    norm = Normalization(kind="aol", eps=0.0)
    got = newton_schulz(x, "dion_aol", 0, normalize=norm)
    flat = got.reshape(-1, 24, 40)
    for g, xi in zip(flat, x.reshape(-1, 24, 40), strict=True):
        ref = _aol_numpy(xi.numpy())
        # one Gram, one row sum, one rsqrt and one product in float64: a few units of u
        assert np.abs(g.numpy() - ref).max() <= 50 * unit_roundoff(torch.float64) * np.abs(ref).max()
        # Schur's test: every row sum of |D X Xᵀ D| is ≤ 1, so σ₁ ≤ 1 (up to the rounding of the Gram)
        assert float(torch.linalg.matrix_norm(g, 2)) <= 1 + 100 * 24 * unit_roundoff(torch.float64)
    # for a flat spectrum AOL is exact (XXᵀ = I): σ̂ = 1, where Frobenius gives 1/√24
    if spectrum == "flat":
        assert float((torch.linalg.svdvals(got) - 1).abs().max()) <= 1e-12


def test_aol_normalisation_scale_invariant_and_zero_safe():
    x = torch.randn(16, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(12))
    norm = Normalization(kind="aol", eps=0.0)
    base = newton_schulz(x, "dion_aol", normalize=norm)
    for k in (-900, -60, 60, 900):  # exact powers of two: the prescaled Y is the same array
        assert torch.equal(newton_schulz(x * 2.0**k, "dion_aol", normalize=norm), base)
    x[3] = 0
    y = newton_schulz(x, "dion_aol", normalize=norm)
    assert torch.isfinite(y).all() and not y[3].any()
    assert not newton_schulz(torch.zeros(4, 6), "dion_aol").any()
    # the first step reuses D(XXᵀ)D: the same map as normalising, then iterating from scratch
    x0 = newton_schulz(x, "dion_aol", 0, normalize=norm)
    again = newton_schulz(x0, "dion_aol", normalize="none")
    assert float((again - y).abs().max()) <= 1e-12


def test_aol_iteration_in_mpmath_matches_float64():
    mpmath.mp.dps = 30
    x = torch.randn(5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(13))
    y64 = newton_schulz(x, "dion_aol")
    ymp = newton_schulz(mpmath.matrix(x.tolist()), "dion_aol")
    # float64 rounding through 4 steps of slope ≤ ~5: ≤ 1e-12 against the 30-digit run
    assert max(abs(float(ymp[i, j]) - float(y64[i, j])) for i in range(5) for j in range(7)) <= 1e-12


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
@pytest.mark.parametrize("kind", ["frobenius", "frobenius_clamp", "scale_safe", "aol"])
def test_unscaled_norm_route_gives_the_prescaled_bits(dtype, kind, monkeypatch):
    """The host-checked route without prescaling (CPU) against the power-of-two prescaled one."""
    from spectral_la.backend import TorchOps

    x = torch.randn(3, 40, 64, generator=torch.Generator().manual_seed(14)).to(dtype)
    norm = Normalization(kind=kind)
    fast = newton_schulz(x, "polar_express", normalize=norm, compute_dtype=dtype)
    assert TorchOps(dtype, x.device).unscaled_fro(x) is not None  # this input takes the fast route
    monkeypatch.setattr(TorchOps, "unscaled_fro", lambda self, x, float64=False, squared=False: None)
    slow = newton_schulz(x, "polar_express", normalize=norm, compute_dtype=dtype)
    assert torch.equal(fast, slow)


@pytest.mark.parametrize("scale", [1e-30, 1e-20, 1e36])
def test_unscaled_norm_route_declines_out_of_range_inputs(scale):
    from spectral_la.backend import TorchOps

    x = torch.randn(40, 64, generator=torch.Generator().manual_seed(15)) * scale
    # ‖X‖ below √(mn·tiny/u) ≈ 3e-15 (squares may underflow) or above max/4 (c‖X‖ may overflow)
    assert TorchOps(torch.float32, x.device).unscaled_fro(x) is None
    y = newton_schulz(x, "polar_express", normalize="scale_safe")
    ref = newton_schulz(x.double() / scale, "polar_express", normalize="scale_safe")
    # float32 iteration against the float64 one on the rescaled input: a float32 rounding level
    assert float((y.double() - ref).abs().max()) <= 1e-4


@pytest.mark.slow  # ≥ 3.5 s on 2 cores: CI's second step (-m slow)
def test_band_is_the_max_of_the_composed_map_on_the_unit_interval():
    from spectral_la.newton_schulz import map_bound

    mpmath.mp.dps = 30
    for name in ("jordan_ns5", "polar_express", "eo_cubic5"):
        rows = schedules[name].coefficients()
        grid = [mpmath.mpf(i) / 20000 for i in range(20001)]
        exact = float(max(abs(compose(rows, s)) for s in grid))
        # map_bound() samples 4002 points; between samples f moves by ≤ max|f'|·Δσ (≤ ~30·5e-4 = 0.015 for
        # these maps, far less near their maxima, where f' ≈ 0): agreement to 1e-3 relative
        assert abs(map_bound(tuple(rows)) - exact) <= 1e-3 * exact


def test_gram_recurrence_without_restart_leaves_its_band_in_bfloat16():
    from spectral_la import DivergedError, gram_newton_schulz

    x, _, _ = _construct(16, 128, np.logspace(0, -3, 16), seed=5, dtype=torch.float32)
    drifted = gram_newton_schulz(x, compute_dtype=torch.bfloat16, restart_after=(), check_finite=False)
    assert float(torch.linalg.matrix_norm(drifted.double(), 2)) > 100  # was returned silently before
    with pytest.raises(DivergedError, match="left its band"):
        gram_newton_schulz(x, compute_dtype=torch.bfloat16, restart_after=())
    restarted = gram_newton_schulz(x, compute_dtype=torch.bfloat16)  # the default restart after step 2
    assert float(torch.linalg.matrix_norm(restarted.double(), 2)) < 2


def test_schatten4_normalisation_closed_form_scale_safety_and_gram_reuse():
    """X/‖X‖_S4 (optax's and CANS' Schatten-4 normalisation): σ̂ = σ/(Σσ⁴)^{1/4} ≥ the Frobenius σ̂, σ̂₁ ≤ 1."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 40, dtype=torch.float64, generator=g)
    s = torch.linalg.svdvals(x)
    norm = Normalization(kind="schatten4", eps=0.0)
    got = torch.linalg.svdvals(sl.normalize(x, norm))
    torch.testing.assert_close(got, s / (s**4).sum() ** 0.25, rtol=1e-13, atol=0)
    assert float(got[0]) <= 1 and bool((got >= s / torch.linalg.matrix_norm(x)).all())
    # scale-safe: the same result from fp32's smallest normals to its largest values, and 0 ↦ 0
    base = sl.normalize(x.float(), norm)
    for scale in (2.0**-100, 2.0**100):  # entries stay normal numbers: the scaled input is exact
        torch.testing.assert_close(sl.normalize((x * scale).float(), norm), base, rtol=0, atol=0)
    assert torch.equal(sl.normalize(torch.zeros(3, 5), norm), torch.zeros(3, 5))
    # the first step reuses XXᵀ/size²: equal (to rounding) to iterating on the independently normalised X
    x0 = x / (s**4).sum() ** 0.25
    ours = newton_schulz(x, "polar_express", normalize=norm)
    plain = newton_schulz(x0, "polar_express", normalize="none")
    torch.testing.assert_close(ours, plain, rtol=0, atol=1e-12)
    assert sl.spec.parse_spec("ns:polar_express:normalize=schatten4").normalization.kind == "schatten4"
