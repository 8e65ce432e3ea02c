"""The three uses as one-liners: response plots, softening checks, pinned recurrences (commands end to end)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from spectral_la.design import design_schedule
from spectral_la.lab.cli import main
from spectral_la.schedule_files import save_schedule


def test_response_command_writes_png_svg_and_csv(tmp_path, capsys):
    assert (
        main(["response", "polar_express", "soften:0.3:jordan_ns5", "--points", "50", "--out", str(tmp_path / "r.png")])
        == 0
    )
    assert (tmp_path / "r.png").stat().st_size > 1000
    assert (
        main(
            [
                "response",
                "muon_p:1/3",
                "--points",
                "50",
                "--storage-dtype",
                "float32",
                "--shape",
                "32x80",
                "--out",
                str(tmp_path / "r.svg"),
            ]
        )
        == 0
    )
    assert (tmp_path / "r.svg").read_text().startswith("<?xml")
    assert main(["response", "jordan_ns5", "--points", "20", "--out", str(tmp_path / "r.csv")]) == 0
    with (tmp_path / "r.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20 and rows[0]["spec"] == "ns:jordan_ns5"
    assert "max |f − target|" in capsys.readouterr().out


def test_response_of_a_designed_schedule_file(tmp_path):
    path = save_schedule(design_schedule(5, 3, 1e-2, name="my_design").schedule, tmp_path / "mine.json")
    assert main(["response", str(path), "--points", "30", "--out", str(tmp_path / "mine.csv")]) == 0
    assert "ns:my_design" in (tmp_path / "mine.csv").read_text()


def test_softening_command_on_a_family_and_on_a_users_npz(tmp_path, capsys):
    assert (
        main(
            [
                "softening",
                "soften:0.3:polar_express",
                "--spectrum",
                "power_law",
                "--shape",
                "32x96",
                "--out",
                str(tmp_path / "s.png"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "| soften:0.3:polar_express | polar_express | power_law | 32x96 | storage fp32, compute fp32 | 0.3 |" in out
    assert (tmp_path / "s.png").stat().st_size > 1000
    np.savez(tmp_path / "mine.npz", sigma=np.geomspace(1, 1e-3, 24))
    assert (
        main(
            [
                "softening",
                "--spectrum",
                str(tmp_path / "mine.npz"),
                "--shape",
                "24x48",
                "--out",
                str(tmp_path / "s.svg"),
            ]
        )
        == 0
    )
    np.savez(tmp_path / "mat.npz", matrix=np.random.default_rng(0).standard_normal((20, 30)))
    assert main(["softening", "--spectrum", str(tmp_path / "mat.npz"), "--out", str(tmp_path / "m.png")]) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["response", "ns:nope"],
        ["response", "polar_express", "--sigma-range", "1", "0.5"],
        ["response", "polar_express", "--out", "x.gif"],
        ["response", "missing.json"],
        ["softening", "--s", "1.5"],
        ["softening", "--spectrum", "missing.npz"],
        ["softening", "--shape", "ax3"],
        ["response", "polar_express", "--storage-dtype", "float32", "--shape", "0x3"],
    ],
)
def test_bad_arguments_are_one_line_errors(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_help_and_argument_errors_import_nothing_heavy():
    """--help and argument errors used to take 5–22 s (torch and the whole toolkit imported first)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from spectral_la.lab.cli import main\n"
        "for argv in (['--help'], ['response', '--help'], ['bench', '--help'], ['design', '--degree', '4'],\n"
        "             ['response', 'x', '--out', 'y.gif'], ['softening', '--s', '2']):\n"
        "    main(argv)\n"
        "heavy = [m for m in ('torch', 'spectral_la.spec', 'spectral_la.analysis', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_precision_command_writes_labelled_rows_and_a_figure(tmp_path, capsys):
    out = tmp_path / "p.csv"
    args = [
        "precision",
        "ns:polar_express",
        "--compute-dtypes",
        "bf16",
        "fp8_e4m3",
        "--shape",
        "16x40",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    # every row says what was measured: spec, shape, storage and compute dtype, accumulation
    assert {(r["spec"], r["shape"], r["storage_dtype"], r["compute_dtype"], r["accumulation"]) for r in rows} == {
        ("ns:polar_express", "16x40", "bf16", "bf16", "fused"),
        ("ns:polar_express", "16x40", "fp32", "fp8_e4m3", "fused"),
    }
    printed = capsys.readouterr().out
    assert "storage bf16, compute bf16" in printed and "storage fp32, compute fp8_e4m3" in printed
    png = tmp_path / "p.png"
    assert main(["precision", "--compute-dtypes", "fp32", "--shape", "16x40", "--out", str(png)]) == 0
    assert png.stat().st_size > 10_000
    assert main(["precision", "--compute-dtypes", "fp4", "--out", str(out)]) == 2
    assert main(["precision", "ns:polar_express", "ns:jordan_ns5", "--out", str(png)]) == 2  # one spec per figure
    assert "one spec" in capsys.readouterr().err
