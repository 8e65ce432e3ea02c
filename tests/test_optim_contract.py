"""The contract every optimizer of spectral_la.optim keeps (Muon, NorMuon, Dion2, NorDion2).

A step is a transaction: whatever fails (a NaN or sparse gradient in any group, a spec that diverges),
the whole state dict and every weight are as before. ``add_param_group`` and ``load_state_dict``
validate as ``__init__`` does. No probe touches torch's global RNG.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

import spectral_la as sl
from spectral_la.optim import OPTIMIZERS, SlowComputeWarning

NAMES = list(OPTIMIZERS)


def _make(name, groups, **kw):
    base = {"compute_dtype": "fp32"}
    return OPTIMIZERS[name](groups, **base, **kw)


def _params(seed=0, shapes=((12, 20), (12, 20), (20, 12))):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(*s, generator=g)) for s in shapes]


def _grads(params, seed):
    g = torch.Generator().manual_seed(seed)
    for p in params:
        p.grad = torch.randn(p.shape, generator=g)


def _snapshot(opt, params):
    return copy.deepcopy(opt.state_dict()), [p.detach().clone() for p in params]


def _assert_unchanged(opt, params, snap):
    sd, weights = snap
    now = opt.state_dict()
    assert now["spectral_la_steps"] == sd["spectral_la_steps"]
    assert now["param_groups"] == sd["param_groups"]
    assert set(now["state"]) == set(sd["state"])
    for i, st in sd["state"].items():
        assert set(now["state"][i]) == set(st)
        for k, v in st.items():
            assert torch.equal(now["state"][i][k], v), (i, k)
    for p, w in zip(params, weights, strict=True):
        assert torch.equal(p, w)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("failure", ["nan_in_group_1", "sparse_second_param"])
def test_a_step_that_raises_leaves_the_whole_state_dict_and_every_weight(name, failure):
    params = _params()
    opt = _make(name, [{"params": params[:2]}, {"params": params[2:], "lr": 0.01}], check_finite=True)
    _grads(params, 1)
    opt.step()  # a first step so that there is state to keep
    snap = _snapshot(opt, params)
    _grads(params, 2)
    if failure == "nan_in_group_1":
        params[2].grad[0, 0] = float("nan")
    else:
        params[1].grad = params[1].grad.to_sparse()
    with pytest.raises(ValueError, match="step 2"):
        opt.step()
    _assert_unchanged(opt, params, snap)
    _grads(params, 2)  # a retry after the fix counts the gradient once
    opt.step()
    assert opt.state_dict()["spectral_la_steps"] == 2


@pytest.mark.parametrize("name", NAMES)
def test_a_diverging_spec_leaves_everything_as_it_was(name):
    params = _params(shapes=((8, 16), (8, 16)))
    extra = {} if name == "muon" else {"ns_input_dtype": None}
    opt = _make(name, [{"params": params}], orthogonalize="muon_p:1/2", **extra)
    params[0].grad = torch.randn(8, 16, generator=torch.Generator().manual_seed(3))
    params[1].grad = torch.ones(8, 16)  # rank one: outside the p = 1/2 recurrence's stable range
    snap = _snapshot(opt, params)
    with pytest.raises(sl.DivergedError, match="step 1"):
        opt.step()
    _assert_unchanged(opt, params, snap)


@pytest.mark.parametrize("name", NAMES)
def test_one_parameter_per_group_with_its_own_lr_steps(name):
    a, b = _params(shapes=((12, 20), (6, 10)))
    opt = _make(name, [{"params": [a]}, {"params": [b], "lr": 0.01}])
    for seed in (1, 2):
        _grads([a, b], seed)
        opt.step()
    assert opt.state_dict()["spectral_la_steps"] == 2 and bool(torch.isfinite(a).all() & torch.isfinite(b).all())


@pytest.mark.parametrize("name", NAMES)
def test_the_first_step_leaves_torchs_global_rng_alone(name):
    """No probe (bf16 speed, anything) draws from torch's global generator: a seeded script keeps its path."""
    params = _params()
    opt = OPTIMIZERS[name](params)  # the default compute dtype: Muon probes the CPU's bf16 speed here
    _grads(params, 4)
    from spectral_la.dtypes import bf16_is_slow

    bf16_is_slow.cache_clear()  # so that Muon's first step measures again, here
    before = torch.get_rng_state()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlowComputeWarning)  # a CPU that emulates bf16 says so; not the point here
        opt.step()
    assert torch.equal(torch.get_rng_state(), before)


