"""Spec values (spectral_la.spec): round trips, validation, and each spec's maps against independent references."""

from __future__ import annotations

import json
from fractions import Fraction

import mpmath
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import spectral_la as sl
from spectral_la import schedules
from spectral_la.analysis.methods import method
from spectral_la.muon_p import MUON_P_RECURRENCES
from spectral_la.schedule_files import save_schedule
from spectral_la.spec import MuonPSpec, NewtonSchulzSpec, Spec, parse_spec

VALID = [
    "ns:jordan_ns5",
    "ns:jordan_ns5:3",
    "ns:polar_express:normalize=spectral/squarings=4",
    "ns:torch_muon:normalize=frobenius_clamp/eps=0.0/in_float64",
    "gram_ns:polar_express:4",
    "gram_ns:polar_express:restart_after=2+4",
    "gram_ns:polar_express:restart_after=none",
    "soften:0.3:jordan_ns5",
    "soften:0.25:polar_express:2",
    "muon_p:1/3",
    "muon_p:1/2:4",
    "muon_p_coupled:1/2",
    "muon_p_coupled:2/5:eps=1e-06",
    "polar",
    "polar_qdwh",
    "polar_zolo",
    "msign",
    "fractional_power:1/2",
]


@pytest.mark.parametrize("text", VALID)
def test_round_trip_string_and_json(text):
    spec = parse_spec(text)
    assert isinstance(spec, Spec) and str(spec) == text
    assert parse_spec(str(spec)) == spec
    assert parse_spec(json.loads(json.dumps(spec.to_json()))) == spec


_NORMS = st.one_of(
    st.none(),
    st.builds(
        sl.Normalization,
        kind=st.sampled_from(["frobenius", "frobenius_clamp"]),
        scale=st.sampled_from([1.0, 1.01, 1.05]),
        eps=st.sampled_from([0.0, 1e-7, 1e-15]),
        before_cast=st.booleans(),
    ),
    st.builds(sl.Normalization, kind=st.sampled_from(["frobenius", "frobenius_clamp"]), in_float64=st.just(True)),
)


@st.composite
def specs(draw):
    kind = draw(st.sampled_from(["ns", "gram_ns", "soften", "muon_p", "muon_p_coupled", "exact"]))
    schedule = draw(st.sampled_from([n for n in sorted(schedules) if schedules[n].repeat_last]))
    steps = draw(st.one_of(st.none(), st.integers(1, 12)))
    if kind in ("ns", "gram_ns"):
        restart = draw(st.one_of(st.none(), st.lists(st.integers(1, 9), max_size=3))) if kind == "gram_ns" else None
        return NewtonSchulzSpec(schedule, steps, draw(_NORMS), kind == "gram_ns", restart)
    if kind == "soften":
        return sl.spec.SoftenSpec(draw(st.floats(0, 1)), schedule, steps, draw(_NORMS))
    if kind == "muon_p":
        return MuonPSpec(draw(st.sampled_from(sorted(MUON_P_RECURRENCES))), "bivariate", steps)
    if kind == "muon_p_coupled":
        p = 1 - Fraction(2 * draw(st.integers(1, 7)), 16)
        return MuonPSpec(p, "coupled", steps, draw(st.sampled_from([0.0, 1e-6, 3e-3])))
    return parse_spec(draw(st.sampled_from(["polar", "polar_qdwh", "polar_zolo", "msign", "fractional_power:3/7"])))


@settings(max_examples=150, deadline=None)
@given(specs())
def test_round_trip_property(spec):
    assert parse_spec(str(spec)) == spec
    assert parse_spec(json.loads(json.dumps(spec.to_json()))) == spec


