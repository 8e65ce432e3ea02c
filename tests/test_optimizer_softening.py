"""analysis.optimizer_softening: the closed form where each optimizer applies it, against exact cases."""

from __future__ import annotations

import math

import pytest
import torch

from spectral_la.analysis.optimizer_softening import (
    closed_form_applies,
    optimizer_relations,
    optimizer_softening,
    optimizer_view,
    row_spread,
)
from spectral_la.analysis.softening import closed_form_gap
from spectral_la.analysis.spectra import family_matrix
from spectral_la.spec import parse_spec

F64 = {"storage_dtype": torch.float64, "compute_dtype": torch.float64}
#: fp64 SVD and products on these matrices (κ ≤ 1e3): rounding reaches ~κ·n·u ≈ 1e-11 at worst.
EXACT_TOL = 1e-10


def blend_tol(x: torch.Tensor, s: float) -> float:
    """EXACT_TOL plus the blend's own ε: it divides by ‖X‖_F + 1e-7 where the closed form divides by ‖X‖_F,
    a relative change s·1e-7/‖X‖_F of a singular value ≥ 1 − s."""
    return EXACT_TOL + s * 1e-7 / (float(torch.linalg.matrix_norm(x)) * (1 - s))


@pytest.mark.parametrize("name", ["muon", "normuon", "dion2", "nordion2"])
def test_with_the_exact_polar_factor_the_closed_form_holds_at_the_orthogonalisers_output(name):
    """polar in fp64 is the blend the closed form describes, on whatever matrix the optimizer hands it."""
    m = family_matrix("gaussian", 24, 40, 0)
    view = optimizer_view(name, m, parse_spec("polar"), 0.4, **F64)
    gap = closed_form_gap(view["ns_input"], view["ns_output"], 0.4)
    assert max(gap.values()) < blend_tol(view["ns_input"], 0.4)
    if name == "muon":  # Muon applies that very matrix
        assert max(closed_form_gap(m, view["applied"], 0.4).values()) < blend_tol(m, 0.4)


def test_the_applied_update_of_the_other_three_is_not_the_closed_form_and_rows_say_so():
    rows = optimizer_softening(specs=("polar",), s_values=(0.4,), sizes=((24, 40),), families=("gaussian",),
                               progress=False, **F64)  # fmt: skip
    applied = {r["optimizer"]: r for r in rows if r["where"] == "applied"}
    assert applied["muon"]["closed_form_applies"] and applied["muon"]["fro_rel"] < 1e-8  # blend_tol for ‖X‖ > 7
    for name in ("normuon", "dion2", "nordion2"):
        r = applied[name]
        assert not r["closed_form_applies"] and math.isnan(r["max_rel"]) and math.isnan(r["fro_rel"])
        assert r["departure_fro"] > 0.01  # measured, under its own name
    # Dion2 keeps k = ⌈0.25·24⌉ = 6 rows: most of the momentum's energy is not in the update
    assert applied["dion2"]["departure_fro"] > 0.5 and 0 < applied["dion2"]["selected_energy"] < 0.6


def test_schedules_that_rotate_singular_vectors_or_target_another_map_are_not_measured_as_if_they_did_not():
    assert closed_form_applies(parse_spec("ns:polar_express"))
    assert closed_form_applies(parse_spec("polar"))
    assert not closed_form_applies(parse_spec("ns:dion_aol"))  # AOL's diagonal rescaling rotates them
    assert not closed_form_applies(parse_spec("muon_p:1/3"))  # its target is σ^(1/3), not the polar factor
    rows = optimizer_softening(optimizers=("muon",), specs=("ns:dion_aol",), s_values=(0.5,), sizes=((16, 32),),
                               families=("low_rank",), progress=False)  # fmt: skip
    assert all(not r["closed_form_applies"] and math.isnan(r["mean_rel"]) for r in rows)


def test_row_spread_of_exact_polar_factors_is_zero_for_wide_and_the_leverage_scores_for_tall():
    wide = optimizer_view("muon", family_matrix("low_rank", 16, 48, 1), parse_spec("polar"), 0.0, **F64)
    assert row_spread(wide["applied"])[0] < 1e-12  # orthonormal rows
    m = family_matrix("low_rank", 48, 16, 1)
    tall = optimizer_view("muon", m, parse_spec("polar"), 0.0, **F64)
    u = torch.linalg.svd(m, full_matrices=False)[0]
    lev = torch.linalg.vector_norm(u, dim=1)  # ‖row i of UVᵀ‖ = ‖row i of U‖
    cv, ratio = row_spread(tall["applied"])
    assert cv == pytest.approx(float(lev.std(correction=0) / lev.mean()), rel=1e-9)
    assert ratio == pytest.approx(float(lev.max() / lev.min()), rel=1e-9)


def test_normuon_first_step_equalises_row_norms():
    """V = (1 − β₂)·mean_j O_ij² from zero state, so every row of O/(√V + 1e-8) has norm √(n/(1 − β₂)) up to
    the 1e-8 (relative 1e-8/√V ≤ 1e-6 here): the row-norm CV is at rounding level."""
    view = optimizer_view("normuon", family_matrix("power_law", 48, 16, 2), parse_spec("polar"), 0.3, **F64)
    assert row_spread(view["applied"])[0] < 1e-6


def test_relations_that_coincide_in_exact_arithmetic_agree_to_rounding_and_the_others_part():
    rows = {r["pair"]: r for r in optimizer_relations(shape=(16, 40), steps=3)}
    for pair, r in rows.items():
        if r["coincide_in_exact_arithmetic"]:
            # fp32 products through 5 NS steps and 3 optimizer steps: ≤ ~1e-4 relative (u = 6e-8, growth ≲ 1e3)
            assert r["rel_diff_max"] < 1e-4, pair
        else:
            assert r["rel_diff_median"] > 1e-2, pair


def test_bad_optimizer_name_is_refused():
    with pytest.raises(ValueError, match="optimizer"):
        optimizer_view("adam", torch.eye(4, dtype=torch.float64), parse_spec("polar"), 0.1)


def test_cli_softening_by_optimizer_writes_rows(tmp_path, capsys):
    import csv

    from spectral_la.lab.cli import main

    out = tmp_path / "rows.csv"
    argv = [
        "softening",
        "soften:0.5:polar_express",
        "--optimizer",
        "muon",
        "dion2",
        "--shape",
        "16x48",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["optimizer"] for r in rows} == {"muon", "dion2"} and {r["where"] for r in rows} == {
        "ns_output",
        "applied",
    }
    assert {r["closed_form_applies"] for r in rows if r["optimizer"] == "dion2" and r["where"] == "applied"} == {
        "False"
    }
    assert main([*argv[:-2], "--fraction", "0", "--out", str(out)]) != 0
    assert "--fraction must lie in (0, 1]" in capsys.readouterr().err
