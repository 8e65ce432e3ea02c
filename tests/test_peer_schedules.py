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

# Emerging-Optimizers' tables as they stand in its muon_utils.py @ fd772921 (copied, so that a
# transcription slip in our registry shows up as a mismatch); cubic5 carries EO's c = 0.
EO_SETS = {
    "eo_quintic": [
        (4.0848, -6.8946, 2.9270),
        (3.9505, -6.3029, 2.6377),
        (3.7418, -5.5913, 2.3037),
        (2.8769, -3.1427, 1.2046),
        (2.8366, -3.0525, 1.2012),
    ],
    "eo_polar_express": [
        (8.2051, -22.9019, 16.4607),
        (4.0664, -2.8612, 0.5184),
        (3.9096, -2.8234, 0.5250),
        (3.2856, -2.4153, 0.4853),
        (2.2779, -1.6198, 0.3985),
        (1.8726, -1.2307, 0.3585),
        (1.8564, -1.2132, 0.3568),
        (1.8750, -1.2500, 0.3750),
    ],
    "eo_cans": [
        (8.4703, -25.1081, 18.6293),
        (4.1828, -3.1087, 0.5806),
        (3.9619, -2.9541, 0.5630),
        (3.2866, -2.4647, 0.5074),
        (2.2737, -1.6447, 0.4162),
    ],
    "eo_aol": [
        (4.0098, -7.0585, 2.4635),
        (3.4585, -5.5479, 2.5959),
        (2.7573, -3.2939, 1.4254),
        (2.7215, -3.0494, 1.3169),
    ],
    "eo_deepseekv4": [(3.4445, -4.7750, 2.0315)] * 8 + [(2.0, -1.5, 0.5)] * 2,
    "eo_cubic5": [
        (3.3656576, -3.3420992, 0.0),
        (2.5744352, -1.4957376, 0.0),
        (2.5368962, -1.4312570, 0.0),
        (2.4418906, -1.2764040, 0.0),
        (2.2230472, -0.9630650, 0.0),
    ],
    "torch_muon": [(3.4445, -4.7750, 2.0315)],
}
# EO cycles all sets but polar_express, cans and deepseekv4; cubic5 only runs its 5 steps (so no cycle here)
EO_CYCLES = {"eo_quintic", "eo_aol", "torch_muon"}


def _eo_reference(x, rows, steps, cycle, eps=1e-15, normalize_in_double=False):
    """EO's newton_schulz (fd772921): F.normalize or the float64 norm, then its fused steps, c = 0: cubic path."""
    transpose = x.size(-2) > x.size(-1)
    if transpose:
        x = x.mT
    if normalize_in_double:
        X = x / torch.linalg.vector_norm(x, dim=(-2, -1), keepdim=True, dtype=torch.float64).to(x.dtype)
    else:
        X = torch.nn.functional.normalize(x, p=2, dim=(-2, -1), eps=eps)
    sets = [rows[k % len(rows)] if cycle else rows[min(k, len(rows) - 1)] for k in range(steps)]
    for a, b, c in sets:
        A = X @ X.mT
        if c != 0.0:
            B = torch.addmm(A, A, A, alpha=c, beta=b)
            X = torch.addmm(X, B, X, alpha=1.0, beta=a)
        else:
            X = torch.addmm(X, A, X, alpha=b, beta=a)
    return X.mT if transpose else X