def test_a_designed_schedule_file_is_a_spec_and_travels_in_json(tmp_path):
    res = sl.design_schedule(3, 4, 1e-2, name="my_cubic")
    path = save_schedule(res.schedule, tmp_path / "my_cubic.json")
    spec = parse_spec(str(path))
    assert isinstance(spec, NewtonSchulzSpec) and spec.resolved_schedule == res.schedule
    assert "my_cubic" not in schedules  # nothing is registered behind the user's back
    assert parse_spec(json.loads(json.dumps(spec.to_json()))) == spec
    x = torch.randn(8, 12, dtype=torch.float64)
    assert torch.equal(spec(x), sl.newton_schulz(x, res.schedule))


def test_a_designed_file_never_relabels_a_registered_schedule(tmp_path):
    res = sl.design_schedule(5, 3, 1e-2, name="polar_express")
    path = save_schedule(res.schedule, tmp_path / "pe.json")
    with pytest.raises(ValueError, match="registered with other rows"):
        parse_spec(str(path))
    with pytest.raises(ValueError, match="registered with other rows"):
        sl.load_schedule(path, register=True)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("ns:jordan_ns5:5:extra", "expected"),  # was accepted silently
        ("ns:jordan_ns5:five", "steps"),  # was a bare int() error
        ("ns:no_such_schedule", "schedule"),  # was a KeyError
        ("polar_expres", "did you mean 'polar_express'"),  # was answered with the kinds
        ("soften:1.5:jordan_ns5", "s must lie"),
        ("soften:x:jordan_ns5", "s must be"),
        ("muon_p:abc", "p must be"),
        ("muon_p:2/7", "no published bivariate recurrence"),
        ("muon_p:1/3:eps=1e-3", "unknown option"),  # eps belongs to the coupled route
        ("ns:eo_cubic5:9", "defines 5 steps"),
        ("ns:jordan_ns5:normalize=frobenius/eps=-1", "eps"),
        ("ns:jordan_ns5:normalize=wobbly", "normalization kind"),
        ("ns:jordan_ns5:restart_after=2", "unknown option"),  # restarts belong to the Gram form
        ("polar:3", "expected"),
        ("svd", "neither a registered schedule nor a kind"),
        ("ns:jordan_ns5:-1", "steps"),
    ],
)
def test_bad_specs_name_the_spec_and_the_field(text, match):
    with pytest.raises(ValueError, match=match) as info:
        parse_spec(text)
    assert text in str(info.value)


def test_conflicting_options_in_python_raise():
    with pytest.raises(ValueError, match="restart_after applies to the Gram form"):
        NewtonSchulzSpec("polar_express", restart_after=(2,))
    with pytest.raises(ValueError, match="eps applies to the coupled route"):
        MuonPSpec(Fraction(1, 3), "bivariate", eps=1e-3)
    with pytest.raises(ValueError, match="takes no compute_dtype"):
        parse_spec("polar")(torch.randn(4, 4), compute_dtype=torch.float32)


def _mp_compose(rows, x):
    for row in rows:
        x = sum(mpmath.mpf(c) * x ** (2 * j + 1) for j, c in enumerate(row))
    return x


def test_scalar_maps_against_mpmath_compositions():
    """Each spec's scalar map vs the composed polynomial / blend / power evaluated at 40 digits."""
    sig = [0.003, 0.05, 0.3, 0.9]
    with mpmath.workdps(40):
        for text in ("ns:polar_express", "gram_ns:jordan_ns5:3"):
            spec = parse_spec(text)
            rows = spec.resolved_schedule.coefficients(spec.steps)
            got = spec.scalar_map(torch.tensor(sig, dtype=torch.float64))
            ref = [float(_mp_compose(rows, mpmath.mpf(s))) for s in sig]
            # 5-8 steps of float64 Horner: |f'| ≤ ~30 along the way, so ≤ 1e-13 absolute
            torch.testing.assert_close(got, torch.tensor(ref, dtype=torch.float64), rtol=0, atol=1e-13)
        spec = parse_spec("soften:0.3:polar_express")
        rows = spec.inner.resolved_schedule.coefficients()
        scale = spec.inner.resolved_schedule.normalization.scale
        got = spec.scalar_map(torch.tensor(sig, dtype=torch.float64))
        ref = [float(0.7 * _mp_compose(rows, mpmath.mpf(s) / scale) + 0.3 * mpmath.mpf(s)) for s in sig]
        torch.testing.assert_close(got, torch.tensor(ref, dtype=torch.float64), rtol=0, atol=1e-13)
        spec = parse_spec("muon_p_coupled:1/2:eps=1e-06")
        got = spec.scalar_map(torch.tensor(sig, dtype=torch.float64))
        ref = [float(mpmath.mpf(s) * (mpmath.mpf(s) ** 2 + mpmath.mpf("1e-6")) ** (-0.25)) for s in sig]
        torch.testing.assert_close(got, torch.tensor(ref, dtype=torch.float64), rtol=1e-14, atol=0)


