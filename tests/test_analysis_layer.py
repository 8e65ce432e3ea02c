"""analysis.response / error_report / stability_sweep / softening_deviation and the figures, on known cases."""

from __future__ import annotations

import csv
import math

import mpmath
import pytest
import torch

import spectral_la as sl
from spectral_la.analysis.error_report import error_report
from spectral_la.analysis.methods import method
from spectral_la.analysis.response import response
from spectral_la.analysis.softening import softening_deviation
from spectral_la.analysis.sweeps import stability_sweep
from tests.mp_reference import unit_roundoff
from tests.poly_reference import compose

U64 = unit_roundoff(torch.float64)


def test_exact_method_response_is_one_to_rounding():
    sig = torch.logspace(0, -4, 12)
    rows = response("polar", sig, mode="matrix", dtype=torch.float64)
    # Backward-stable SVD: |u_iᵀ P v_i − 1| ≤ 10·n·u·κ with κ = 1e4.
    assert all(abs(r["measured"] - 1) <= 10 * 12 * U64 * 1e4 for r in rows)
    assert all(r["predicted"] == r["target"] == 1 for r in rows)


@pytest.mark.parametrize("spec", ["ns:jordan_ns5", "soften:0.3:polar_express", "muon_p:1/3", "gram_ns:you_ns6"])
def test_measured_response_equals_scalar_map(spec):
    rows = response(spec, torch.logspace(0, -2.5, 10), mode="matrix", dtype=torch.float64, shape=(10, 30))
    # float64 iteration: 10·n·T·u·A with A ≤ 1e3 (tests/test_newton_schulz). soften_scalar_map
    # neglects the normalisation ε = 1e-7 (documented): + ε/‖X‖_F·(1 + max f') with f' ≤ 30, ‖X‖_F ≈ 1.5.
    eps_term = 1e-7 / 1.5 * 31 if spec.startswith("soften") else 0.0
    for r in rows:
        assert abs(r["measured"] - r["predicted"]) <= 10 * 30 * 6 * U64 * 1e3 + eps_term
        assert r["leakage"] <= 10 * 30 * 6 * U64 * 1e3


def test_scalar_backends_agree_with_mpmath_closed_form():
    mpmath.mp.dps = 30
    rows = response("ns:jordan_ns5", ["0.001", "0.1", "0.9"], mode="mpmath")
    rows64 = response("ns:jordan_ns5", [0.001, 0.1, 0.9], mode="scalar")
    coeffs = sl.schedules["jordan_ns5"].coefficients()
    for r, r64 in zip(rows, rows64, strict=True):
        exact = compose(coeffs, r["sigma_hat"])
        assert abs(r["predicted"] - exact) <= mpmath.mpf("1e-25")
        assert abs(r64["predicted"] - float(exact)) <= 10 * 5 * U64 * 3.5**5


def test_response_validation():
    with pytest.raises(ValueError, match="mode"):
        response("polar", [0.5], mode="jax")
    with pytest.raises(ValueError, match="shape"):
        response("polar", [1.0, 0.5], mode="matrix", shape=(3, 3))
    with pytest.raises(ValueError, match="sigmas"):
        response("polar", [float("nan")])
    with pytest.raises(ValueError, match="'svd_polar' is neither a registered schedule nor a kind"):
        method("svd_polar")


