"""Schedule design: Remez, the Polar Express reproduction, certified bounds, save/load, CLI."""

from __future__ import annotations

import mpmath
import pytest

from spectral_la import schedules
from spectral_la.certify import certify
from spectral_la.design import design_schedule, pade_row
from spectral_la.lab.cli import main
from spectral_la.remez import odd_polynomial, remez_odd
from spectral_la.schedule_files import load_schedule, save_schedule
from spectral_la.schedules import POLAR_EXPRESS_TABLE
from spectral_la.targets import target
from tests.poly_reference import compose


def _one(x):
    return mpmath.mpf(1)


def _zero(x):
    return mpmath.mpf(0)


def test_remez_linear_closed_form():
    # Best c·x for 1 on [a, b]: c = 2/(a + b), error (b − a)/(b + a) (equioscillation at a and b).
    mpmath.mp.dps = 40
    a, b = mpmath.mpf("0.1"), mpmath.mpf(1)
    res = remez_odd(_one, _zero, 1, a, b)
    assert abs(res.coefficients[0] - 2 / (a + b)) <= mpmath.mpf("1e-35")
    assert abs(res.error - (b - a) / (b + a)) <= mpmath.mpf("1e-35")


@pytest.mark.parametrize("degree", [3, 5, 7])
def test_remez_equioscillates(degree):
    mpmath.mp.dps = 40
    a, b = mpmath.mpf("0.05"), mpmath.mpf(1)
    res = remez_odd(_one, _zero, degree, a, b)
    errs = [1 - odd_polynomial(res.coefficients, x) for x in res.points]
    assert len(errs) == (degree + 1) // 2 + 1
    for e0, e1 in zip(errs, errs[1:], strict=False):
        assert e0 * e1 < 0 and abs(abs(e0) - abs(e1)) <= mpmath.mpf("1e-20")
    grid = [a + (b - a) * mpmath.mpf(i) / 4000 for i in range(4001)]
    assert max(abs(1 - odd_polynomial(res.coefficients, x)) for x in grid) <= res.error * (1 + mpmath.mpf("1e-20"))


def test_pade_rows_closed_form():
    assert pade_row(3) == (1.5, -0.5)
    assert pade_row(5) == (mpmath.mpf(15) / 8, mpmath.mpf(-10) / 8, mpmath.mpf(3) / 8)
    # Third Padé sign iteration: (35x − 35x³ + 21x⁵ − 5x⁷)/16 (Amsel et al. 2025, §2).
    assert pade_row(7) == tuple(mpmath.mpf(c) / 16 for c in (35, -35, 21, -5))


def test_design_reproduces_the_polar_express_table():
    res = design_schedule(5, 8, 1e-3)
    for k, (ours, printed) in enumerate(zip(res.rows_exact, POLAR_EXPRESS_TABLE, strict=True)):
        rel = max(abs(float(c / t) - 1) for c, t in zip(ours, printed, strict=True))
        if k <= 5:
            # The printed rows are doubles from the paper's float64 design: ≤ ~10 ulp apart.
            assert rel <= 2e-15, (k, rel)
        elif k == 6:
            # ℓ/u = 0.9988: the Remez system is ill-conditioned in double precision;
            # the paper's row agrees with our 50-digit optimum to 3e-11.
            assert rel <= 3e-11, (k, rel)
        else:
            # Row 8 is the Padé limit (1.875, −1.25, 0.375); ours is it on x/u₇, u₇ − 1 ≈ 1e-9.
            assert rel <= 1e-8, (k, rel)
    # ℓ₅ of the design equals the composition of the printed table at 1e-3 (mpmath).
    mpmath.mp.dps = 30
    ell5 = compose(POLAR_EXPRESS_TABLE[:5], "1e-3")
    assert abs(res.intervals[5][0] - ell5) <= mpmath.mpf("1e-13")
    # With the paper's safety factor the rows are the registered ones.
    safe = design_schedule(5, 8, 1e-3, safety=1.01).schedule
    for ours, registered in zip(safe.rows[:6], schedules["polar_express"].rows[:6], strict=True):
        assert max(abs(c / t - 1) for c, t in zip(ours, registered, strict=True)) <= 2e-15


@pytest.mark.parametrize("degree", [3, 7])
def test_other_degrees_centre_the_image(degree):
    res = design_schedule(degree, 4, 1e-3)
    for lo, hi in res.intervals[1:]:
        assert abs(lo + hi - 2) <= mpmath.mpf("1e-30")
    assert 0 < res.worst_error < 1


@pytest.mark.parametrize("name", list(schedules))
def test_certified_bound_contains_the_true_maximum(name):
    bound = certify(name)
    assert bound.complete and bound.estimate <= bound.upper <= bound.estimate * (1 + 1e-3)
    # Independent dense log grid in mpmath: its max can only be ≤ the rigorous bound.
    mpmath.mp.dps = 30
    rows = schedules[name].coefficients()
    lo = mpmath.log10(schedules[name].interval[0])  # certify's default interval is the schedule's own
    grid = [mpmath.mpf(10) ** (lo - lo * mpmath.mpf(i) / 3000) for i in range(3001)]
    grid_max = max(abs(1 - compose(rows, x)) for x in grid)
    assert float(grid_max) <= bound.upper


