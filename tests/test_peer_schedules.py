"""The peers' variants against their own formulas (restated in benchmarks/peer_formulas.py), same inputs.

Each reference restates the peer's published step in a few lines (see the schedule's
``source``): Emerging-Optimizers' ``newton_schulz`` (X/max(‖X‖_F, eps), B = bA + c·A·A fused,
X ← aX + BX; its "quintic"/"aol" sets cycle, "polar_express" repeats its last row), modded-
nanogpt's ``polar_express`` (X/(1.02‖X‖_F + 1e-6), unfused B = bA + c(A@A)), dion's AOL step
and torch.optim.Muon. In float32 the Emerging-Optimizers and torch forms are reproduced bit for
bit (same operations, same order); modded-nanogpt's unfused form to a few ulps; in bfloat16
(computed in bf16 by both) to a few bf16 ulps times the schedule's slope.
"""

from __future__ import annotations

import pytest
import torch

import spectral_la as sl
from spectral_la.benchmarks.peer_formulas import (
    DION_AOL_ROWS,
    EO_CYCLES,
    EO_SETS,
    dion_aol_newton_schulz,
    eo_newton_schulz,
    unfused_newton_schulz,
)


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
    ref = eo_newton_schulz(x, EO_SETS[name], steps, name in EO_CYCLES)
    got = sl.newton_schulz(x, name, steps)
    # the same operations in the same order in fp32: equal bit for bit
    assert torch.equal(got, ref)


def test_torch_muon_float32():
    x = torch.randn(96, 64, generator=torch.Generator().manual_seed(0))
    # torch.optim.Muon's step is EO's with eps = 1e-7: the same operations, bit for bit
    ref = eo_newton_schulz(x, EO_SETS["torch_muon"], 5, True, eps=1e-7)
    assert torch.equal(sl.newton_schulz(x, "torch_muon"), ref)


def test_emerging_optimizers_normalize_in_double():
    x = torch.randn(64, 96, generator=torch.Generator().manual_seed(3))
    norm = sl.Normalization(kind="frobenius", eps=0.0, in_float64=True)
    for steps in (0, 5):
        ref = eo_newton_schulz(x, EO_SETS["eo_quintic"], steps, True, normalize_in_double=True)
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
    rows = DION_AOL_ROWS
    ref = dion_aol_newton_schulz(x, rows, dtype=torch.float32)
    # the same products in the same order, after an exact power-of-two prescaling: equal bit for bit
    assert torch.equal(sl.newton_schulz(x, "dion_aol"), ref)
    ref16 = dion_aol_newton_schulz(x, rows).float()
    got16 = sl.newton_schulz(x, "dion_aol", compute_dtype=torch.bfloat16)
    # both in bf16 (u = 2^-8); the Gram's rounding differs where dion starts from the bf16 cast of x
    assert float((got16 - ref16).abs().max()) <= 0.05


