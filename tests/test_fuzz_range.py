"""Whole-range fuzz (issue: no silent wrong answer): every public function, every dtype, scales from the
dtype's smallest normal to its largest finite value, shapes, batches and ranks.

Each drawn case must end in a clear error, a flagged non-convergence, or a result within the argued
tolerance of a reference computed without spectral_la (the checker and its tolerance argument:
``tests/robustness.py``). ``scripts/fuzz_counts.py`` runs the same checker over a larger deterministic
draw and prints the counts recorded in the README.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.robustness import DTYPES, FUNCTIONS, ROOT_FUNCTIONS, Case, check, exponent_range


@st.composite
def cases(draw):
    function = draw(st.sampled_from(FUNCTIONS))
    dtype = draw(st.sampled_from(sorted(DTYPES)))
    lo, hi = exponent_range(dtype)
    exponent = draw(st.one_of(st.sampled_from([lo, hi, 0]), st.integers(lo, hi)))
    m, n = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    if function in ROOT_FUNCTIONS:
        m = n
    rank = draw(st.integers(1, min(m, n)))
    batch = draw(st.sampled_from([0, 2]))
    seed = draw(st.integers(0, 2**16))
    return Case(function, dtype, exponent, m, n, batch, rank, seed)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_every_case_is_correct_or_a_clear_error(case):
    assert check(case) in ("correct", "error", "flagged", "skip")