def test_matrix_maps_are_the_exact_composition():
    """A spec's options change the result as the composition says (checked through the SVD)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 20, dtype=torch.float64, generator=g)
    u, s, vh = torch.linalg.svd(x, full_matrices=False)
    fro = torch.linalg.matrix_norm(x)
    for text in ("ns:polar_express", "ns:polar_express:normalize=frobenius", "soften:0.4:jordan_ns5", "muon_p:1/3"):
        spec = parse_spec(text)
        predicted = u @ torch.diag(spec.scalar_map(spec.normalized_sigma(s, fro))) @ vh
        # float64 iteration of ≤ 8 steps on a 12×20: a few hundred ulps of growth at most
        torch.testing.assert_close(spec(x), predicted, rtol=0, atol=1e-12)
    # the schedule's own normalisation (1.01‖X‖_F) differs from torch's Frobenius one by the 1% scale
    a = parse_spec("ns:polar_express")(x)
    b = parse_spec("ns:polar_express:normalize=frobenius")(x)
    assert float((a - b).abs().max()) > 1e-4


def test_muon_p_half_raises_above_its_stable_bound():
    rec = MUON_P_RECURRENCES[Fraction(1, 2)]
    # closed form of the linearised bound: 3 x^2.5 − 0.795918 x² = 1/2 at the bound
    assert abs(3 * rec.stable_bound**2.5 - 0.795918 * rec.stable_bound**2 - 0.5) < 1e-12
    with pytest.raises(sl.DivergedError, match="stable bound 0.5796"):
        sl.muon_p_scalar_map(0.5, 0.8)  # was −2.2e18, silently
    g = torch.Generator().manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(32, 32, dtype=torch.float64, generator=g))
    v, _ = torch.linalg.qr(torch.randn(64, 32, dtype=torch.float64, generator=g))
    for top, ok in ((0.45, True), (0.62, False), (0.95, False)):
        s = torch.full((32,), ((1 - top**2) / 31) ** 0.5, dtype=torch.float64)
        s[0] = top
        x = (u * s) @ v.T
        if ok:
            y = sl.muon_p(x, 0.5)
            assert bool(torch.isfinite(y).all())
        else:
            with pytest.raises(sl.DivergedError, match="σ̂₁"):
                sl.muon_p(x, 0.5)
            sl.muon_p(x, 0.5, check_finite=False)  # the unchecked route stays available


def test_every_spec_builds_an_analysis_method():
    for text in VALID:
        if "normalize=spectral" in text:
            with pytest.raises(ValueError, match="Frobenius"):
                method(text)
            continue
        assert method(text).name == text


def test_the_cli_overlay_and_the_report_table_measure_the_same_experiment():
    """Same spec, shape, storage and compute dtype: the CLI's measured overlay and the report's table agree."""
    from spectral_la.analysis.schedule_response import measured_response
    from spectral_la.figures.response_plot import response_data

    n, ell = 24, sl.schedules["polar_express"].interval[0]
    row = measured_response(["polar_express"], n=n, dtypes=(torch.bfloat16,), progress=False)[0]
    assert (row["storage"], row["compute"]) == ("float64", "bfloat16")
    cli = [
        r
        for r in response_data(
            ["polar_express"],
            sigma_range=(ell, 1.0),
            points=10,
            storage_dtype="fp64",
            compute_dtype="bf16",
            measured_shape=(n, n),
        )
        if r["kind"].startswith("measured")
    ]
    assert {r["kind"] for r in cli} == {f"measured {n}×{n} (storage fp64, compute bf16)"}
    predicted = sl.scalar_map("polar_express", torch.tensor([r["sigma"] for r in cli], dtype=torch.float64))
    cli_error = max(abs(r["f"] - float(p)) for r, p in zip(cli, predicted, strict=True))
    assert cli_error == row["max_response_error"]


def test_errors_speak_the_spec_grammar_the_user_wrote():
    import torch

    import spectral_la as sl

    with pytest.raises(ValueError, match=r"method=coupled is the kind muon_p_coupled: write muon_p_coupled:1/2"):
        parse_spec("muon_p:1/2:method=coupled")
    with pytest.raises(ValueError, match=r"steps is positional: ns:<schedule>\[:<steps>\]"):
        parse_spec("ns:jordan_ns5:steps=8")
    with pytest.raises(sl.DivergedError, match="use the spec muon_p_coupled:1/2"):
        parse_spec("muon_p:1/2")(torch.ones(4, 6))  # rank one: σ̂₁ ≈ 1, above the stable bound
    with pytest.raises(sl.SingularMatrixError, match=r"write muon_p_coupled:1/2:eps=1e-6"):
        parse_spec("muon_p_coupled:1/2")(torch.ones(4, 6, dtype=torch.float64))


def test_a_normalize_option_given_twice_is_refused():
    with pytest.raises(ValueError, match="normalize option 'scale' given twice"):
        parse_spec("ns:polar_express:normalize=frobenius/scale=1/scale=2")


def test_a_new_kind_is_one_class():
    """The grammar lives on the class: one subclass gives parsing, printing and JSON, nothing else edited."""
    from dataclasses import dataclass
    from typing import ClassVar

    from spectral_la.spec import SPEC_CLASSES, Grammar

    try:

        @dataclass(frozen=True)
        class ScaledSpec(Spec):  # a test-only kind: X ↦ c·X
            c: float = 1.0
            steps: int | None = None
            eps: float = 0.0

            GRAMMARS: ClassVar[tuple[Grammar, ...]] = (Grammar("test_scaled", ("c", "steps"), 1, ("eps",)),)

            @property
            def kind(self) -> str:
                return "test_scaled"

            def __call__(self, X, *, compute_dtype=None, check_finite=True):
                return X * float(self.c)

        assert "test_scaled" in sl.spec_kinds()
        spec = parse_spec("test_scaled:2:3:eps=0.5")
        assert isinstance(spec, ScaledSpec) and spec.c == "2" and spec.steps == 3 and spec.eps == 0.5
        assert str(spec) == "test_scaled:2:3:eps=0.5"
        assert parse_spec(spec.to_json()) == spec
        assert spec.to_json() == {"kind": "test_scaled", "c": "2", "steps": 3, "eps": 0.5}
        assert str(parse_spec("test_scaled:2")) == "test_scaled:2"
        with pytest.raises(ValueError, match=r"grammar test_scaled:<c>\[:<steps>\]\[:eps=…\]"):
            parse_spec("test_scaled:2:bogus=1")
        with pytest.raises(ValueError, match="already defined"):

            class Clash(Spec):
                GRAMMARS: ClassVar[tuple[Grammar, ...]] = (Grammar("ns"),)

    finally:
        SPEC_CLASSES.pop("test_scaled", None)
    assert "test_scaled" not in sl.spec_kinds()