@pytest.mark.parametrize("shape", [(64, 128), (128, 64), (3, 64, 128)])
@pytest.mark.parametrize("name", ["eo_quintic", "eo_aol", "eo_polar_express", "eo_cans", "eo_deepseekv4", "eo_cubic5"])
def test_emerging_optimizers_sets_bfloat16(name, shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    sched = sl.schedules[name]
    steps = len(sched.rows) if name == "eo_cubic5" else 2 * len(sched.rows)
    ref = eo_newton_schulz(x, EO_SETS[name], steps, name in EO_CYCLES, compute_dtype=torch.bfloat16)
    got = sl.newton_schulz(x, name, steps, compute_dtype=torch.bfloat16, check_finite=False)
    # EO normalises in float32 and then casts (Normalization.before_cast): the same operations in the
    # same order, so bit for bit in bf16 too -- including where EO's own result overflows (below)
    torch.testing.assert_close(got, ref, rtol=0, atol=0, equal_nan=True)
    if not torch.isfinite(ref).all():
        with pytest.raises(sl.DivergedError, match=name):
            sl.newton_schulz(x, name, steps, compute_dtype=torch.bfloat16)


def test_cans_rows_have_no_safety_margin_above_one():
    """A finding on EO's cans set: like the Polar Express table *without* its safety factor, the first
    row sends 1 to 2 − ℓ₁ ≈ 1.99 with slope ≈ 26, and the composition is only tuned on [ℓ, 1]: a σ̂ 1e-4
    above 1 comes out at ~3e4, a bf16 rounding (~4e-3) above 1 overflows. The registered Polar Express
    (safety 1.01) and EO's own polar_express stay in their band there. Our default check_finite turns the
    resulting NaN into a DivergedError (test_emerging_optimizers_sets_bfloat16)."""
    rows = sl.schedules["eo_cans"].rows
    assert abs(sum(rows[0]) - 1.9915) < 1e-12  # p₁(1)
    sigma = torch.tensor([1.0, 1 + 1e-4, 1.004], dtype=torch.float64)
    cans = sl.scalar_map("eo_cans", sigma)
    assert abs(float(cans[0]) - 1) <= 0.12 and float(cans[1]) > 1e4 and float(cans[2]) > 1e50
    for safe in ("polar_express", "eo_polar_express"):
        assert float((sl.scalar_map(safe, sigma) - 1).abs().max()) <= 0.1


def test_cast_first_normalisation_flips_cubic5_on_near_rank_one_bf16():
    """Why before_cast matters: cubic5's first row p(x) = 3.366x − 3.342x³ is negative for x > 1.0035.

    Normalised in bf16 after the cast, σ̂₁ of a near rank-one matrix lands up to ~2 bf16 ulps above 1
    and the leading direction comes out with the wrong sign; normalised in float32 first (EO's order,
    the registered one) it stays in the band.
    """
    cast_first = sl.Normalization(kind="frobenius_clamp", eps=1e-15)
    flipped = 0
    for seed in range(40):
        g = torch.Generator().manual_seed(seed)
        noise = 1e-3 * torch.randn(64, 256, generator=g)
        x = torch.randn(64, 1, generator=g) @ torch.randn(1, 256, generator=g) + noise
        u, _, vh = torch.linalg.svd(x.double(), full_matrices=False)
        ours = sl.newton_schulz(x, "eo_cubic5", compute_dtype=torch.bfloat16)
        assert float(u[:, 0] @ ours.double() @ vh[0]) >= 0.7  # |1 − f| ≤ 0.3 is cubic5's band
        other = sl.newton_schulz(x, "eo_cubic5", compute_dtype=torch.bfloat16, normalize=cast_first)
        flipped += float(u[:, 0] @ other.double() @ vh[0]) < 0.7
    assert flipped > 0


def test_torch_muon_bfloat16_is_torch_optim_muon_bit_for_bit():
    from torch.optim._muon import _zeropower_via_newtonschulz

    for shape in [(64, 128), (128, 64)]:
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
        ref = _zeropower_via_newtonschulz(x, (3.4445, -4.7750, 2.0315), 5, 1e-7)  # casts to bf16 first, as we do
        assert torch.equal(sl.newton_schulz(x, "torch_muon", compute_dtype=torch.bfloat16), ref.float())


def test_modded_nanogpt_polar_express():
    sched = sl.schedules["polar_express_modded"]
    for shape in [(64, 96), (96, 64)]:
        g = torch.randn(*shape, generator=torch.Generator().manual_seed(2))
        ref = unfused_newton_schulz(g, sched.rows)
        torch.testing.assert_close(sl.newton_schulz(g, "polar_express_modded"), ref, rtol=0, atol=2e-5)
        ref16 = unfused_newton_schulz(g, sched.rows, dtype=torch.bfloat16).float()
        got16 = sl.newton_schulz(g, "polar_express_modded", compute_dtype=torch.bfloat16)
        assert float((got16 - ref16).abs().max()) <= 0.05


@pytest.mark.parametrize("shape", [(64, 96), (96, 64), (3, 64, 96)])
def test_dion_ns5_against_dion_zeropower(shape):
    """dion's zeropower_via_newtonschulz5 (cast to bf16 first, X/(‖X‖_F + 1e-7), unfused steps)."""
    g = torch.randn(*shape, generator=torch.Generator().manual_seed(2))
    rows = sl.schedules["dion_ns5"].rows
    ref = unfused_newton_schulz(g, rows, eps=1e-7, scale=1.0)
    # fused (addmm) vs unfused (b·A + c·(A A), then a·X + B X): each step rounds B and the update
    # differently, ≤ a few ulps of entries ≤ ~10, carried through 5 band steps of slope ≤ ~3:
    # measured 5 ulps of 1 (6e-7) in fp32 and 1.75 ulps (0.014) in bf16; asserted 40 and 4 ulps
    assert float((sl.newton_schulz(g, "dion_ns5") - ref).abs().max()) <= 40 * 2.0**-23
    ref16 = unfused_newton_schulz(g, rows, eps=1e-7, scale=1.0, dtype=torch.bfloat16).float()
    got16 = sl.newton_schulz(g, "dion_ns5", compute_dtype=torch.bfloat16)
    assert float((got16 - ref16).abs().max()) <= 4 * 2.0**-7


def test_cycle_mode():
    sched = sl.schedules["eo_aol"]
    assert sched.coefficients(9) == [sched.rows[k % 4] for k in range(9)]
    with pytest.raises(ValueError, match="exclude"):
        sl.Schedule(name="x", rows=((1.5, -0.5),), steps=1, repeat_last=True, cycle=True, interval=(0.1, 1))


def test_effective_intervals_rank_and_certify():
    from spectral_la.analysis.schedule_response import effective_intervals

    rows = {r["schedule"]: r for r in effective_intervals(["polar_express", "jordan_ns5", "eo_aol"])}
    pe = rows["polar_express"]
    # Polar Express holds |1 − f| ≤ 0.3 below its nominal 1e-3 (its safety margin), certified there
    assert 5e-4 < pe["ell_eff(τ=0.3)"] < 1e-3
    assert pe["certified_within_τ=0.3"] is True
    # Jordan's NS5 is a ±0.5 band by design: no τ = 0.3 interval at all
    assert (
        rows["jordan_ns5"]["ell_eff(τ=0.5)"] > 0
        and rows["jordan_ns5"]["ell_eff(τ=0.3)"] != rows["jordan_ns5"]["ell_eff(τ=0.3)"]
    )
    # Emerging-Optimizers' "aol" rows, run without the AOL rescaling they were tuned for, send σ̂ ≥ 0.9 to ≈ −1
    f = sl.scalar_map("eo_aol", torch.tensor([0.95], dtype=torch.float64))
    assert float(f) < -0.9


def test_a_finite_blow_up_is_a_diverged_error_too():
    """EO's cans rows on a rank-one input in bf16 (EO's order): finite but far out of the band."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 1, generator=g) @ torch.randn(1, 64, generator=g)
    y = sl.newton_schulz(x, "eo_cans", compute_dtype=torch.bfloat16, check_finite=False)
    assert torch.isfinite(y).all() and float(torch.linalg.matrix_norm(y.double(), 2)) > 1e6
    with pytest.raises(sl.DivergedError, match="left its band"):
        sl.newton_schulz(x, "eo_cans", compute_dtype=torch.bfloat16)


def test_in_float64_is_eps_free_as_emerging_optimizers_normalize_in_double():
    """Was: Normalization(kind="frobenius_clamp", eps=1e-15, in_float64=True) clamped ‖X‖ = 2.6e-27 to 1e-15."""
    x = torch.randn(8, 16, dtype=torch.float32, generator=torch.Generator().manual_seed(0))
    x = x / torch.linalg.matrix_norm(x) * 2.6e-27
    with pytest.raises(ValueError, match="no eps"):
        sl.Normalization(kind="frobenius_clamp", eps=1e-15, in_float64=True)
    norm = sl.Normalization(kind="frobenius_clamp", in_float64=True)
    assert norm.eps == 0.0
    ours = sl.normalize(x, norm)
    theirs = x / torch.linalg.vector_norm(x, dim=(-2, -1), keepdim=True, dtype=torch.float64).to(x.dtype)
    torch.testing.assert_close(ours, theirs, rtol=2**-23, atol=0)  # the same division up to the last bit
    assert abs(float(torch.linalg.matrix_norm(ours.double())) - 1) < 1e-6
    assert torch.equal(sl.normalize(torch.zeros(3, 4), norm), torch.zeros(3, 4))
