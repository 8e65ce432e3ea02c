"""spectral_la.optim.Muon against torch.optim.Muon, its state_dict, every spec as orthogonaliser, Capture."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pytest
import torch

import spectral_la as sl
from spectral_la.optim import Capture, Muon, SlowComputeWarning
from spectral_la.optim import muon as sl_muon
from spectral_la.spec import parse_spec

BF16 = {"compute_dtype": "bf16"}  # torch's compute dtype, chosen explicitly (no slow-CPU warning)


def _params(seed=0, shapes=((32, 48), (48, 32), (32, 48))):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(*s, generator=g)) for s in shapes]


def _run(opt_cls, params, steps=5, seed=1, dtype=torch.float32, **kw):
    opt = opt_cls(params, lr=0.02, **kw)
    _steps(opt, params, steps, seed, dtype)
    return opt


def _steps(opt, params, steps, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g).to(dtype)
        opt.step()


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("adjust", [None, "match_rms_adamw"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_defaults_match_torch_optim_muon_bit_for_bit(nesterov, adjust, dtype):
    if dtype == torch.bfloat16 and not nesterov:
        pytest.skip("torch.optim.Muon divides its own bf16 momentum buffer in place (next test)")
    ours, theirs = _params(), _params()
    for p in ours + theirs:
        p.data = p.data.to(dtype)
    _run(Muon, ours, nesterov=nesterov, adjust_lr_fn=adjust, dtype=dtype, **BF16)
    _run(torch.optim.Muon, theirs, nesterov=nesterov, adjust_lr_fn=adjust, dtype=dtype)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)


def test_where_parity_ends_torch_normalises_its_bf16_momentum_in_place():
    """torch 2.13's ``_zeropower_via_newtonschulz`` does ``X = grad.bfloat16(); X.div_(‖X‖)``: for a bf16
    momentum with nesterov=False, ``.bfloat16()`` is the buffer itself, so torch's buffer is normalised
    (and later overwritten). Ours keeps B = lerp(B, G, 1 − β) as the formula says."""
    ours, theirs = _params(shapes=((16, 24),)), _params(shapes=((16, 24),))
    for p in ours + theirs:
        p.data = p.data.bfloat16()
    a = _run(Muon, ours, steps=1, nesterov=False, dtype=torch.bfloat16, **BF16)
    b = _run(torch.optim.Muon, theirs, steps=1, nesterov=False, dtype=torch.bfloat16)
    g = torch.randn(16, 24, generator=torch.Generator().manual_seed(1)).bfloat16()
    expected = torch.zeros(16, 24, dtype=torch.bfloat16).lerp(g, 1 - 0.95)
    assert torch.equal(a.state[ours[0]]["momentum_buffer"], expected)
    torch_buf = b.state[theirs[0]]["momentum_buffer"].float()
    assert float(torch_buf.norm()) == pytest.approx(1.0, rel=1e-2)  # normalised to unit Frobenius norm


def test_torch_ns_arguments_keep_torchs_meaning():
    """Code written for torch.optim.Muon switches by changing the import: its NS arguments mean the same."""
    kw = {"ns_coefficients": (3.0, -3.2, 1.2), "ns_steps": 3, "eps": 1e-5, "weight_decay": 0.05, "momentum": 0.9}
    ours, theirs = _params(), _params()
    _run(Muon, ours, **kw, **BF16)
    _run(torch.optim.Muon, theirs, **kw)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)


def test_named_parameters_as_torch_takes_them_and_errors_name_them():
    model_a, model_b = torch.nn.Linear(24, 16, bias=False), torch.nn.Linear(24, 16, bias=False)
    model_b.load_state_dict(model_a.state_dict())
    ours = Muon(model_a.named_parameters(), lr=0.02, check_finite=True, **BF16)
    theirs = torch.optim.Muon(model_b.named_parameters(), lr=0.02)
    for _ in range(3):
        g = torch.randn(16, 24)
        model_a.weight.grad, model_b.weight.grad = g.clone(), g.clone()
        ours.step()
        theirs.step()
    assert torch.equal(model_a.weight, model_b.weight)
    model_a.weight.grad = torch.full((16, 24), float("nan"))
    with pytest.raises(ValueError, match="step 4: the gradient of parameter 'weight' has non-finite"):
        ours.step()


def test_bf16_on_an_emulating_cpu_warns_once_and_explicit_choices_do_not(monkeypatch):
    monkeypatch.setattr(sl_muon, "bf16_is_slow", lambda: True)
    p = _params(shapes=((8, 12),))
    with pytest.warns(SlowComputeWarning, match="compute_dtype='fp32'"):
        _run(Muon, p, steps=2)  # warns at the first step only (pytest.warns fails on zero)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _run(Muon, _params(shapes=((8, 12),)), steps=2, **BF16)
        _run(Muon, _params(shapes=((8, 12),)), steps=2, compute_dtype="fp32")


def test_batched_same_shape_equals_per_matrix_to_bf16_rounding():
    a, b = _params(), _params()
    _run(Muon, a, batch_same_shape=True, **BF16)
    _run(Muon, b, **BF16)
    for x, y in zip(a, b, strict=True):
        # 5 steps of lr 0.02 × ≈1 entries, each update within a few bf16 ulps (u = 2^-8) of the other
        torch.testing.assert_close(x, y, rtol=0, atol=5 * 0.02 * 2 * 2**-8)


@pytest.mark.parametrize(
    "spec",
    [
        "ns:polar_express",  # the schedule's own normalisation X/(1.01‖X‖_F + 1e-7), not torch's
        "gram_ns:polar_express",
        "gram_ns:polar_express:restart_after=none",
        "soften:0.3:jordan_ns5",
        "soften:0.3:polar_express:normalize=spectral",
        "muon_p:1/3",
        "muon_p_coupled:0.4:eps=1e-06",
        "ns:you_ns6:normalize=scale_safe",
    ],
)
def test_every_spec_drives_the_update(spec):
    p = _params(shapes=((16, 24),))
    before = p[0].detach().clone()
    opt = Muon(p, lr=0.1, weight_decay=0.0, momentum=0.0, nesterov=False, orthogonalize=spec, compute_dtype="fp32")
    g = torch.randn(16, 24, generator=torch.Generator().manual_seed(3))
    p[0].grad = g.clone()
    opt.step()
    step = (before - p[0].detach()) / 0.1
    # the update is the spec's map of the gradient, and differs from plain NS where the spec says so
    expected = parse_spec(spec)(g, compute_dtype=torch.float32)
    # lr adjustment sqrt(max(1, 16/24)) = 1; the difference is only the rounding of W − η·O (|W| ≤ 5, fp32)
    torch.testing.assert_close(step, expected, rtol=0, atol=4 * 5 * 2**-24 / 0.1)
    plain = sl.newton_schulz(g, "torch_muon", compute_dtype=torch.float32)
    assert float((expected - plain).abs().max()) > 1e-3


def test_options_that_cannot_be_honoured_raise():
    p = _params(shapes=((4, 4),))
    for kw, err, match in [
        ({"lr": -1}, ValueError, "lr"),
        ({"momentum": 1.0}, ValueError, "momentum"),
        ({"orthogonalize": "soften:2:jordan_ns5"}, ValueError, "s must lie"),
        ({"orthogonalize": "ns:nope"}, ValueError, "nope"),
        ({"orthogonalize": "ns:polar_expres"}, ValueError, "did you mean 'polar_express'"),
        ({"adjust_lr_fn": "x"}, ValueError, "adjust_lr_fn"),
        ({"compute_dtype": "int8"}, ValueError, "compute_dtype"),
        ({"orthogonalize": "ns:polar_express", "ns_steps": 3}, ValueError, "give one of them"),
        ({"ns_coefficients": (1.0, 2.0)}, ValueError, "exactly 3"),
        # the combinations the old flags dropped silently: each names its spec instead
        ({"gram": True, "soften": 0.3}, TypeError, "orthogonalize='gram_ns"),
        ({"power": 0.5, "schedule": "you_ns6"}, TypeError, "orthogonalize="),
        ({"schedule": "polar_express"}, TypeError, "orthogonalize='ns:<schedule>'"),
    ]:
        with pytest.raises(err, match=match):
            Muon(p, **kw)
    with pytest.raises(ValueError, match="2-D"):
        Muon([torch.nn.Parameter(torch.randn(3))])


def _mlp(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4))


def test_muon_p_half_stops_at_the_first_bad_step_naming_the_parameter():
    """Muon(power=0.5) used to train to inf by step 10 and NaN by step 50, silently."""
    model = _mlp()
    hidden = [(n, p) for n, p in model.named_parameters() if p.ndim == 2]
    opt = Muon(hidden, lr=0.05, orthogonalize="muon_p:1/2", compute_dtype="fp32")
    x, y = torch.randn(64, 16, generator=torch.Generator().manual_seed(1)), torch.randn(64, 4)
    steps = 0
    with pytest.raises(sl.DivergedError, match=r"step \d+, parameter '\d\.weight' \(muon_p:1/2\).*stable bound 0\.5"):
        for _ in range(50):
            saved = [p.detach().clone() for _, p in hidden]
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
            steps += 1
    # the failed step changed nothing, and everything before it was finite
    assert all(torch.equal(p, s) for (_, p), s in zip(hidden, saved, strict=True))
    assert all(bool(torch.isfinite(p).all()) for _, p in hidden) and opt._step_count == steps


def test_a_failed_step_changes_nothing():
    """check_finite: a NaN gradient in the second parameter leaves the first one, every buffer and the count."""
    params = _params()
    opt = _run(Muon, params, steps=2, check_finite=True, **BF16)
    snapshot = [p.detach().clone() for p in params], [opt.state[p]["momentum_buffer"].clone() for p in params]
    for k, p in enumerate(params):
        p.grad = torch.full(p.shape, float("nan")) if k == 1 else torch.randn(p.shape)
    with pytest.raises(ValueError, match="step 3: the gradient of parameter 1 of param group 0"):
        opt.step()
    assert opt._step_count == 2
    for p, w, b in zip(params, *snapshot, strict=True):
        assert torch.equal(p, w) and torch.equal(opt.state[p]["momentum_buffer"], b)


def test_state_dict_loads_with_weights_only_and_continues_identically():
    a = _params()
    opt = _run(Muon, a, orthogonalize="ns:polar_express", **BF16)
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    fresh = Muon(b, lr=0.02, orthogonalize="ns:polar_express", **BF16)
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer))  # weights_only=True: no code runs from a checkpoint
    for params, o in ((a, opt), (b, fresh)):
        _steps(o, params, 2, seed=9)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


def test_a_torch_optim_muon_checkpoint_continues_bit_for_bit():
    a, b = _params(), _params()
    theirs = _run(torch.optim.Muon, a)
    _run(torch.optim.Muon, b)
    buffer = io.BytesIO()
    torch.save(theirs.state_dict(), buffer)
    buffer.seek(0)
    ours = Muon(b, lr=0.02, **BF16)
    ours.load_state_dict(torch.load(buffer))
    _steps(theirs, a, 3, seed=5)
    _steps(ours, b, 3, seed=5)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda sd: sd["state"][0].__setitem__("momentum_buffer", torch.full((32, 48), float("nan"))), "non-finite"),
        (lambda sd: sd["state"][0].__setitem__("momentum_buffer", torch.zeros(3, 3)), "shape"),
        (lambda sd: sd["param_groups"][0].__setitem__("momentum", 2.0), "momentum"),
        (lambda sd: sd["param_groups"][0].__setitem__("lr", -1.0), "lr"),
        (lambda sd: sd["param_groups"][0].__setitem__("orthogonalize", "ns:nope"), "nope"),
        (lambda sd: sd["param_groups"][0]["params"].pop(), "parameters"),
    ],
)
def test_load_state_dict_rejects_what_init_rejects(change, match):
    opt = _run(Muon, _params(), steps=1, **BF16)
    sd = opt.state_dict()
    change(sd)
    with pytest.raises((ValueError, TypeError), match=match):
        Muon(_params(), lr=0.02, **BF16).load_state_dict(sd)


def test_capture_records_singular_values_and_metadata(tmp_path):
    model = torch.nn.Linear(24, 16, bias=False)
    cap = Capture(model.named_parameters(), steps=[1, 3], full=True)
    opt = Muon(model.parameters(), lr=0.01, capture=cap, orthogonalize="jordan_ns5", **BF16)
    x = torch.randn(8, 24, generator=torch.Generator().manual_seed(0))
    for _ in range(3):
        opt.zero_grad()
        model(x).square().sum().backward()
        opt.step()
    path = cap.save(tmp_path / "cap.npz", run="test")
    data = np.load(path)
    meta = json.loads(str(data["__meta__"]))
    assert meta["run"] == "test" and meta["orthogonalize"] == "ns:jordan_ns5" and meta["compute_dtype"] == "bfloat16"
    for kind in ("grad", "momentum", "update"):
        for step in (1, 3):
            sv = data[f"sv/weight/{kind}/{step}"]
            assert sv.shape == (16,) and np.all(np.diff(sv) <= 0)
    assert "sv/weight/grad/2" not in data
    m = data["matrix/weight/grad/3"]
    np.testing.assert_allclose(np.linalg.svd(m, compute_uv=False), data["sv/weight/grad/3"], rtol=1e-5)


def test_check_finite_catches_a_diverged_update():
    """A schedule whose rows overflow (EO's cans run past its steps in bf16 on a near rank-one momentum)."""
    g = torch.Generator().manual_seed(0)
    grad = torch.randn(32, 1, generator=g) @ torch.randn(1, 64, generator=g)
    for check in (True, False):
        p = torch.nn.Parameter(torch.zeros(32, 64))
        opt = Muon([p], orthogonalize="ns:eo_cans:10", check_finite=check, **BF16)
        p.grad = grad.clone()
        if check:
            with pytest.raises(sl.DivergedError, match="step 1, parameter 0 of param group 0.*eo_cans"):
                opt.step()
            assert torch.equal(p, torch.zeros(32, 64))
        else:  # what torch.optim.Muon-style code does: the overflow lands in the weights
            opt.step()
            assert not torch.isfinite(p).all()
