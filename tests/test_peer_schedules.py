"""The peers' variants against their own formulas, copied here (no network), on the same inputs.

Each reference below restates the peer's published step in a few lines (see the schedule's
``source``): Emerging-Optimizers' ``newton_schulz`` (X/max(‖X‖_F, eps), B = bA + c·A·A fused,
X ← aX + BX; its "quintic"/"aol" sets cycle, "polar_express" repeats its last row), modded-
nanogpt's ``polar_express`` (X/(1.02‖X‖_F + 1e-6), unfused B = bA + c(A@A)) and
torch.optim.Muon. In float32 the Emerging-Optimizers and torch forms are reproduced bit for
bit (same operations, same order); modded-nanogpt's unfused form to a few ulps; in bfloat16
(computed in bf16 by both) to a few bf16 ulps times the schedule's slope.
"""

from __future__ import annotations

import pytest
import torch

import spectral_la as sl


def _eo_reference(x, rows, steps, cycle, eps=1e-7):
    transpose = x.size(-2) > x.size(-1)
    if transpose:
        x = x.mT
    X = torch.nn.functional.normalize(x, p=2, dim=(-2, -1), eps=eps)
    sets = [rows[k % len(rows)] if cycle else rows[min(k, len(rows) - 1)] for k in range(steps)]
    for a, b, c in sets:
        A = X @ X.mT
        B = torch.addmm(A, A, A, alpha=c, beta=b)
        X = torch.addmm(X, B, X, alpha=1.0, beta=a)
    return X.mT if transpose else X


def _modded_reference(G, rows, steps=5, eps=1e-6, dtype=torch.float32):
    X = G.to(dtype)
    if G.size(0) > G.size(1):
        X = X.T
    X = X / (X.norm() * (1 + 2e-2) + eps)
    for a, b, c in rows[:steps]:
        A = X @ X.T
        B = b * A + c * (A @ A)
        X = a * X + B @ X
    return X.T if G.size(0) > G.size(1) else X


@pytest.mark.parametrize("shape", [(64, 96), (96, 64), (48, 48)])
@pytest.mark.parametrize(
    ("name", "steps"),
    [
        ("eo_quintic", 5),
        ("eo_quintic", 10),
        ("eo_aol", 8),
        ("eo_polar_express", 8),
        ("eo_polar_express", 11),
        ("torch_muon", 5),
    ],
)
def test_emerging_optimizers_sets_float32(name, steps, shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    sched = sl.schedules[name]
    ref = _eo_reference(x, sched.rows, steps, sched.cycle)
    got = sl.newton_schulz(x, name, steps)
    # the same operations in the same order in fp32: equal bit for bit
    assert torch.equal(got, ref)


@pytest.mark.parametrize("name", ["eo_quintic", "eo_aol", "torch_muon"])
def test_emerging_optimizers_sets_bfloat16(name):
    x = torch.randn(64, 128, generator=torch.Generator().manual_seed(1))
    sched = sl.schedules[name]
    steps = 2 * len(sched.rows)
    ref = _eo_reference(x.bfloat16(), sched.rows, steps, sched.cycle).float()
    got = sl.newton_schulz(x, name, steps, compute_dtype=torch.bfloat16)
    # both iterate in bf16 (u = 2^-8); they differ in where the normalised input is rounded
    assert float((got - ref).abs().max()) <= 0.05


def test_modded_nanogpt_polar_express():
    sched = sl.schedules["polar_express_modded"]
    for shape in [(64, 96), (96, 64)]:
        g = torch.randn(*shape, generator=torch.Generator().manual_seed(2))
        ref = _modded_reference(g, sched.rows)
        torch.testing.assert_close(sl.newton_schulz(g, "polar_express_modded"), ref, rtol=0, atol=2e-5)
        ref16 = _modded_reference(g, sched.rows, dtype=torch.bfloat16).float()
        got16 = sl.newton_schulz(g, "polar_express_modded", compute_dtype=torch.bfloat16)
        assert float((got16 - ref16).abs().max()) <= 0.05


def test_cycle_mode():
    sched = sl.schedules["eo_aol"]
    assert sched.coefficients(9) == [sched.rows[k % 4] for k in range(9)]
    with pytest.raises(ValueError, match="exclude"):
        sl.Schedule(name="x", rows=((1.5, -0.5),), steps=1, repeat_last=True, cycle=True, interval=(0.1, 1))


def test_effective_intervals_rank_and_certify():
    from analysis.schedule_response import effective_intervals

    rows = {r["schedule"]: r for r in effective_intervals(["polar_express", "jordan_ns5", "eo_aol"])}
    pe = rows["polar_express"]
    # Polar Express holds |1 − f| ≤ 0.3 below its nominal 1e-3 (its safety margin), certified there
    assert 5e-4 < pe["ell_eff(τ=0.3)"] < 1e-3
    assert pe["certified_max_abs_1_minus_f_on_[ell(τ=0.3),1]"] <= 0.3 * (1 + 1e-3)
    # Jordan's NS5 is a ±0.5 band by design: no τ = 0.3 interval at all
    assert (
        rows["jordan_ns5"]["ell_eff(τ=0.5)"] > 0
        and rows["jordan_ns5"]["ell_eff(τ=0.3)"] != rows["jordan_ns5"]["ell_eff(τ=0.3)"]
    )
    # Emerging-Optimizers' "aol" rows, run without the AOL rescaling they were tuned for, send σ̂ ≥ 0.9 to ≈ −1
    f = sl.scalar_map("eo_aol", torch.tensor([0.95], dtype=torch.float64))
    assert float(f) < -0.9
