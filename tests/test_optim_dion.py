"""NorMuon, Dion2 and NorDion2 against their steps restated from microsoft/dion's code (0a059a4).

The tests cannot import dion. Each reference below restates, in plain in-place torch, the step that
dion's ``normuon.py``, ``dion2.py`` and ``nordion2.py`` compute for one parameter on one process
(hyperparameters as float32 0-d tensors, the momentum cast to bf16 before the orthogonaliser, the
fixed 1e-8 of the row normalisation, the lr adjustment from the full shape). With the same float32
orthogonaliser the optimizers must equal them bit for bit; ``benchmarks/dion_parity.py`` measures
the same against dion's own code (``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import io
import math

import pytest
import torch

from spectral_la.optim import OPTIMIZERS, Capture, Dion2, NorDion2, NorMuon, parse_softening
from spectral_la.spec import parse_spec

SHAPES = [(32, 64), (64, 32), (48, 48)]
_NS = parse_spec("ns:jordan_ns5")


def ref_ns(x, epsilon=None):
    """The orthogonaliser both sides use: Jordan's quintic NS in float32 on the matrix given."""
    return _NS(x.float(), compute_dtype=torch.float32)


def _t(x):
    return torch.tensor(x)  # dion's hyperparameters: float32 0-d tensors


def _adjust(lr, shape):
    return _t(lr) * math.sqrt(shape[0] / shape[1])  # adjust_lr="spectral_norm"


def _normalize_rows(o, v, beta2):
    """NorMuon's normalisation as dion's _normuon_normalization_core writes it (stacked [1, rows, cols])."""
    o = o.to(v.dtype)
    norm = o.norm(p=2, dim=(-2, -1), keepdim=True)
    v = torch.lerp(v, (o * o).mean(dim=-1, keepdim=True), 1 - _t(beta2))
    out = o / (v.sqrt() + 1e-8)
    out = out * (norm / out.norm(p=2, dim=(-2, -1), keepdim=True).clamp(min=1e-8))
    return out, v


def ref_normuon(w, g, st, lr=0.01, mu=0.95, beta2=0.95, wd=0.01, eps=1e-8, nesterov=False, s=0.0, cautious=False):
    m = st.setdefault("momentum", torch.zeros_like(w))
    v = st.setdefault("variance_neuron", torch.zeros_like(w[..., 0:1]))
    m.mul_(_t(mu)).add_(g)
    u = (m * _t(mu) + g) if nesterov else m
    u = u.bfloat16()
    o = _soft(ref_ns(u, epsilon=_t(eps)), u, s, _t(eps))
    o, v_new = _normalize_rows(o.unsqueeze(0), v.unsqueeze(0), beta2)
    v.copy_(v_new[0])
    if cautious:  # muon_update_post_orthogonalize: decay where sign(W∘U) ≥ 0
        mask = torch.minimum(torch.sign(w * o[0]) + 1, torch.ones(()))
        w.sub_((w * mask) * (_t(lr) * _t(wd)))
    else:
        w.mul_(1 - _t(lr) * _t(wd))
    w.sub_(o[0] * _adjust(lr, w.shape))


def _soft(o, x, s, eps):
    """Soft-Muon's wrapper (the Soft-Muon branch, megabatch_base._soften_newton_schulz)."""
    if s == 0:
        return o
    return torch.lerp(o, (x / (x.norm(dim=(-2, -1), keepdim=True) + eps)).to(o.dtype), s)


def _select(m, fraction, dim, ef):
    """Top-k slices of M by L1 norm (topk unsorted on [1, size]); the selected slices of M scaled by ef."""
    norms = m.unsqueeze(0).norm(p=1, dim=-1 if dim == -2 else -2)
    k = max(1, math.ceil(fraction * m.size(dim)))
    idx = torch.topk(norms, k, dim=-1, sorted=False).indices[0]
    axis = m.ndim + dim
    sel = m.index_select(axis, idx)
    m.index_copy_(axis, idx, sel * ef)
    return sel, idx, axis


