"""The analysis layer on known cases, and the main report end to end."""

from __future__ import annotations

import mpmath
import pytest
import torch

from spectral_la import schedules
from spectral_la.analysis import measured_response, qdwh_convergence, reference_accuracy, schedule_bands
from spectral_la.lab.cli import main
from tests.poly_reference import compose


def test_schedule_band_of_jordan_ns5_matches_mpmath():
    (row,) = schedule_bands(["jordan_ns5"], points=301)
    mpmath.mp.dps = 30
    rows = schedules["jordan_ns5"].coefficients()
    grid = [mpmath.mpf(10) ** (-3 + 3 * mpmath.mpf(i) / 300) for i in range(301)]
    ref = [compose(rows, s) for s in grid]
    # float64 evaluation of 5 degree-5 steps: error ≤ 10·T·u·A with A ≤ 3.5⁵ (slope at 0).
    tol = 10 * 5 * 1.2e-16 * 3.5**5
    assert abs(row["min_f"] - float(min(ref))) <= tol
    assert abs(row["max_f"] - float(max(ref))) <= tol
    assert row["degree"] == 5 and row["steps"] == 5
    # The certified bound dominates the grid estimate.
    assert row["grid_max_abs_1_minus_f"] <= row["certified_max_abs_1_minus_f"]


def test_schedule_bands_use_the_stated_or_the_effective_interval():
    rows = {r["schedule"]: r for r in schedule_bands(["polar_express", "you_ns6", "eo_cubic5", "eo_cans"], points=201)}
    assert rows["polar_express"]["which"] == "stated" and rows["polar_express"]["interval"] == "[0.001, 1]"
    assert rows["eo_cubic5"]["interval"] == "[0.007, 1]"  # arXiv 2606.00371's ℓ₀
    # You's rows state no interval: the table uses where |1 − f| ≤ 0.3 holds, and certifies it there
    assert rows["you_ns6"]["which"].startswith("effective") and rows["you_ns6"]["certified_max_abs_1_minus_f"] <= 0.3
    # just above 1: cubic5 turns directions round (p₁ < 0 past 1.0035), cans (no safety) explodes
    assert rows["eo_cubic5"]["min_f_on_[u,1.01u]"] < 0 < rows["eo_cubic5"]["max_f_on_[u,1.01u]"]
    assert rows["eo_cans"]["max_f_on_[u,1.01u]"] > 1e50


def test_measured_response_agrees_with_scalar_map_in_float64():
    (row,) = measured_response(["polar_express"], n=32, dtypes=(torch.float64,), progress=False)
    # fp64 rounding bound of test_newton_schulz: 10·n·u·T·A with A ≤ 1e3.
    assert row["max_response_error"] <= 10 * 32 * 1.2e-16 * 5 * 1e3
    assert row["max_leakage"] <= 10 * 32 * 1.2e-16 * 5 * 1e3


def test_reference_accuracy_rows_are_within_backward_stability():
    rows = reference_accuracy(size=(10, 6), kappas=(1e2, 1e8), dtypes=(torch.float64,), dps=30, progress=False)
    assert len(rows) == 14  # 7 references (msign and ZOLO-PD included) × 2 κ
    # Error in units of u·κ: a backward-stable method stays O(1)–O(n); 10·n bounds it.
    assert all(r["error_over_u_kappa"] <= 10 * 10 for r in rows)


def test_qdwh_convergence_rows():
    rows = qdwh_convergence(n=32, kappas=(1e1, 1e16), progress=False)
    bound = {"qdwh": 6, "zolo": 2}  # NBG 2010; Nakatsukasa & Freund 2016
    assert [(r["method"], r["iterations"] <= bound[r["method"]]) for r in rows] == [
        ("qdwh", True),
        ("zolo", True),
        ("qdwh", True),
        ("zolo", True),
    ]
    assert all(r["converged"] and r["backward_over_u"] <= 30 * 32**0.5 and r["time_over_svd"] > 0 for r in rows)


HEADINGS = [
    "Exact references vs mpmath",
    "QDWH",
    "scalar map on the design interval",
    "Gram Newton–Schulz",
    "Muon^p",
    "Coupled inverse roots",
    "Partner whitening",
    "Eigenbasis tracking",
    "Soft-Muon",
    "Softening across the four optimizers",
    "Does softening help?",
    "Error split",
    "Stability sweep",
    "Low precision",
]


@pytest.mark.slow  # ≥ 3.5 s on 2 cores: CI's second step (-m slow)
def test_quick_report_has_every_section_and_reads_its_sizes(tmp_path):
    from spectral_la.lab.report import FIGURES, ReportConfig, build_report

    cfg = ReportConfig.quick()
    figures = {k: v for k, v in FIGURES.items() if k in ("ns_response", "qdwh_iterations")}
    text = build_report(tmp_path, config=cfg, figures=figures, progress=False).read_text()
    for heading in HEADINGS:
        assert heading in text
    for name in schedules:
        assert f"| {name} |" in text
    # the prose reads the sizes from the config, not from hand-typed text
    assert f"({cfg.qdwh_n}×{cfg.qdwh_n}, float64)" in text and "G 24×16" in text and "(128×128, float64)" not in text
    assert "figures/ns_response.png" in text and "figures/stability.png" not in text
    assert "closest reproduction of that ~6.5%" in text
    assert "**quick run**" in text  # a quick report says it is quick