def test_certified_polar_express_values():
    mpmath.mp.dps = 30
    worst = float(1 - compose(POLAR_EXPRESS_TABLE[:5], "1e-3"))  # closed form of the construction
    b = certify("polar_express_unscaled")
    assert worst <= b.upper <= worst * (1 + 1e-3)
    # Overshoot on [1, 1.01]: without safety the composition explodes, with it stays ≤ u₅.
    assert b.overshoot > 1e90
    assert certify("polar_express").overshoot <= 1.1236


def test_targets_and_composition_fit():
    single = design_schedule(5, 1, 1e-2, target_map="power:0.5")
    double = design_schedule(5, 2, 1e-2, target_map="power:0.5")
    b1, b2 = certify(single.schedule), certify(double.schedule)
    assert b1.complete and b2.complete
    assert abs(b1.estimate - float(single.worst_error)) <= 1e-9
    assert b2.upper < b1.upper  # the fitted composition beats the single minimax step
    soft = design_schedule(5, 1, 1e-2, target_map="soft:0.3")
    assert soft.schedule.target == "soft:0.3" and certify(soft.schedule).complete


def test_save_load_register_round_trip(tmp_path):
    sched = design_schedule(5, 3, 1e-2, name="test_roundtrip").schedule
    path = save_schedule(sched, tmp_path / "s.json")
    loaded = load_schedule(path, register=True)
    try:
        assert loaded == sched
        assert schedules["test_roundtrip"] is loaded
        assert load_schedule(path, register=True) == sched  # the same file again: idempotent
        other = design_schedule(5, 3, 2e-2, name="test_roundtrip").schedule
        with pytest.raises(ValueError, match="registered with other rows"):
            load_schedule(save_schedule(other, tmp_path / "t.json"), register=True)
    finally:
        schedules._table.pop("test_roundtrip", None)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"degree": 4}, "degree"),
        ({"degree": 1}, "degree"),
        ({"steps": 0}, "steps"),
        ({"ell": 0.0}, "ell"),
        ({"ell": 1.5}, "ell"),
        ({"safety": 0.9}, "safety"),
        ({"target_map": "tanh"}, "target"),
        ({"target_map": "power:1.5"}, "target"),
    ],
)
def test_bad_design_parameters(kw, match):
    args = {"degree": 5, "steps": 2, "ell": 1e-2} | kw
    with pytest.raises(ValueError, match=match):
        design_schedule(args.pop("degree"), args.pop("steps"), args.pop("ell"), **args)


def test_target_parser():
    assert target("sign").idempotent and not target("power:0.5").idempotent
    assert target("soft:0.25").value(mpmath.mpf(1)) == 1


def test_cli_design(tmp_path, capsys):
    out = tmp_path / "d.json"
    assert main(["design", "--degree", "5", "--steps", "3", "--ell", "1e-2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "certified max |f − target|" in text and "| 1 |" in text and "| 3 |" in text
    assert load_schedule(out).degree == 5
    assert main(["design", "--degree", "4"]) == 2


def test_safety_in_recurrence_reproduces_modded_polar_express():
    """The modded-nanogpt / dion Polar Express rows are the greedy design with cushion 0.02 and the
    1.02 safety applied inside the recurrence (last row exempt): reproduced to the table's 16 digits."""
    res = design_schedule(5, 5, 1e-3, cushion=0.02, safety=1.02, safety_in_recurrence=True)
    table = schedules["polar_express_modded"].rows
    for got, ref in zip(res.schedule.rows, table, strict=True):
        for g, r in zip(got, ref, strict=True):
            # the table's digits are float64 roundings of a Remez solve (ours at 50 digits): ≤ 1e-13 relative
            assert abs(g - r) <= 1e-13 * abs(r)
    # in the recurrence the tracked ℓ_T is the schedule's true worst error on [ℓ, 1]: the certificate agrees
    bound = certify(res.schedule, interval=(1e-3, 1.0))
    assert abs(bound.upper - float(res.worst_error)) <= 1e-8
    # and the post-hoc safety of the paper's Algorithm 1, same s and cushion, is worse on the same interval
    post = design_schedule(5, 5, 1e-3, cushion=0.02, safety=1.02)
    assert certify(post.schedule, interval=(1e-3, 1.0)).upper > bound.upper + 0.02
    with pytest.raises(ValueError, match="sign target"):
        design_schedule(5, 1, 1e-2, target_map="power:0.5", safety_in_recurrence=True)


def test_aol_design_round_trips_and_is_certified(tmp_path):
    res = design_schedule(5, 4, 0.05, normalization="aol")
    sched = res.schedule
    assert sched.normalization.kind == "aol" and sched.normalization.eps == 0
    back = load_schedule(save_schedule(sched, tmp_path / "aol.json"))
    assert back == sched
    # no safety, no cushion effect at ℓ = 0.05 > cushion: the greedy bound 1 − ℓ_T is the certified one
    assert abs(certify(sched).upper - float(res.worst_error)) <= 1e-8
    with pytest.raises(ValueError, match="normalization"):
        design_schedule(5, 2, 0.1, normalization="spectral")