def ref_dion2(w, g, st, lr=0.01, fraction=0.25, ef=0.95, wd=0.01, eps=1e-8, s=0.0):
    m = st.setdefault("momentum", torch.zeros_like(w))
    m.add_(g)
    dim = -2 if w.shape[0] <= w.shape[1] else -1
    sel, idx, axis = _select(m, fraction, dim, _t(ef))
    x = sel.bfloat16()
    o = _soft(ref_ns(x, epsilon=_t(eps)), x, s, _t(eps))
    w.mul_(1 - _t(lr) * _t(wd))
    w.index_add_(axis, idx, -_adjust(lr, w.shape) * o.to(w.dtype))


def ref_nordion2(w, g, st, lr=0.01, fraction=0.25, mu=0.95, beta2=0.95, wd=0.01, eps=1e-8, s=0.0):
    m = st.setdefault("momentum", torch.zeros_like(w))
    v = st.setdefault("variance_neuron", torch.zeros_like(w[..., 0:1]))
    m.add_(g)
    sel, idx, _ = _select(m, fraction, -2, _t(mu))
    x = sel.bfloat16()
    o = _soft(ref_ns(x, epsilon=_t(eps)), x, s, _t(eps))
    o, v_sel = _normalize_rows(o.unsqueeze(0), v.index_select(0, idx).float().unsqueeze(0), beta2)
    v.index_copy_(0, idx, v_sel[0].to(v.dtype))
    w.mul_(1 - _t(lr) * _t(wd))
    w.index_add_(0, idx, -_adjust(lr, w.shape) * o[0])


REFS = {NorMuon: ref_normuon, Dion2: ref_dion2, NorDion2: ref_nordion2}


def _grads(shape, seed, steps):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g) for _ in range(steps)]


def _weight(shape, seed=0):
    return torch.nn.Parameter(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 0.1)


@pytest.mark.parametrize("cls", [NorMuon, Dion2, NorDion2])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("s", [0.0, 0.3])
def test_step_equals_dions_step_bit_for_bit(cls, shape, s):
    w = _weight(shape)
    ref_w, ref_state = w.detach().clone(), {}
    opt = cls([w], newton_schulz_func=ref_ns, softening=s)
    for g in _grads(shape, 1, 3):
        w.grad = g.clone()
        opt.step()
        REFS[cls](ref_w, g, ref_state, s=s)
    assert torch.equal(w.detach(), ref_w)
    for key, value in ref_state.items():
        assert torch.equal(opt.state[w][key], value), key


def test_normuon_nesterov_cautious_decay_and_other_hyperparameters_follow_the_reference():
    w = _weight((24, 40))
    ref_w, st = w.detach().clone(), {}
    kw = {"lr": 0.05, "mu": 0.9, "muon_beta2": 0.99, "weight_decay": 0.1, "nesterov": True, "cautious_wd": True}
    opt = NorMuon([w], newton_schulz_func=ref_ns, **kw)
    for g in _grads((24, 40), 2, 3):
        w.grad = g.clone()
        opt.step()
        ref_normuon(ref_w, g, st, lr=0.05, mu=0.9, beta2=0.99, wd=0.1, nesterov=True, cautious=True)
    assert torch.equal(w.detach(), ref_w)


def test_softening_zero_is_the_unsoftened_step_and_a_schedule_follows_s_of_t():
    shape = (32, 64)
    runs = {}
    for name, s in (("plain", 0.0), ("zero", "constant:0"), ("ramp", "linear:0:0.5:2")):
        w = _weight(shape)
        opt = Dion2([w], newton_schulz_func=ref_ns, softening=s)
        for g in _grads(shape, 3, 3):
            w.grad = g.clone()
            opt.step()
        runs[name] = w.detach().clone()
    assert torch.equal(runs["plain"], runs["zero"])
    # the ramp is s = 0, 0.25, 0.5 at steps 1, 2, 3: the reference with those values
    ref_w, st = _weight(shape).detach().clone(), {}
    for g, s in zip(_grads(shape, 3, 3), (0.0, 0.25, 0.5), strict=True):
        ref_dion2(ref_w, g, st, s=s)
    assert torch.equal(runs["ramp"], ref_w)


