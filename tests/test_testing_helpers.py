"""spectral_la.testing: users' accuracy assertions fail loudly and precisely, and pass when they should."""

from __future__ import annotations

import json

import mpmath
import numpy as np
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


def test_helpers_cannot_pass_vacuously(tmp_path):
    """Was: an empty σ list passed for any map, a NaN reference was stored, tol = 0 raised ZeroDivisionError."""
    wrong = lambda s: s * 0 + 5.0  # noqa: E731 - a wrong map
    for sigmas in ([], np.array([]), torch.tensor([])):
        with pytest.raises(ValueError, match="sigmas is empty"):
            assert_map_accuracy(wrong, lambda s: 1, sigmas, tol=0.1)
    with pytest.raises(ValueError, match="NaN or Inf"):
        assert_map_accuracy(wrong, lambda s: mpmath.nan, [0.5], tol=0.1)
    for tol, match in ((-1.0, "≥ 0"), (float("nan"), "finite"), ([0.1, 0.2], "2 entries for 1")):
        with pytest.raises(ValueError, match=match):
            assert_map_accuracy(wrong, lambda s: 5, [0.5], tol=tol)
    with pytest.raises(ValueError, match="NaN or Inf"):
        write_golden(tmp_path / "g.json", lambda s: mpmath.nan, [0.5])
    assert not (tmp_path / "g.json").exists()
    table = tmp_path / "empty.json"
    table.write_text('{"format": "spectral_la-golden-1", "dps": 30, "meta": {}, "sigma": [], "value": []}')
    with pytest.raises(ValueError, match="sigmas is empty"):
        check_golden(table, wrong, tol=0.1)


def test_an_exact_map_has_error_zero_and_tol_zero_works():
    """The reference is evaluated at the binary σ the map sees, not at its decimal string."""
    sig = [0.1, 1 / 3, 0.7]
    assert_map_accuracy(lambda s: s * 2, lambda s: 2 * s, sig, tol=0)
    with pytest.raises(AssertionError, match="tol is 0"):
        assert_map_accuracy(lambda s: s * 2 + 1e-16, lambda s: 2 * s, sig, tol=0)


def test_helpers_take_what_users_hold():
    for sigmas in ([1e-2, 0.5, 1.0], np.array([1e-2, 0.5, 1.0]), torch.tensor([1e-2, 0.5, 1.0])):
        assert_map_accuracy(lambda s: sl.scalar_map("polar_express", s), lambda s: 1, sigmas, tol=0.16)
    g = torch.randn(5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a = (g @ g.T + torch.eye(5, dtype=torch.float64)).numpy()
    a = (a + a.T) / 2
    # a RootResult is compared by its root (coupled Newton to tolerance: ~√(n·u) then one quadratic step)
    assert_matrix_accuracy(lambda x: sl.coupled_inverse_root(x, 4), lambda x: sl.inverse_root(x, 4), a, 1e-12, dps=30)
    asym = (g @ g.T).numpy() + np.diag(np.ones(5))
    asym[0, 1] += 1e-15  # float64 asymmetry, as a product in another order leaves
    with pytest.raises(ValueError, match=r"pass \(A \+ A.T\) / 2"):
        assert_matrix_accuracy(lambda x: x, lambda x: sl.inverse_root(x, 2), asym, 1e-12, dps=30)