def _dion_aol_reference(G, rows, epsilon=1e-7, dtype=torch.bfloat16):
    """microsoft/dion newton_schulz_triton_fast (0a059a4) with its Triton lines as the torch products they compute."""
    X = G.to(dtype)
    if G.size(-2) > G.size(-1):
        X = X.mT
    A = X @ X.mT
    eps = torch.tensor(epsilon, dtype=X.dtype)
    s = torch.rsqrt(torch.clamp_min(A.abs().sum(dim=-1, keepdim=False), min=eps))
    X = X * s.unsqueeze(-1)
    A = A * s.unsqueeze(-1) * s.unsqueeze(-2)
    addmm = torch.baddbmm if X.ndim > 2 else torch.addmm
    for k, (a, b, c) in enumerate(rows):
        if k:
            A = X @ X.mT
        B = addmm(A, A, A, alpha=c, beta=b)
        X = addmm(X, B, X, beta=a)
    return X.mT if G.size(-2) > G.size(-1) else X


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
        ("eo_cans", 5),
        ("eo_cans", 9),
        ("eo_deepseekv4", 10),
        ("eo_deepseekv4", 12),
        ("eo_cubic5", 5),
    ],
)
def test_emerging_optimizers_sets_float32(name, steps, shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    sched = sl.schedules[name]
    assert [r + (0.0,) * (3 - len(r)) for r in sched.rows] == [tuple(r) for r in EO_SETS[name]]
    assert sched.cycle == (name in EO_CYCLES)
    ref = _eo_reference(x, EO_SETS[name], steps, name in EO_CYCLES)
    got = sl.newton_schulz(x, name, steps)
    # the same operations in the same order in fp32: equal bit for bit
    assert torch.equal(got, ref)


def test_torch_muon_float32():
    x = torch.randn(96, 64, generator=torch.Generator().manual_seed(0))
    # torch.optim.Muon's step is EO's with eps = 1e-7: the same operations, bit for bit
    ref = _eo_reference(x, EO_SETS["torch_muon"], 5, True, eps=1e-7)
    assert torch.equal(sl.newton_schulz(x, "torch_muon"), ref)


def test_emerging_optimizers_normalize_in_double():
    x = torch.randn(64, 96, generator=torch.Generator().manual_seed(3))
    norm = sl.Normalization(kind="frobenius", eps=0.0, in_float64=True)
    for steps in (0, 5):
        ref = _eo_reference(x, EO_SETS["eo_quintic"], steps, True, normalize_in_double=True)
        assert torch.equal(sl.newton_schulz(x, "eo_quintic", steps, normalize=norm), ref)
    # EO's test_preserve_values_with_underflowed_norm_in_fp64, on our API: ‖x‖ underflows in fp32
    tiny = torch.randn(256, 256, generator=torch.Generator().manual_seed(4)) * 1e-30
    assert torch.linalg.vector_norm(tiny) == 0
    norm_ref = torch.linalg.vector_norm(tiny, dtype=torch.double)
    for how in (norm, "scale_safe"):  # the power-of-two prescaling alone also keeps the norm
        out = sl.newton_schulz(tiny, "eo_quintic", 0, normalize=how)
        torch.testing.assert_close(out, (tiny / norm_ref).float(), atol=0, rtol=1e-6)
    with pytest.raises(ValueError, match="in_float64"):
        sl.Normalization(kind="spectral", in_float64=True)


@pytest.mark.parametrize("shape", [(512, 512), (512, 256), (256, 512)])
@pytest.mark.parametrize("name", ["eo_polar_express", "eo_deepseekv4"])
def test_ten_steps_beat_quintic_on_ill_conditioned(name, shape):
    """EO's test_polar_express_and_deepseekv4_10steps_better_than_quintic on our API (κ = 1e12)."""
    gen = torch.Generator().manual_seed(5)
    k = min(shape)
    u, _ = torch.linalg.qr(torch.randn(shape[0], k, generator=gen))
    v, _ = torch.linalg.qr(torch.randn(shape[1], k, generator=gen))
    x = u @ torch.diag(torch.logspace(6, -6, k)) @ v.T
    # EO's torch.norm(·, p=2) of a matrix is the 2-norm of its entries: Frobenius
    err = torch.linalg.matrix_norm(sl.newton_schulz(x, name, 10) - u @ v.T)
    err_quintic = torch.linalg.matrix_norm(sl.newton_schulz(x, "eo_quintic", 5) - u @ v.T)
    assert err < err_quintic


@pytest.mark.parametrize("shape", [(512, 256), (256, 512)])
def test_polar_express_sixteen_steps_orthogonal(shape):
    """EO's test_polar_express_16steps_almost_orthogonal: O Oᵀ (smaller side) within 1e-5 of I."""
    out = sl.newton_schulz(torch.randn(*shape, generator=torch.Generator().manual_seed(6)), "eo_polar_express", 16)
    gram = out @ out.mT if shape[0] <= shape[1] else out.mT @ out
    torch.testing.assert_close(gram, torch.eye(min(shape)), atol=1e-5, rtol=0)


def test_cubic_rows_are_one_product_a_step():
    sched = sl.schedules["eo_cubic5"]
    assert sched.degree == 3 and len(sched.coefficients()) == 5
    with pytest.raises(ValueError, match="defines 5 steps"):
        sched.coefficients(6)


@pytest.mark.parametrize("shape", [(64, 96), (96, 64), (3, 64, 96)])
def test_dion_aol_float32_bit_for_bit(shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(7))
    rows = [(4.6051, -9.6552, 5.6769), (4.7505, -6.0861, 2.1790), (2.7763, -2.3190, 0.5523), (2.4231, -2.2861, 0.8193)]
    ref = _dion_aol_reference(x, rows, dtype=torch.float32)
    # the same products in the same order, after an exact power-of-two prescaling: equal bit for bit
    assert torch.equal(sl.newton_schulz(x, "dion_aol"), ref)
    ref16 = _dion_aol_reference(x, rows).float()
    got16 = sl.newton_schulz(x, "dion_aol", compute_dtype=torch.bfloat16)
    # both in bf16 (u = 2^-8); the Gram's rounding differs where dion starts from the bf16 cast of x
    assert float((got16 - ref16).abs().max()) <= 0.05


@pytest.mark.parametrize("name", ["eo_quintic", "eo_aol", "torch_muon"])
def test_emerging_optimizers_sets_bfloat16(name):
    x = torch.randn(64, 128, generator=torch.Generator().manual_seed(1))
    sched = sl.schedules[name]
    steps = 2 * len(sched.rows)
    ref = _eo_reference(x.bfloat16(), EO_SETS[name], steps, name in EO_CYCLES, eps=sched.normalization.eps).float()
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