def test_error_report_splits_approximation_and_rounding():
    x = torch.randn(6, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    rep = error_report("ns:polar_express", x, dps=30)
    # Approximation error in closed form: ‖(f(σ̂) − 1)‖₂ over the singular values, relative to ‖UVᵀ‖_F = √6.
    mpmath.mp.dps = 30
    coeffs = sl.schedules["polar_express"].coefficients()
    fro = math.sqrt(sum(s * s for s in rep["sigma"]))
    approx = math.sqrt(
        sum(float(compose(coeffs, mpmath.mpf(s) / (1.01 * fro + 1e-7)) - 1) ** 2 for s in rep["sigma"])
    ) / math.sqrt(6)
    assert abs(rep["approximation"]["fro"] - approx) <= 1e-12
    # float64 rounding: 10·n·T·u·A (A ≤ 1e3); total = approximation + rounding.
    assert rep["rounding"]["fro"] <= 10 * 9 * 5 * U64 * 1e3
    assert abs(rep["total"]["fro"] - rep["approximation"]["fro"]) <= rep["rounding"]["fro"] + 1e-15
    exact = error_report("polar", x.float(), dps=30)
    assert exact["approximation"]["fro"] == 0.0 and exact["orthogonality_defect"] <= 10 * 6 * 6e-8
    assert "orthogonality_defect" not in error_report("muon_p:1/3", x, dps=20)


def test_stability_sweep_resumes(tmp_path):
    cache = tmp_path / "sweep.csv"
    grid = {
        "methods": ("ns:jordan_ns5",),
        "dtypes": ("float32",),
        "kappas": (1e2, 1e6),
        "shapes": ("16x16",),
        "rank_deficiencies": (0.0,),
        "seeds": (0,),
        "cache": cache,
        "progress": False,
    }
    first = stability_sweep(**grid)
    assert len(first) == 2 and all(r["finite"] for r in first)
    # Simulate an interruption after the first row, then resume with a larger grid.
    lines = cache.read_text().splitlines(keepends=True)
    cache.write_text("".join(lines[:2]))
    resumed = stability_sweep(**{**grid, "kappas": (1e2, 1e6, 1e10)})
    assert len(resumed) == 3
    with cache.open() as fh:
        assert len(list(csv.DictReader(fh))) == 3  # nothing recomputed twice, nothing lost
    assert resumed[0]["rel_error"] == first[0]["rel_error"]
    # Rounding share of fp32: 10·n·T·u₃₂·A with A ≤ 1e3.
    assert all(r["rounding_error"] <= 10 * 16 * 5 * unit_roundoff(torch.float32) * 1e3 for r in resumed)
    with pytest.raises(ValueError, match="dtype"):
        stability_sweep(dtypes=("float8",), cache=cache)


def test_softening_deviation_matches_the_scalar_maps():
    rows = softening_deviation(
        "soften:0.25:you_ns6",
        sizes=((32, 128),),
        families=("power_law",),
        storage_dtype=torch.float64,
        progress=False,
    )
    (row,) = rows
    # Independent recomputation of the worst per-σ gap from the scalar map.
    from spectral_la.analysis.spectra import family_matrix

    x = family_matrix("power_law", 32, 128)
    rho = torch.linalg.svdvals(x) / torch.linalg.matrix_norm(x)
    f = sl.scalar_map("you_ns6", rho)
    gap = (0.75 * (f - 1)).abs() / (0.75 + 0.25 * rho)
    # The scalar map neglects the normalisation ε = 1e-7: ε/‖X‖_F·(1 + max f') / 0.75 with f' ≤ 30, ‖X‖_F ≈ 1.27.
    assert abs(row["max_rel"] - float(gap.max())) <= 1e-7 / 1.27 * 31 / 0.75
    assert row["max_rel"] < 0.01  # You's rows keep f within 0.5% of 1 on this spectrum


@pytest.mark.slow  # ≥ 3.5 s on 2 cores: CI's second step (-m slow)
def test_figure_data_match_their_sources(tmp_path):
    from spectral_la.figures import error_split, qdwh_iterations, response_plot, softening

    rows = [r for r in response_plot.response_data(["jordan_ns5"], points=50) if r["kind"] == "map"]
    sigma = torch.tensor([r["sigma"] for r in rows], dtype=torch.float64)
    assert [r["f"] for r in rows] == sl.scalar_map("jordan_ns5", sigma).tolist()
    s = softening.data(n=32)
    for spec in map(sl.parse_spec, softening.SPECS):
        # measured singular values of the blend follow its finite-step map (fp64 input),
        # up to the neglected normalisation ε: ε/‖X‖_F·(1 + max f'), f' ≤ 30, ‖X‖_F ≈ 1.27.
        rho = s["rho"]
        name = spec.inner.schedule_name
        predicted = sl.soften_scalar_map(name, rho, spec.s)
        assert float((s[f"measured:{name}:{spec.s}"] - predicted).abs().max()) <= 1e-7 / 1.27 * 31
    assert all(r["iterations"] <= 6 and r["converged"] for r in qdwh_iterations.data(n=24))
    split = error_split.data(m=6, n=8)
    assert all(r["approximation"] == 0.0 for r in split if r["method"] == "polar_qdwh")
    # bf16 computed in bf16 (what Muon runs) for the matmul methods; an exact map runs in fp32 for bf16
    bf16 = {(r["method"], r["compute_dtype"]) for r in split if r["storage_dtype"] == "bf16"}
    assert ("ns:polar_express", "bf16") in bf16 and ("polar_qdwh", "bf16") not in bf16
    for path in response_plot.make(tmp_path) + softening.make(tmp_path):
        assert path.stat().st_size > 1000 and path.suffix in {".png", ".svg"}


def test_uk_spelling_is_a_deprecated_alias():
    from spectral_la.analysis.stability import normalised_grid, normalized_grid

    args = (["ns:polar_express"], ["float32"], [1e2], ["8x8"], [0.0], [0])
    with pytest.warns(DeprecationWarning, match="normalized_grid"):
        assert normalised_grid(*args) == normalized_grid(*args)
