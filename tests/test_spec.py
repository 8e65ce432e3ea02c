"""The method vocabulary (analysis.spec): round trip, and errors that name the spec and the field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.methods import method
from analysis.spec import MethodSpec, parse
from spectral_la import schedules

VALID = [
    "ns:jordan_ns5",
    "ns:jordan_ns5:3",
    "gram_ns:polar_express:4",
    "soften:0.3:jordan_ns5",
    "soften:0.25:polar_express:2",
    "muon_p:1/3",
    "muon_p_coupled:1/2",
    "polar",
    "polar_qdwh",
    "msign",
    "fractional_power:1/2",
]


@pytest.mark.parametrize("text", VALID)
def test_round_trip_and_every_spec_builds_a_method(text):
    spec = parse(text)
    assert isinstance(spec, MethodSpec) and parse(str(spec)) == spec
    assert method(text).name == str(spec)


@given(
    st.sampled_from(["ns", "gram_ns", "soften"]),
    st.sampled_from(sorted(schedules)),
    st.one_of(st.none(), st.integers(0, 30)),
    st.floats(0, 1, allow_nan=False),
)
def test_round_trip_property(kind, schedule, steps, s):
    parts = [kind] + ([repr(s)] if kind == "soften" else []) + [schedule] + ([str(steps)] if steps is not None else [])
    spec = parse(":".join(parts))
    assert parse(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("ns:jordan_ns5:5:extra", "expected"),  # was accepted silently
        ("ns:jordan_ns5:five", "steps"),  # was a bare int() error
        ("ns:no_such_schedule", "schedule"),  # was a KeyError
        ("soften:1.5:jordan_ns5", "s"),
        ("soften:x:jordan_ns5", "s"),
        ("muon_p:abc", "p"),
        ("muon_p:2/7", "p = "),  # a p without a published recurrence: ValueError naming the options
        ("polar:3", "expected"),
        ("svd", "unknown kind"),
        ("ns:jordan_ns5:-1", "steps"),
    ],
)
def test_bad_specs_name_the_spec_and_the_field(text, field):
    with pytest.raises(ValueError, match=field) as info:
        method(text)
    assert text in str(info.value) or field == "p = "