@pytest.mark.slow
def test_report_command_writes_all_sections(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path), "--no-progress"]) == 0
    text = (tmp_path / "report.md").read_text()
    for heading in HEADINGS:
        assert heading in text
    for name in schedules:
        assert f"| {name} |" in text
    for fig in ["ns_response", "softening", "recurrence_accuracy", "qdwh_iterations", "error_split", "stability"]:
        assert f"figures/{fig}.png" in text
        assert (tmp_path / "figures" / f"{fig}.png").stat().st_size > 1000
        assert (tmp_path / "figures" / f"{fig}.svg").exists()
    assert "closest reproduction of that ~6.5%" in text
    assert "full sizes" in text and "quick run" not in text
    assert "written to" in capsys.readouterr().out


def test_gram_rounding_restart_keeps_plain_ns_accuracy():
    from spectral_la.analysis import gram_rounding

    (row,) = gram_rounding(m=32, n=256, dtypes=(torch.float32,))
    # Plain fp32 NS is within 10·n·u·T·A (A ≤ 1e3) of the float64 result; the
    # restarted Gram variant must stay within a small factor (4) of plain NS.
    assert row["plain_ns_error"] <= 10 * 256 * 6e-8 * 5 * 1e3
    assert row["gram_error_restart_2"] <= 4 * row["plain_ns_error"]


def test_muon_p_accuracy_rows_match_independent_mpmath_facts():
    from spectral_la.analysis.recurrence_accuracy import muon_p_accuracy

    rows = {r["p"]: r for r in muon_p_accuracy(points=121)}
    assert rows["1/3"]["diverges_above_sigma_hat"] == "never"
    threshold = rows["1/2"]["diverges_above_sigma_hat"]
    # The p = 1/2 recurrence (c, d) = (3, −0.795918), 6 steps from y₀ = x, in mpmath:
    # bounded error at σ̂ = 0.5, |error| > 1 at σ̂ = 0.9 — the threshold lies between.
    mpmath.mp.dps = 40

    def err(x):
        x = mpmath.mpf(x)
        y = x
        for _ in range(6):
            y = y - (y**4 - x**2) * (mpmath.mpf(3.0) * x + mpmath.mpf(-0.795918) * y)
        return abs(y - mpmath.sqrt(x))

    assert err("0.5") < 1 and err("0.9") > 1
    assert 0.5 < threshold <= 0.9
    # The worst error is reported where the recurrence is defined (σ̂ ≤ its stable bound), and it is
    # the recurrence's own error there: float64 against 40 digits, 6 steps of slopes O(1), so 1e-12.
    half = rows["1/2"]
    assert half["at_sigma_hat"] <= half["stable_bound"]
    assert float(err(half["at_sigma_hat"])) == pytest.approx(
        half["bivariate_worst_error_up_to_stable_bound"], abs=1e-12
    )
    assert all(r["coupled_max_error"] <= 1e-10 for r in rows.values())


def test_coupled_root_and_whitening_and_tracking_rows():
    from spectral_la.analysis.recurrence_accuracy import coupled_root_accuracy, tracking_accuracy, whitening_accuracy

    roots = coupled_root_accuracy(n=8, kappas=(1e2,), rs=(2,))
    # κ = 1e2: rounding-level agreement with eigh, 10·n·κ·u relative.
    assert all(r["converged"] and r["rel_error_vs_eigh"] <= 10 * 8 * 1e2 * 1.2e-16 for r in roots)
    w = {r["partner"]: r for r in whitening_accuracy()}
    # The isotropic shortcut is good only for a near-isotropic partner.
    assert w["near-isotropic (±5%)"]["isotropic_rel_error"] < w["gaussian 128x64"]["isotropic_rel_error"]
    t = tracking_accuracy(steps=(1,))
    assert t[0]["angle_top1"] <= 1e-12  # first update is the exact eigh basis


