"""The softening study: its statistics against closed forms, its refusals, and a tiny run end to end."""

from __future__ import annotations

import math

import pytest
import torch

from spectral_la.analysis.study_stats import best_lrs, parse_rows, study_summary, t_interval
from spectral_la.lab.study import StudyConfig, load_rows, run_study

TINY = dict(
    optimizers=("muon",), softening=("0", "ramp:0:0.5"), regimes={"a": 1.0}, lrs={"muon": (0.01, 0.02)},
    seeds=(0, 1), width=16, layers=1, heads=2, context=16, batch=4, evals=2, held_out_windows=8,
)  # fmt: skip


def test_t_interval_is_students():
    mean, half = t_interval([1.0, 2.0, 3.0])
    p = 0.975
    t2 = (2 * p - 1) / math.sqrt(2 * p * (1 - p))  # Student t with 2 degrees of freedom: closed-form quantile
    assert mean == 2.0 and half == pytest.approx(t2 / math.sqrt(3), rel=1e-10)
    assert math.isnan(t_interval([1.0])[1])  # no interval from one seed


def _row(opt, s, seed, lr, loss):
    return {"optimizer": opt, "softening": s, "regime": "r", "seed": seed, "lr": lr, "final_loss": loss,
            "tokens_per_param": 100.0, "curve": [(1, loss)]}  # fmt: skip


def test_paired_differences_and_verdicts_come_only_from_intervals():
    rows = [_row("muon", "0", seed, 0.02, 3.0 + 0.1 * seed) for seed in range(3)]
    rows += [_row("muon", "0", 0, lr, 3.5) for lr in (0.01, 0.04)]
    # s = 0.5: per seed 0.05 ± 0.001 lower: a paired difference with a tight interval despite the seed spread
    rows += [_row("muon", "0.5", seed, 0.04, 3.0 + 0.1 * seed - 0.05 - 0.001 * seed) for seed in range(3)]
    rows += [_row("muon", "0.5", 0, lr, 3.5) for lr in (0.01, 0.02)]
    # s = 0.25: differences of both signs
    rows += [_row("muon", "0.25", seed, 0.02, 3.0 + 0.1 * seed + (0.02, -0.02, 0.01)[seed]) for seed in range(3)]
    chosen = best_lrs(rows, 0)
    assert chosen[("muon", "0", "r")] == {"lr": 0.02, "lr_at_edge": False, "grid": [0.01, 0.02, 0.04]}
    assert chosen[("muon", "0.5", "r")]["lr_at_edge"]  # 0.04 is the largest value of the grid
    by = {r["softening"]: r for r in study_summary(rows)}
    assert by["0"]["verdict"] == "baseline" and by["0.5"]["verdict"].startswith("better by 0.0510")
    assert by["0.25"]["verdict"].startswith("no difference detectable with 3 seeds")
    d = [-0.05, -0.051, -0.052]
    assert by["0.5"]["diff_ci95"] == pytest.approx(t_interval(d)[1], rel=1e-9)


def test_bad_studies_are_refused_before_any_training(tmp_path):
    with pytest.raises(ValueError, match="optimizers is empty"):
        StudyConfig(optimizers=())
    with pytest.raises(ValueError, match="unknown optimizer"):
        StudyConfig(optimizers=("adam",))
    with pytest.raises(ValueError, match="softening"):
        StudyConfig(softening=("0", "ramp:0"))
    with pytest.raises(ValueError, match="training bytes"):  # a regime the corpus cannot meet with fresh tokens
        run_study(StudyConfig(**{**TINY, "regimes": {"huge": 1e7}}), tmp_path / "s.csv", workers=0, progress=False)
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.slow  # ≥ 3.5 s on 2 cores: CI's second step (-m slow)
def test_a_tiny_study_runs_pairs_its_seeds_resumes_and_refuses_another_configs_store(tmp_path):
    cfg = StudyConfig(**TINY)
    out = tmp_path / "s.csv"
    rng = torch.get_rng_state()
    p1, p2 = run_study(cfg, out, workers=0, progress=False)
    assert torch.equal(torch.get_rng_state(), rng)  # seeds set the runs, not the caller's generator
    assert (p1.computed, p2.computed) == (4, 2) and not p1.failures and not p2.failures
    rows = parse_rows(load_rows(out), cfg.key())
    seed0 = [r for r in rows if r["seed"] == 0 and r["lr"] == 0.01]
    assert {r["softening"] for r in seed0} == {"0", "ramp:0:0.5"}
    # the ramp starts at s = 0: its first step equals the unsoftened run's, so the two differ but stay close
    a, b = (next(r for r in seed0 if r["softening"] == s)["final_loss"] for s in ("0", "ramp:0:0.5"))
    assert a != b and abs(a - b) < 0.5
    summary = study_summary(rows)
    assert {r["seeds"] for r in summary} == {2} and all("verdict" in r for r in summary)
    again = run_study(cfg, out, workers=0, progress=False)
    assert again[0].computed == 0 and again[1].computed == 0  # a resume recomputes nothing stored
    with pytest.raises(ValueError, match="another study configuration"):
        run_study(StudyConfig(**{**TINY, "width": 8}), out, workers=0, progress=False)
