"""One dtype vocabulary: every name the parser takes works in the core functions and the precision tools."""

from __future__ import annotations

import pytest
import torch

import spectral_la as sl
from spectral_la.analysis.low_precision import PrecisionConfig, step_trace, unit_roundoff
from spectral_la.dtypes import FP8_FORMATS, parse_compute_precision

X = torch.randn(8, 20, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    "call",
    [
        lambda c: sl.newton_schulz(X, compute_dtype=c),
        lambda c: sl.gram_newton_schulz(X, compute_dtype=c),
        lambda c: sl.soften(X, 0.3, compute_dtype=c),
        lambda c: sl.muon_p(X, 0.5, compute_dtype=c),
    ],
)
def test_core_functions_take_dtype_names(call):
    """'bf16', 'bfloat16' and torch.bfloat16 are one compute dtype: the results are equal bit for bit."""
    ref = call(torch.bfloat16)
    for name in ("bf16", "bfloat16", "torch.bfloat16"):
        assert torch.equal(call(name), ref)
    assert torch.equal(call("fp32"), call(torch.float32))
    with pytest.raises(TypeError, match="compute_dtype"):
        call("fp4")


def test_precision_tools_take_every_spelling():
    assert PrecisionConfig(computes=("bfloat16", "float32", "half", "float8_e4m3fn")).computes == (
        "bf16",
        "fp32",
        "fp16",
        "fp8_e4m3",
    )
    assert unit_roundoff("bfloat16") == unit_roundoff("bf16") == 2.0**-8  # bf16 has 8 significand bits
    assert unit_roundoff(torch.float8_e5m2) == 2.0**-3  # e5m2: 3 significand bits (2 stored)
    a = step_trace("ns:polar_express", X.double(), compute="bfloat16")[0]
    b = step_trace("ns:polar_express", X.double(), compute="bf16")[0]
    assert repr(a) == repr(b)  # equal row for row (NaN where a step has no product)
    assert set(FP8_FORMATS) == {parse_compute_precision(f) for f in ("e4m3", "float8_e5m2")}
    with pytest.raises(ValueError, match="compute must be a float dtype or an fp8 format"):
        step_trace("ns:polar_express", X.double(), compute="fp4")


@pytest.mark.parametrize(("value", "fmt"), [(1e-37, "fp8_e5m2"), (1e-40, "fp8_e5m2"), (1e-30, "fp8_e4m3")])
def test_fp8_round_of_tiny_finite_inputs_is_finite_and_close(value, fmt):
    """Per-tensor power-of-two scaling makes the format's relative precision independent of the scale:
    every entry within a few orders of amax rounds with relative error ≤ u of the format (2^-3 for e5m2,
    2^-4 for e4m3), whatever amax is, where the old float32 scaling overflowed to NaN."""
    from spectral_la.analysis.low_precision import fp8_round

    t = torch.tensor([[value, value / 2], [value * 3, 0.0]], dtype=torch.float32)
    out = fp8_round(t, fmt)
    assert bool(torch.isfinite(out).all())
    u = 2.0**-3 if fmt == "fp8_e5m2" else 2.0**-4
    nz = t != 0
    rel = ((out[nz].double() - t[nz].double()).abs() / t[nz].double().abs()).max()
    # fp32 subnormals (1e-40) carry their own relative rounding of up to 2^-23·2^149·1e-40 ≈ 6e-6
    assert float(rel) <= u + 1e-5


def test_precision_model_and_trace_refuse_what_they_cannot_measure():
    import numpy as np

    from spectral_la.analysis.low_precision import predicted_error

    for bad in (np.array([np.nan, 0.5]), np.array([-0.5, 0.5]), np.array([])):
        with pytest.raises(ValueError, match="sigma"):
            predicted_error("ns:polar_express", bad, "bf16", (8, 16))
    with pytest.raises(ValueError, match="underflows to zero when stored in fp16"):
        step_trace("ns:polar_express", X.double() * 1e-30, compute="fp16")
    with pytest.raises(ValueError, match="overflows when stored in fp16"):
        step_trace("ns:polar_express", X.double() * 1e30, compute="fp16")