def test_dion2_selects_the_shorter_side_and_touches_only_those_slices_beyond_decay():
    for shape, axis in (((16, 40), 0), ((40, 16), 1)):
        w = _weight(shape)
        before = w.detach().clone()
        opt = Dion2([w], newton_schulz_func=ref_ns, fraction=0.25, weight_decay=0.0)
        w.grad = torch.randn(*shape, generator=torch.Generator().manual_seed(4))
        opt.step()
        moved = (w.detach() != before).any(dim=1 - axis)
        assert int(moved.sum()) == math.ceil(0.25 * 16)  # k = ⌈f·16⌉ slices of the shorter side, nothing else


def test_element_wise_groups_lion_and_adamw():
    """adamw groups equal torch.optim.AdamW(fused=True) with dion's float32-rounded β's; lion the restated rule."""
    f32 = lambda x: float(torch.tensor(x))  # noqa: E731
    w, b, e = _weight((8, 12)), _weight((12,), 1), _weight((5, 3), 2)
    adam_ref = torch.nn.Parameter(b.detach().clone())
    ref_adam = torch.optim.AdamW(
        [adam_ref],
        lr=torch.tensor(0.01),
        betas=(f32(0.9), f32(0.95)),
        eps=f32(1e-8),
        weight_decay=f32(0.01),
        fused=True,
    )
    lion_w, lion_m = e.detach().clone(), torch.zeros(5, 3)
    opt = NorMuon(
        [{"params": [w]}, {"params": [b], "algorithm": "adamw"}, {"params": [e], "algorithm": "lion"}],
        newton_schulz_func=ref_ns,
    )
    gen = torch.Generator().manual_seed(5)
    for _ in range(3):
        for p in (w, b, e):
            p.grad = torch.randn(p.shape, generator=gen)
        adam_ref.grad = b.grad.clone()
        ge = e.grad.clone()
        opt.step()
        ref_adam.step()
        u = lion_m.lerp(ge, 1 - _t(0.9)).sign_()
        lion_m.lerp_(ge, 1 - _t(0.95))
        lion_w.mul_(1 - _t(0.01) * _t(0.01)).add_(u, alpha=-_t(0.01))
    assert torch.equal(b.detach(), adam_ref.detach())
    assert torch.equal(e.detach(), lion_w)
    assert set(opt.state[b]) == {"momentum", "variance", "step_dev"} and float(opt.state[b]["step_dev"]) == 3


@pytest.mark.parametrize("cls", [NorMuon, Dion2, NorDion2])
def test_defaults_run_polar_express_in_bf16_and_agree_with_the_fp32_step(cls):
    """Default orthogonaliser (Polar Express in bf16) against the fp32 Jordan NS step on the same input.

    Both orthogonalise the same bf16 momentum, but with different polynomials (different maps of
    the singular values) and precisions, so only the direction is compared: both approximate the
    same polar factor, so the weight changes point the same way (cosine > 0.8; measured 0.98 for
    all three on this input).
    Parity of the default with dion's own default is measured in benchmarks/dion_parity.py.
    """
    shape = (32, 64)
    w1, w2 = _weight(shape), _weight(shape)
    before = w1.detach().clone()
    a, b = cls([w1]), cls([w2], newton_schulz_func=ref_ns)
    for opt, w in ((a, w1), (b, w2)):
        w.grad = _grads(shape, 6, 1)[0]
        opt.step()
    d1, d2 = (w1.detach() - before).flatten(), (w2.detach() - before).flatten()
    assert bool(torch.isfinite(d1).all())
    assert float(d1 @ d2 / (d1.norm() * d2.norm())) > 0.8


