"""The benchmark harness runs end to end on tiny sizes (no timing is asserted: speed is not tested)."""

from __future__ import annotations

import json
import math

import pytest

from spectral_la.lab.cli import main


def test_bench_command_writes_json(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert (
        main(
            [
                "bench",
                "--suite",
                "ns",
                "--sizes",
                "32",
                "--batched",
                "2x16x32",
                "--storage-dtypes",
                "float32",
                "--min-run-time",
                "0.01",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    data = json.loads(out.read_text())
    assert data["device"] == "cpu" and "bench" in data["command"]
    methods = {r["method"] for r in data["rows"]}
    assert methods == {"ns polar_express", "ns jordan_ns5", "gram_ns polar_express", "soften s=0.3"}
    assert all(r["ms"] > 0 and r["peak_mib"] >= 0 and r["ours_over_chain"] > 0 for r in data["rows"])
    assert "## suite ns" in capsys.readouterr().out


@pytest.mark.slow  # ≥ 3.5 s on 2 cores: CI's second step (-m slow)
def test_bench_other_suites_run(tmp_path):
    for suite in ("roots", "exact", "peers"):
        assert (
            main(
                [
                    "bench",
                    "--suite",
                    suite,
                    "--sizes",
                    "16",
                    "--min-run-time",
                    "0.01",
                    "--symmetric-shapes",
                    "24x40",
                    "--json",
                    str(tmp_path / f"{suite}.json"),
                ]
            )
            == 0
        )
        rows = json.loads((tmp_path / f"{suite}.json").read_text())["rows"]
        ours = [r for r in rows if not r["method"].startswith(("scipy", "jax"))]
        assert ours, suite
        for row in ours:  # the limit column on every row of ours
            assert row["gflop"] > 0 and row["matmul_tflops"] > 0, row
            assert math.isclose(row["tflops"], row["gflop"] / row["ms"], rel_tol=1e-9), row
            assert math.isclose(row["of_matmul_rate"], row["tflops"] / row["matmul_tflops"], rel_tol=1e-9), row
    symmetric = [r for r in rows if "symmetric products vs" in r["method"]]
    assert {r["dtype"] for r in symmetric} == {"float32", "float64"} and all(r["shape"] == "24x40" for r in symmetric)


def test_flop_counts_are_the_closed_forms():
    """Newton–Schulz: 5 steps of 4m²n + 2m³ with general products; with symmetric ones X Xᵀ and A² cost
    m(m+1)n and m(m+1)m (one triangle and the diagonal) and B X stays 2m²n. SVD polar of an n × n: the
    Golub–Reinsch count 14n³ + 8n³ plus U Vᵀ, 2n³."""
    import torch

    import spectral_la as sl
    from spectral_la.benchmarks.flops import count_flops
    from spectral_la.symmetric_products import symmetric_products

    m, n = 48, 80
    x = torch.randn(m, n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    rows = sl.schedules["eo_quintic"].rows  # five quintic rows
    assert len(rows) == 5 and all(len(r) == 3 for r in rows)
    with symmetric_products("off"):
        general = count_flops(lambda: sl.newton_schulz(x, "eo_quintic", check_finite=False))
    with symmetric_products("on"):
        symmetric = count_flops(lambda: sl.newton_schulz(x, "eo_quintic", check_finite=False))
    assert general == 5 * (4 * m * m * n + 2 * m**3)
    assert symmetric == 5 * (m * (m + 1) * n + m * (m + 1) * m + 2 * m * m * n)
    y = torch.randn(32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert count_flops(lambda: sl.polar(y)) == 22 * 32**3 + 2 * 32**3


def test_bench_refuses_cuda_without_gpu():
    import torch

    if not torch.cuda.is_available():
        assert main(["bench", "--device", "cuda", "--json", ""]) == 2


def test_the_command_line_names_every_suite():
    from spectral_la.benchmarks.__main__ import SUITE_NAMES
    from spectral_la.benchmarks.suites import SUITES

    assert SUITE_NAMES == tuple(SUITES)


def test_the_divergence_check_makes_no_blas_call():
    """Under symmetric_products("on") only the matrix iteration's own products go to ?syrk: the scalar-map
    check's thousands of 1 × 1 σ (which once made a 3 × 5 call take seconds) run plain. The tally is the
    closed form of the iteration: per quintic step X Xᵀ costs m(m+1)n and A² m(m+1)m."""
    import torch

    import spectral_la as sl
    from spectral_la.symmetric_products import blas_available, blas_flops, symmetric_products

    if not blas_available():
        pytest.skip("no MKL ?syrk in this torch build")
    m, n = 3, 5
    x = torch.randn(m, n, generator=torch.Generator().manual_seed(0))
    with symmetric_products("on"), blas_flops() as tally:
        sl.newton_schulz(x, "eo_quintic")
    assert tally[0] == 5 * (m * (m + 1) * n + m * (m + 1) * m)


def test_fit_exponent_recovers_a_power_law():
    """t = 3·x^2.5 sampled exactly: the least-squares fit on logs returns 2.5 and log 3 to rounding."""
    from spectral_la.benchmarks.scaling import fit_exponent

    xs = [8, 16, 32, 64]
    alpha, c = fit_exponent(xs, [3 * x**2.5 for x in xs])
    assert alpha == pytest.approx(2.5, abs=1e-12) and c == pytest.approx(math.log(3), abs=1e-10)
    for bad in (([1, 2], [0.0, 1.0]), ([1, 2], [1.0, float("nan")]), ([2, 2], [1.0, 2.0]), ([1, 2, 3], [1.0, 2.0])):
        with pytest.raises(ValueError, match="fit_exponent"):
            fit_exponent(*bad)


def test_bench_scaling_writes_rows_summary_and_figure(tmp_path, capsys):
    """``bench --scaling`` on tiny sizes: every series and method appears, one fastest-method row per n,
    the figure is written. (Timing values are not asserted: speed is for benchmarks, not tests.)"""
    from spectral_la.benchmarks.scaling import scaling_rows, summary_rows

    rows = scaling_rows((8, 16), aspect_m=8, aspects=(1, 2), mp_sizes=(3, 4), mp_digits=(20, 30), mp_n=3,
                        min_run_time=0.001, progress=False)  # fmt: skip
    series = {r["series"] for r in rows}
    assert series == {"n", "aspect n/m", "n (mpmath, 30 digits)", "digits (mpmath)"}
    assert {r["method"] for r in rows if r["series"] == "n"} == {
        "ns (general products)", "ns (symmetric route)", "gram_ns", "qdwh", "zolo_pd", "svd"
    }  # fmt: skip
    summary = summary_rows(rows)
    assert [r["x_range"] for r in summary if r["series"].startswith("fastest")] == ["8x8", "16x16"]
    assert all(math.isfinite(r["fitted_exponent"]) for r in summary if not r["series"].startswith("fastest"))
    fig, out = tmp_path / "scaling.png", tmp_path / "scaling.json"
    assert main(["bench", "--scaling", "--sizes", "8", "16", "--min-run-time", "0.001", "--json", str(out),
                 "--figure", str(fig)]) == 0  # fmt: skip
    assert fig.stat().st_size > 1000 and json.loads(out.read_text())["rows"]
    # an option the cost curves cannot honour is refused, not dropped
    assert main(["bench", "--scaling", "--suite", "ns", "--json", str(out), "--figure", str(fig)]) == 2
    assert "not --suite" in capsys.readouterr().err
    assert main(["bench", "--figure", str(fig), "--json", str(out)]) == 2
    assert "pass --scaling" in capsys.readouterr().err