@pytest.mark.slow  # ≥ 3.5 s on 2 cores: CI's second step (-m slow)
def test_each_figure_and_the_text_beside_it_carry_the_same_parameters(tmp_path, monkeypatch):
    """A figure's title and its caption in the report come from the same ReportConfig values."""
    import torch

    from spectral_la.figures import error_split, optimizer_softening, qdwh_iterations, softening
    from spectral_la.lab.report import FIGURES, ReportConfig, build_report

    drawn: dict[str, list[str]] = {}
    for module in (error_split, qdwh_iterations, softening, optimizer_softening):
        real_save = module.save

        def capture(fig, out_dir, name, real_save=real_save):
            titles = [ax.get_title() for ax in fig.axes]
            titles += [fig._suptitle.get_text()] if fig._suptitle is not None else []
            drawn[name] = [" ".join(t.split()) for t in titles]  # a long title is wrapped onto lines
            return real_save(fig, out_dir, name)

        monkeypatch.setattr(module, "save", capture)
    cfg = ReportConfig.quick()
    names = ("error_split", "qdwh_iterations", "softening", "optimizer_softening")
    text = build_report(tmp_path, config=cfg, figures={k: FIGURES[k] for k in names}, progress=False).read_text()
    expected = {
        "error_split": error_split.title(cfg.accuracy_size),
        "qdwh_iterations": qdwh_iterations.title(cfg.qdwh_n),
        "softening": softening.title(
            family=cfg.soft_figure_family,
            shape=cfg.soft_sizes[-1],
            specs=cfg.soft_specs[:2],
            storage_dtype=cfg.soft_storage_dtype,
        ),
        "optimizer_softening": optimizer_softening.title(
            spec=cfg.opt_soft_specs[0],
            sizes=cfg.opt_soft_sizes,
            families=("gaussian", "low_rank", "power_law"),
            seeds=cfg.opt_soft_seeds,
            storage_dtype=torch.float32,
            compute_dtype=torch.float32,
            fraction=cfg.opt_soft_fraction,
        ),
    }
    for name, title in expected.items():
        assert title in drawn[name], (name, drawn[name])
        assert title in text, name
    # the sizes differ from each module's own defaults, so a figure drawn with those would fail above
    assert cfg.accuracy_size != (16, 24) and cfg.qdwh_n != 96 and cfg.soft_sizes[-1] != (128, 512)


def test_measure_softening_takes_the_tensor_a_user_makes_first():
    """float32 (and bf16) X: the reference runs in float64 on a copy; a non-tensor is refused by name."""
    import torch

    from spectral_la.analysis.softening import measure_softening

    x = torch.randn(32, 96, generator=torch.Generator().manual_seed(0))
    a = measure_softening("soften:0.5:polar_express", x)[0]
    b = measure_softening("soften:0.5:polar_express", x.double())[0]
    assert a == b  # X is stored in float32 either way (storage_dtype=float32), so the rows agree exactly
    with pytest.raises(TypeError, match="x must be a real floating 2-D tensor"):
        measure_softening("soften:0.5:polar_express", [[1.0, 2.0]])


def test_softening_is_one_spec_everywhere():
    """A schedule where a soften spec belongs is refused with the spelling to use."""
    import torch

    from spectral_la.analysis.softening import measure_softening, soften_specs
    from spectral_la.analysis.sweeps import KINDS

    x = torch.randn(16, 48, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"'polar_express' is a ns spec; .* e\.g\. soften:0\.5:polar_express"):
        measure_softening("polar_express", x)
    with pytest.raises(ValueError, match="grid field 'specs'"):
        KINDS["softening"].tasks({**KINDS["softening"].defaults, "specs": ["ns:jordan_ns5"]})
    (a, b) = measure_softening(["soften:0.25:jordan_ns5", "soften:0.75:jordan_ns5:3"], x)
    assert (a["s"], a["schedule"], b["s"], b["spec"]) == (0.25, "jordan_ns5", 0.75, "soften:0.75:jordan_ns5:3")
    assert [str(sp) for sp in soften_specs("soften:0.5:you_ns6")] == ["soften:0.5:you_ns6"]


def test_a_capture_file_feeds_the_softening_check(tmp_path, capsys):
    """spectral-la softening --spectrum FILE.npz#<parameter>/<kind>/<step>; without a pick it lists the members."""
    from spectral_la.analysis.real_states import DEFAULT_CAPTURE, load_matrices
    from spectral_la.analysis.softening import spectrum_matrix
    from spectral_la.lab.cli import main

    (name, step), m = sorted(load_matrices(DEFAULT_CAPTURE).items())[0]
    x = spectrum_matrix(f"{DEFAULT_CAPTURE}#{name}/momentum/{step}", (1, 1))
    assert torch.equal(x, m)
    assert main(["softening", "--spectrum", str(DEFAULT_CAPTURE), "--out", str(tmp_path / "r.csv")]) != 0
    err = capsys.readouterr().err
    assert "pick one as" in err and f"{name}/momentum/{step}" in err


def test_a_finite_spectrum_float32_cannot_hold_is_named_as_overflow():
    import torch

    from spectral_la.analysis.softening import measure_softening

    x = torch.diag(torch.tensor([1e300, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="overflows when stored in fp32"):
        measure_softening("soften:0.5:polar_express", x)
    assert measure_softening("soften:0.5:polar_express", x, storage_dtype="fp64")[0]["s"] == 0.5
    with pytest.raises(ValueError, match="x is zero"):
        measure_softening("soften:0.5:polar_express", torch.zeros(4, 6))
    with pytest.raises(ValueError, match="x has non-finite entries"):
        measure_softening("soften:0.5:polar_express", torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))
    # every entry below bf16's smallest subnormal (≈ 9.2e-41): stored, X would be zero
    with pytest.raises(ValueError, match="underflows to zero when stored in bf16"):
        measure_softening(
            "soften:0.5:polar_express", torch.full((4, 6), 1e-45, dtype=torch.float64), storage_dtype="bf16"
        )
