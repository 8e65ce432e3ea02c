"""spectral_la.testing: users' accuracy assertions fail loudly and precisely, and pass when they should."""

from __future__ import annotations

import json

import mpmath
import pytest
import torch

import spectral_la as sl
from spectral_la.testing import assert_map_accuracy, assert_matrix_accuracy, check_golden, write_golden

SIGMAS = [10 ** (-3 + 3 * i / 40) for i in range(41)]


def _cubic_ns_mp(steps):
    """The classic cubic Newton–Schulz map written directly in mpmath (the independent run)."""

    def f(s):
        for _ in range(steps):
            s = (3 * s - s**3) / 2
        return s

    return f


def _cubic_ns_fast(steps, perturb=0.0):
    def f(sigma):
        for _ in range(steps):
            sigma = (1.5 + perturb) * sigma - 0.5 * sigma**3
        return sigma

    return f


def test_golden_pins_a_recurrence_and_catches_a_1e6_perturbation(tmp_path):
    path = write_golden(tmp_path / "cubic.json", _cubic_ns_mp(6), SIGMAS, dps=40, meta={"map": "cubic NS, 6 steps"})
    assert json.loads(path.read_text())["meta"]["map"] == "cubic NS, 6 steps"
    # float64 rounding over 6 steps with slope ≤ 1.5 per step: ≤ 10·6·u·1.5⁶ ≈ 1e-13.
    check_golden(path, _cubic_ns_fast(6), 1e-13)
    with pytest.raises(AssertionError, match=r"cubic.json: \d+ of 41 points exceed the tolerance; worst at σ = "):
        check_golden(path, _cubic_ns_fast(6, perturb=1e-6), 1e-13)
    # the registered schedule runs the same recurrence
    check_golden(path, lambda s: sl.scalar_map("newton_schulz_cubic", s, steps=6), 1e-13)


def test_map_accuracy_message_says_where_and_how_much():
    with pytest.raises(AssertionError) as info:
        assert_map_accuracy(
            lambda s: sl.scalar_map("jordan_ns5", s), lambda s: mpmath.mpf(1), SIGMAS, tol=0.1, name="jordan"
        )
    text = str(info.value)
    assert text.startswith("jordan:") and "× tol" in text and "σ = " in text
    # Polar Express stays within its certified band 1 − ℓ₅ = 0.1236 on [1e-3, 1]
    assert_map_accuracy(lambda s: sl.scalar_map("polar_express_unscaled", s), lambda s: 1, SIGMAS, tol=0.1236)


def test_matrix_accuracy_against_the_exact_map():
    x = torch.randn(12, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert_matrix_accuracy(sl.polar, sl.polar, x, 1e-13, dps=30)
    with pytest.raises(AssertionError, match=r"entry = \(\d+, \d+\)"):
        assert_matrix_accuracy(lambda a: sl.newton_schulz(a, "jordan_ns5"), sl.msign, x, 1e-3, dps=30)


def test_bad_golden_files_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        check_golden(tmp_path / "none.json", _cubic_ns_fast(1), 1e-10)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        check_golden(tmp_path / "bad.json", _cubic_ns_fast(1), 1e-10)
