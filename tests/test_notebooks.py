"""The notebooks (jupytext py:percent scripts) execute top to bottom."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("[0-9]*.py"))
#: Notebooks that take ≥ 3.5 s on 2 cores run in CI's second step (-m slow).
SLOW = {"06_choosing_a_schedule", "08_four_optimizers", "09_softening_study"}


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW else p for p in NOTEBOOKS],
    ids=lambda p: p.stem,
)
def test_notebook_runs(path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(path.parents[1])
    monkeypatch.setenv("MPLBACKEND", "Agg")
    from spectral_la import schedules

    before = set(schedules)
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        for name in set(schedules) - before:  # notebooks may register their own schedules
            schedules._table.pop(name)
    assert os.getcwd() == str(path.parents[1])


def test_there_is_one_notebook_per_use_case():
    assert [p.stem for p in NOTEBOOKS] == [
        "01_response_curves",
        "02_validate_softening",
        "03_design_schedule",
        "04_recurrence_accuracy",
        "05_real_states",
        "06_choosing_a_schedule",
        "07_low_precision",
        "08_four_optimizers",
        "09_softening_study",
    ]
