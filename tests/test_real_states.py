"""The real workload (a few steps) and the analysis of the committed captured states."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spectral_la.analysis.real_states import DEFAULT_CAPTURE, load_capture, muon_p_rows, real_state_rows, spectrum_rows
from spectral_la.lab.cli import main


@pytest.mark.parametrize(
    ("optimizer", "cls", "extra"),
    [("muon", "Muon", []), ("normuon", "NorMuon", ["--softening", "0.3"]), ("dion2", "Dion2", []),
     ("nordion2", "NorDion2", ["--softening", "linear:0:0.5:4"])],
)  # fmt: skip
def test_workload_trains_and_captures(tmp_path, capsys, optimizer, cls, extra):
    out = tmp_path / "cap.npz"
    argv = ["capture", "--out", str(out), "--steps", "6", "--optimizer", optimizer, "--compute-dtype", "fp32", *extra]
    assert main(argv) == 0
    meta, spectra = load_capture(out)
    assert meta["captured_steps"] == [1, 3, 6] and meta["optimizer"] == f"spectral_la.optim.{cls}"
    assert meta["last_loss"] < meta["first_loss"] <= 1.2 * math.log(256)  # it learns from real text
    names = {k[0] for k in spectra}
    assert len(names) == 8 and {k[1] for k in spectra} == {"grad", "momentum", "update"}


def test_committed_capture_and_its_analysis():
    meta, spectra = load_capture(DEFAULT_CAPTURE)
    assert meta["steps"] == 1500 and meta["valid_loss"] < 0.4 * meta["uniform_loss"]
    assert all(np.all(np.diff(v) <= 0) and v[-1] >= 0 for v in spectra.values())
    steps = [r["step"] for r in spectrum_rows()]
    assert steps == sorted(meta["captured_steps"])
    rows = real_state_rows()
    assert {r["schedule"] for r in rows} == {"jordan_ns5", "polar_express", "you_ns6", "dion_ns5"}
    for r in rows:
        assert 0 <= r["below_interval"] <= 1 and 0 <= r["soften_mean_rel"] <= 1
        # inside the design interval the finite-step blend is within Polar Express's band of the claim,
        # far from the trivial worst gap 1 at σ → 0
        assert r["soften_max_rel_in_interval"] < 0.9
    assert all(0 <= r["mean_error"] <= r["max_error"] for r in muon_p_rows())


def test_missing_capture_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="spectral-la capture"):
        load_capture(tmp_path / "none.npz")
