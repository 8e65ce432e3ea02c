"""Every input file the toolkit reads, damaged at random: it loads what it can, or says clearly what is wrong.

Schedule files, spec files, golden tables and spectrum archives are mutated byte by byte, truncated
and nested; each load must return a valid value or raise ``ValueError``/``TypeError`` naming the file
(never another exception, never a silent coercion). The optimizer's state dicts get the same
treatment through ``load_state_dict``.
"""

from __future__ import annotations

import io
import json
import random
import zlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import spectral_la as sl
from spectral_la.analysis.softening import spectrum_matrix
from spectral_la.optim import Muon
from spectral_la.spec import parse_spec
from spectral_la.testing import check_golden, write_golden

CLEAR = (ValueError, TypeError)


def _mutations(data: bytes, rng: random.Random, count: int):
    yield data[: len(data) // 2]
    yield b""
    yield b"[" * 5000 + b"]" * 5000
    yield b'{"a": ' + b"9" * 500 + b"}"
    for _ in range(count):
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        yield bytes(b)


def _files(tmp_path):
    sched = sl.design_schedule(3, 3, 1e-2, name="fuzzed").schedule
    sl.save_schedule(sched, tmp_path / "s.json")
    (tmp_path / "spec.json").write_text(json.dumps(parse_spec("soften:0.3:jordan_ns5:4").to_json()))
    write_golden(tmp_path / "g.json", lambda s: s, [0.1, 0.5], dps=20)
    np.savez(tmp_path / "m.npz", sigma=np.geomspace(1, 1e-3, 6))
    return {
        "s.json": lambda p: sl.load_schedule(p),
        "spec.json": lambda p: parse_spec(str(p)),
        "g.json": lambda p: check_golden(p, lambda s: s, tol=1e-12),
        "m.npz": lambda p: spectrum_matrix(str(p), (8, 8)),
    }


@pytest.mark.parametrize("name", ["s.json", "spec.json", "g.json", "m.npz"])
def test_damaged_input_files_load_or_fail_clearly(tmp_path, name):
    loaders = _files(tmp_path)
    path = tmp_path / name
    data = path.read_bytes()
    loaders[name](path)  # the undamaged file loads
    rng = random.Random(zlib.crc32(name.encode()))
    outcomes = {"loaded": 0, "clear error": 0}
    for damaged in _mutations(data, rng, 150):
        path.write_bytes(damaged)
        try:
            loaders[name](path)
            outcomes["loaded"] += 1
        except CLEAR:
            outcomes["clear error"] += 1
        except AssertionError:  # check_golden on a table whose values were changed: the check failing is right
            assert name == "g.json"
            outcomes["clear error"] += 1
    assert outcomes["clear error"] >= 4  # at least the truncated, empty, nested and huge-number files


def test_damaged_optimizer_state_dicts_load_or_fail_clearly():
    rng = random.Random(0)
    params = [torch.nn.Parameter(torch.randn(6, 8)) for _ in range(2)]
    opt = Muon(params, lr=0.02, orthogonalize="ns:polar_express", compute_dtype="fp32")
    for p in params:
        p.grad = torch.randn(6, 8)
    opt.step()
    good = opt.state_dict()
    damages = [
        lambda sd: sd["param_groups"][0].__setitem__("lr", float("nan")),
        lambda sd: sd["param_groups"][0].__setitem__("weight_decay", -0.1),
        lambda sd: sd["param_groups"][0].__setitem__("nesterov", "yes"),
        lambda sd: sd["param_groups"][0].__setitem__("compute_dtype", "int4"),
        lambda sd: sd["param_groups"][0].__setitem__("orthogonalize", {"kind": "ns", "steps": 10**9}),
        lambda sd: sd["param_groups"][0].__setitem__("ns_steps", 100),
        lambda sd: sd["state"][0].__setitem__("momentum_buffer", torch.zeros(6, 8, dtype=torch.int64)),
        lambda sd: sd["state"][0].__setitem__("momentum_buffer", torch.full((6, 8), float("inf"))),
        lambda sd: sd["state"][0].__setitem__("surprise", 1),
        lambda sd: sd["state"].__setitem__(7, {"momentum_buffer": torch.zeros(6, 8)}),
        lambda sd: sd.pop("param_groups"),
    ]
    for damage in damages + [damages[rng.randrange(len(damages))] for _ in range(5)]:
        buf = io.BytesIO()
        torch.save(good, buf)
        buf.seek(0)
        sd = torch.load(buf)
        damage(sd)
        fresh = Muon([torch.nn.Parameter(torch.randn(6, 8)) for _ in range(2)], lr=0.02, compute_dtype="fp32")
        with pytest.raises(CLEAR):
            fresh.load_state_dict(sd)


@settings(max_examples=60, deadline=None)
@given(
    exponent=st.integers(-140, 120),
    spec=st.sampled_from(
        ["ns:polar_express", "ns:torch_muon", "soften:0.3:jordan_ns5", "muon_p:1/3", "gram_ns:you_ns6"]
    ),
    shape=st.sampled_from([(4, 6), (6, 4), (5, 5)]),
    poison=st.sampled_from([None, "nan", "inf"]),
)
def test_optimizer_steps_at_any_gradient_scale_are_finite_or_clear(exponent, spec, shape, poison):
    """The optimizer over fp32's whole exponent range: a finite update of bounded size, or a clear error
    that leaves the weights untouched (check_finite=True)."""
    g = torch.Generator().manual_seed(exponent & 0xFFFF)
    p = torch.nn.Parameter(torch.randn(*shape, generator=g))
    before = p.detach().clone()
    grad = torch.randn(*shape, generator=g) * 2.0**exponent
    if poison:
        grad[0, 0] = float(poison)
    opt = Muon([p], lr=0.01, weight_decay=0.0, orthogonalize=spec, compute_dtype="fp32", check_finite=True)
    p.grad = grad
    try:
        opt.step()
    except (ValueError, sl.DivergedError):
        assert torch.equal(p, before)
        return
    assert poison is None
    assert bool(torch.isfinite(p.detach()).all())
    # an orthogonalised update has spectral norm ≲ 1.2 (the rows' band), so each entry moves ≤ lr·1.2·√(m/n)
    assert float((p.detach() - before).abs().max()) <= 0.01 * 1.3 * max(1.0, (shape[0] / shape[1]) ** 0.5)


@settings(max_examples=80, deadline=None)
@given(
    sigmas=st.one_of(
        st.lists(st.one_of(st.floats(-1e300, 1e300), st.sampled_from([float("nan"), float("inf")])), max_size=5),
        st.lists(st.floats(0, 1), min_size=1, max_size=5).map(np.array),
        st.lists(st.floats(0, 1), max_size=5).map(lambda v: torch.tensor(v, dtype=torch.float64)),
    ),
    tol=st.one_of(st.floats(allow_nan=True), st.lists(st.floats(0, 1), max_size=3)),
)
def test_testing_helpers_on_any_input_pass_correctly_or_fail_clearly(sigmas, tol):
    """An exact map (σ ↦ 2σ, exact in binary) checked by the helper: it passes, at any valid tolerance
    including 0, or refuses the input with ValueError/TypeError; an AssertionError would be a false alarm."""
    from spectral_la.testing import assert_map_accuracy

    try:
        assert_map_accuracy(lambda s: s * 2, lambda s: 2 * s, sigmas, tol=tol)  # exact in binary
    except CLEAR:
        return
    # it passed: so the input was a non-empty list of finite σ and a valid tolerance
    assert len(sigmas) > 0