@pytest.mark.parametrize(
    ("cls", "kw", "match"),
    [
        (Dion2, {"fraction": 0.0}, "fraction"),
        (Dion2, {"fraction": 1.5}, "fraction"),
        (Dion2, {"ef_decay": 1.0}, "ef_decay"),
        (Dion2, {"selection_scope": "row"}, "selection_scope"),
        (NorDion2, {"mu": -0.1}, "mu"),
        (NorMuon, {"muon_beta2": 1.0}, "muon_beta2"),
        (NorMuon, {"betas": (0.9, 1.0)}, "beta2"),
        (NorMuon, {"betas": (0.9,)}, "betas"),
        (NorMuon, {"lr": -1.0}, "lr"),
        (NorMuon, {"adjust_lr": "original"}, "adjust_lr"),
        (NorMuon, {"softening": 1.5}, "softening"),
        (NorMuon, {"softening": "linear:0:2:10"}, "softening"),
        (NorMuon, {"softening": "ramp:0:1"}, "softening"),
        (NorMuon, {"distributed_mesh": object()}, "distributed_mesh"),
        (NorMuon, {"use_triton": True}, "use_triton"),
        (NorMuon, {"use_gram_newton_schulz": True}, "gram_ns"),
        (NorMuon, {"newton_schulz_func": ref_ns, "orthogonalize": "ns:polar_express"}, "not both"),
        (NorMuon, {"newton_schulz_func": 3}, "callable"),
        (Dion2, {"triton_post_ortho": True}, "triton_post_ortho"),
    ],
)
def test_bad_arguments_name_themselves(cls, kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        cls([_weight((4, 6))], **kw)


def test_shapes_and_groups_the_optimizer_cannot_handle_are_refused_and_change_nothing():
    w, v = _weight((4, 6)), _weight((2, 3, 4))
    with pytest.raises(ValueError, match="2-D parameters.*algorithm='adamw'"):
        NorMuon([w, v])
    opt = NorMuon([w])
    for group, match in (
        ({"params": [v]}, "2-D"),
        ({"params": [v], "algorithm": "sgd"}, "algorithm"),
        ({"params": [v], "algorithm": "adamw", "cautious_wd": True}, "cautious_wd"),
        ({"params": [v], "fraction": 0.5}, "unknown key 'fraction'"),
    ):
        with pytest.raises(ValueError, match=match):
            opt.add_param_group(group)
        assert len(opt.param_groups) == 1
    opt.add_param_group({"params": [v], "algorithm": "adamw"})


@pytest.mark.parametrize("cls", [NorMuon, Dion2, NorDion2])
def test_a_failed_step_changes_nothing_and_the_global_rng_is_untouched(cls):
    w, b = _weight((16, 24)), _weight((24,), 1)
    opt = cls([{"params": [w]}, {"params": [b], "algorithm": "adamw"}], check_finite=True)
    rng = torch.get_rng_state()
    w.grad, b.grad = torch.ones(16, 24), torch.ones(24)
    opt.step()
    assert torch.equal(torch.get_rng_state(), rng)  # a seeded script stays on torch's path
    saved = ([w.detach().clone(), b.detach().clone()], {k: v.clone() for k, v in opt.state[w].items()})
    w.grad, b.grad = torch.ones(16, 24), torch.full((24,), float("nan"))
    with pytest.raises(ValueError, match="step 2: the gradient of parameter 0 of param group 1"):
        opt.step()
    assert torch.equal(w, saved[0][0]) and torch.equal(b, saved[0][1])
    assert all(torch.equal(opt.state[w][k], v) for k, v in saved[1].items())
    assert opt.param_groups[0]["step"] == 1


@pytest.mark.parametrize("cls", [NorMuon, Dion2, NorDion2])
def test_state_dict_round_trip_continues_identically(cls):
    shape = (16, 24)
    a = _weight(shape)
    opt = cls([a], newton_schulz_func=ref_ns, softening="cosine:0:0.4:4")
    for g in _grads(shape, 7, 2):
        a.grad = g
        opt.step()
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    b = torch.nn.Parameter(a.detach().clone())
    fresh = cls([b], newton_schulz_func=ref_ns, softening="cosine:0:0.4:4")
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer))
    for g in _grads(shape, 8, 2):
        a.grad, b.grad = g.clone(), g.clone()
        opt.step()
        fresh.step()
    assert torch.equal(a, b)
    sd = opt.state_dict()
    sd["state"][0]["momentum"] = torch.zeros(3, 3)
    with pytest.raises(ValueError, match="shape"):
        fresh.load_state_dict(sd)


