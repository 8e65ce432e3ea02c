"""spectral_la.optim.Muon against torch.optim.Muon, its state_dict, the orthogonaliser choices and Capture."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

import spectral_la as sl
from spectral_la.optim import Capture, Muon


def _params(seed=0, shapes=((32, 48), (48, 32), (32, 48))):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(*s, generator=g)) for s in shapes]


def _run(opt_cls, params, steps=5, seed=1, **kw):
    opt = opt_cls(params, lr=0.02, **kw)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        opt.step()
    return opt


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("adjust", [None, "match_rms_adamw"])
def test_jordan_ns5_defaults_match_torch_optim_muon_bit_for_bit(nesterov, adjust):
    ours, theirs = _params(), _params()
    _run(Muon, ours, nesterov=nesterov, adjust_lr_fn=adjust)
    _run(torch.optim.Muon, theirs, nesterov=nesterov, adjust_lr_fn=adjust)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)


def test_batched_same_shape_equals_per_matrix_to_bf16_rounding():
    a, b = _params(), _params()
    _run(Muon, a, batch_same_shape=True)
    _run(Muon, b)
    for x, y in zip(a, b, strict=True):
        # 5 steps of lr 0.02 × ≈1 entries, each update within a few bf16 ulps (u = 2^-8) of the other
        torch.testing.assert_close(x, y, rtol=0, atol=5 * 0.02 * 2 * 2**-8)


def test_state_dict_round_trip_continues_identically():
    a = _params()
    opt = _run(Muon, a, schedule="polar_express", normalize=None)
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    fresh = Muon(b, lr=0.02, schedule="polar_express", normalize=None)
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer, weights_only=False))
    g = torch.Generator().manual_seed(9)
    grads = [torch.randn(p.shape, generator=g) for p in a]
    for params, o in ((a, opt), (b, fresh)):
        for p, gr in zip(params, grads, strict=True):
            p.grad = gr.clone()
        o.step()
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


@pytest.mark.parametrize(
    "kw",
    [
        {"schedule": "polar_express"},
        {"gram": True, "schedule": "polar_express"},
        {"soften": 0.3},
        {"power": 1 / 3},
        {"schedule": "you_ns6", "compute_dtype": torch.float32},
    ],
)
def test_every_orthogonaliser_drives_the_update(kw):
    p = _params(shapes=((16, 24),))
    before = p[0].detach().clone()
    opt = Muon(p, lr=0.1, weight_decay=0.0, momentum=0.0, nesterov=False, **kw)
    g = torch.randn(16, 24, generator=torch.Generator().manual_seed(3))
    p[0].grad = g.clone()
    opt.step()
    step = (before - p[0].detach()) / 0.1
    # the update is the chosen map of the gradient: compare with the same call made directly
    if "power" in kw:
        expected = sl.muon_p(g, kw["power"], compute_dtype=torch.bfloat16)
    elif kw.get("soften"):
        expected = sl.soften(
            g, kw["soften"], "jordan_ns5", normalize=opt.defaults["normalize"], compute_dtype=torch.bfloat16
        )
    else:
        run = sl.gram_newton_schulz if kw.get("gram") else sl.newton_schulz
        expected = run(
            g,
            kw["schedule"],
            normalize=opt.defaults["normalize"],
            compute_dtype=kw.get("compute_dtype", torch.bfloat16),
        )
    # lr adjustment sqrt(max(1, 16/24)) = 1; the difference is only the rounding of W − η·O
    torch.testing.assert_close(step, expected, rtol=0, atol=1e-5 / 0.1)


def test_bad_arguments():
    p = _params(shapes=((4, 4),))
    for kw, match in [
        ({"lr": -1}, "lr"),
        ({"momentum": 1.0}, "momentum"),
        ({"soften": 2}, "soften"),
        ({"schedule": "nope"}, "nope"),
        ({"adjust_lr_fn": "x"}, "adjust_lr_fn"),
        ({"power": 0.5, "gram": True}, "power"),
    ]:
        with pytest.raises((ValueError, KeyError), match=match):
            Muon(p, **kw)
    opt = Muon([torch.nn.Parameter(torch.randn(3))])
    opt.param_groups[0]["params"][0].grad = torch.randn(3)
    with pytest.raises(ValueError, match="2-D"):
        opt.step()


def test_capture_records_singular_values_and_metadata(tmp_path):
    model = torch.nn.Linear(24, 16, bias=False)
    cap = Capture(model.named_parameters(), steps=[1, 3], full=True)
    opt = Muon(model.parameters(), lr=0.01, capture=cap)
    x = torch.randn(8, 24, generator=torch.Generator().manual_seed(0))
    for _ in range(3):
        opt.zero_grad()
        model(x).square().sum().backward()
        opt.step()
    path = cap.save(tmp_path / "cap.npz", run="test")
    data = np.load(path)
    meta = json.loads(str(data["__meta__"]))
    assert meta["run"] == "test" and meta["schedule"] == "jordan_ns5"
    for kind in ("grad", "momentum", "update"):
        for step in (1, 3):
            sv = data[f"sv/weight/{kind}/{step}"]
            assert sv.shape == (16,) and np.all(np.diff(sv) <= 0)
    assert "sv/weight/grad/2" not in data
    m = data["matrix/weight/grad/3"]
    np.testing.assert_allclose(np.linalg.svd(m, compute_uv=False), data["sv/weight/grad/3"], rtol=1e-5)


def test_check_finite_names_the_parameter():
    model = torch.nn.Linear(6, 4, bias=False)
    cap = Capture(model.named_parameters(), steps=[1])
    opt = Muon(model.parameters(), check_finite=True, capture=cap)
    model.weight.grad = torch.full((4, 6), float("nan"))
    with pytest.raises(ValueError, match="'weight' has non-finite"):
        opt.step()


def test_check_finite_catches_a_diverged_update():
    """A schedule whose rows overflow (EO's cans run past its steps in bf16 on a near rank-one momentum)."""
    import spectral_la as sl

    g = torch.Generator().manual_seed(0)
    grad = torch.randn(32, 1, generator=g) @ torch.randn(1, 64, generator=g)
    for check in (True, False):
        p = torch.nn.Parameter(torch.zeros(32, 64))
        opt = Muon([p], schedule="eo_cans", steps=10, normalize=None, compute_dtype=torch.bfloat16, check_finite=check)
        p.grad = grad.clone()
        if check:
            with pytest.raises(sl.DivergedError, match="eo_cans"):
                opt.step()
        else:  # what torch.optim.Muon-style code does: the overflow lands in the weights
            opt.step()
            assert not torch.isfinite(p).all()
