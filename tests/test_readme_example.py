"""The README's pytest example for spectral_la.testing, verbatim: it must keep working."""

import spectral_la as sl
from spectral_la.testing import assert_map_accuracy, check_golden, write_golden

SIGMAS = [10 ** (-3 + 3 * i / 100) for i in range(101)]


def cubic_ns_in_mpmath(s, steps=6):  # the independent high-precision run
    for _ in range(steps):
        s = (3 * s - s**3) / 2
    return s


def test_polar_express_stays_in_its_band():
    assert_map_accuracy(lambda s: sl.scalar_map("polar_express", s), lambda s: 1, SIGMAS, tol=0.16)


def test_my_cubic_recurrence_is_pinned(tmp_path):
    table = write_golden(tmp_path / "cubic.json", cubic_ns_in_mpmath, SIGMAS, dps=40)  # once, then commit it
    check_golden(table, lambda s: sl.scalar_map("newton_schulz_cubic", s, steps=6), tol=1e-13)