@pytest.mark.parametrize("name", ["muon", "normuon", "dion2", "nordion2"])
def test_capture_records_each_optimizer(name):
    w = _weight((12, 20))
    cap = Capture([("w", w)], steps=[2], full=True)
    kw = {"compute_dtype": "fp32"} if name == "muon" else {"newton_schulz_func": ref_ns}
    opt = OPTIMIZERS[name]([w], capture=cap, **kw)
    for g in _grads((12, 20), 9, 2):
        w.grad = g
        opt.step()
    assert {k.split("/")[2] for k in cap.arrays if k.startswith("matrix/")} == {"grad", "momentum", "update"}
    update = torch.from_numpy(cap.arrays["matrix/w/update/2"])
    if name in ("dion2", "nordion2"):  # the applied update lives on the selected rows only
        assert int((update.abs().sum(dim=1) > 0).sum()) == math.ceil(0.25 * 12)


def test_softening_schedules_parse_evaluate_and_print_back():
    for text, values in (
        ("0.3", {1: 0.3, 100: 0.3}),
        ("constant:0.2", {1: 0.2, 9: 0.2}),
        ("linear:0.1:0.5:4", {1: 0.1, 3: 0.3, 5: 0.5, 50: 0.5}),
        ("cosine:0:1:2", {1: 0.0, 2: 0.5, 3: 1.0}),
    ):
        s = parse_softening(text)
        for step, expected in values.items():
            got = s if isinstance(s, float) else s(step)
            assert got == pytest.approx(expected, abs=1e-15)
        if not isinstance(s, float):
            assert parse_softening(str(s)) == s


@pytest.mark.parametrize("cls", [NorMuon, Dion2, NorDion2])
def test_a_diverging_spec_raises_naming_the_parameter_and_changes_nothing(cls):
    import spectral_la as sl

    w = torch.nn.Parameter(torch.zeros(8, 16))
    opt = cls([("layer.weight", w)], orthogonalize="muon_p:1/2", compute_dtype="fp32", ns_input_dtype=None)
    w.grad = torch.ones(8, 16)  # rank one: σ̂₁ = 1/(1 + ε/‖X‖) > 0.58, outside the recurrence's stable range
    with pytest.raises(sl.DivergedError, match=r"step 1, parameter 'layer.weight' \(muon_p:1/2\)"):
        opt.step()
    assert torch.equal(w, torch.zeros(8, 16)) and not opt.state[w] and opt.param_groups[0]["step"] == 0


@pytest.mark.parametrize("spec", ["polar", "polar_qdwh", "msign", "fractional_power:0.5", "gram_ns:polar_express"])
def test_every_kind_of_spec_runs_a_step(spec):
    """Exact specs run on the momentum in its stored dtype (ns_input_dtype=None) and equal the spec itself."""
    for cls in (NorMuon, Dion2):
        w = torch.nn.Parameter(torch.zeros(12, 20))
        opt = cls([w], lr=1.0, weight_decay=0.0, orthogonalize=spec, ns_input_dtype=None, compute_dtype="fp32",
                  fraction=1.0) if cls is Dion2 else cls([w], lr=1.0, weight_decay=0.0, orthogonalize=spec,
                                                          ns_input_dtype=None, compute_dtype="fp32")  # fmt: skip
        g = torch.randn(12, 20, generator=torch.Generator().manual_seed(11))
        w.grad = g.clone()
        opt.step()
        assert bool(torch.isfinite(w).all()) and float(w.detach().abs().max()) > 0
        if cls is Dion2:  # f = 1: every row, no normalisation: −√(12/20)·O(G), O the spec's map in fp32
            run = parse_spec(spec)
            o = run(g, compute_dtype=torch.float32) if run.matmul_only else run(g)  # an exact map: g's fp32
            expected = -math.sqrt(12 / 20) * o
            # |W| ≤ ~1: the spec computed here and in the step may batch differently; fp32 rounding
            torch.testing.assert_close(w.detach(), expected, rtol=0, atol=1e-5)
