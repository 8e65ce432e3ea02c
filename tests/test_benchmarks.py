"""The benchmark harness runs end to end on tiny sizes (no timing is asserted: speed is not tested)."""

from __future__ import annotations

import json

from lab.cli import main


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
                "--dtypes",
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
                    "--json",
                    str(tmp_path / f"{suite}.json"),
                ]
            )
            == 0
        )


def test_bench_refuses_cuda_without_gpu():
    import torch

    if not torch.cuda.is_available():
        assert main(["bench", "--device", "cuda", "--json", ""]) == 2


def test_the_command_line_names_every_suite():
    from benchmarks.__main__ import SUITE_NAMES
    from benchmarks.suites import SUITES

    assert SUITE_NAMES == tuple(SUITES)