OLD_KEYS = {"muon": ["soften", "schedule", "power"], "normuon": ["schedule", "fraction"], "dion2": ["mu", "power"],
            "nordion2": ["ef_decay", "nesterov"]}  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_load_state_dict_refuses_unknown_keys_and_bad_step_counts_changing_nothing(name):
    params = _params()
    opt = _make(name, [{"params": params}])
    _grads(params, 5)
    opt.step()
    good = opt.state_dict()
    snap = _snapshot(opt, params)
    for key in OLD_KEYS[name]:
        bad = copy.deepcopy(good)
        bad["param_groups"][0][key] = 0.3
        with pytest.raises(ValueError, match=f"unknown key '{key}'"):
            opt.load_state_dict(bad)
    for steps in (-5, 2.7, True):
        bad = copy.deepcopy(good)
        bad["spectral_la_steps"] = steps
        with pytest.raises(ValueError, match="spectral_la_steps"):
            opt.load_state_dict(bad)
    bad = copy.deepcopy(good)
    bad["state"][0] = {**bad["state"][0], "exp_avg": torch.zeros(12, 20)}
    with pytest.raises(ValueError, match="unknown state"):
        opt.load_state_dict(bad)
    _assert_unchanged(opt, params, snap)


BAD_GROUPS = {
    "muon": [({"lr": -1.0}, "lr"), ({"momentum": 5.0}, "momentum"), ({"power": 0.5}, "unknown key")],
    "normuon": [({"lr": -1.0}, "lr"), ({"mu": 5.0}, "mu"), ({"fraction": 0.5}, "unknown key")],
    "dion2": [({"lr": -1.0}, "lr"), ({"ef_decay": 5.0}, "ef_decay"), ({"fraction": 0.0}, "fraction")],
    "nordion2": [({"lr": -1.0}, "lr"), ({"mu": 5.0}, "mu"), ({"fraction": 2.0}, "fraction")],
}


@pytest.mark.parametrize("name", NAMES)
def test_add_param_group_validates_as_init_and_adds_nothing_on_error(name):
    params = _params()
    opt = _make(name, [{"params": params[:1]}])
    cube = torch.nn.Parameter(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="2-D"):
        opt.add_param_group({"params": [cube]})
    for group, match in BAD_GROUPS[name]:
        with pytest.raises(ValueError, match=match):
            opt.add_param_group({"params": params[1:2], **group})
    assert len(opt.param_groups) == 1
    opt.add_param_group({"params": params[1:2]})
    assert len(opt.param_groups) == 2


@pytest.mark.parametrize("name", NAMES)
def test_state_owns_its_storage_after_the_in_place_commit(name):
    """The commit adopts planned state tensors and writes weights in place: no state tensor may share
    storage with a parameter or its gradient (a ``zero_grad(set_to_none=False)`` would zero it) or be a
    slice of a larger stack (``torch.save`` would write the stack once per slice); the step's result is
    the same as a second optimizer's whose every state tensor was copied out before each step."""
    params = _params()
    twin = [torch.nn.Parameter(p.detach().clone()) for p in params]
    opt, opt2 = _make(name, params), _make(name, twin)
    for t in range(1, 4):
        _grads(params, t)
        _grads(twin, t)
        opt.step()
        opt2.step()
        for p in params:
            for value in opt.state[p].values():
                if isinstance(value, torch.Tensor) and value.numel() > 1:
                    ptr = value.untyped_storage().data_ptr()
                    assert ptr not in (p.untyped_storage().data_ptr(), p.grad.untyped_storage().data_ptr())
                    assert value.untyped_storage().nbytes() == value.numel() * value.element_size()
            p.grad.zero_()  # as zero_grad(set_to_none=False): must not reach the state
        for q in twin:  # the twin's state, copied out: nothing of it may be shared with anything
            opt2.state[q] = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in opt2.state[q].items()}
        for p, q in zip(params, twin, strict=True):
            assert torch.equal(p, q)
            assert all(torch.equal(opt.state[p][k], opt2.state[q][k]) for k in opt.state[p])
