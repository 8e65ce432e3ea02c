"""No hidden host synchronisation in the matmul-only iterations (CUDA only).

``torch.cuda.set_sync_debug_mode("error")`` turns every device→host sync into an
error; the iterations run with ``check_finite=False`` (the documented opt-out of
the one input check) and fixed step counts must pass under it. (The coupled
roots are not here: they check symmetry and report the final residual, two
documented syncs.)
"""

from __future__ import annotations

import pytest
import torch

import spectral_la as sl

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")]

CALLS = {
    "newton_schulz": lambda x: sl.newton_schulz(x, "polar_express", check_finite=False),
    "newton_schulz_bf16": lambda x: sl.newton_schulz(x, compute_dtype=torch.bfloat16, check_finite=False),
    "newton_schulz_spectral": lambda x: sl.newton_schulz(x, normalize="spectral", check_finite=False),
    "gram_newton_schulz": lambda x: sl.gram_newton_schulz(x, check_finite=False),
    "soften": lambda x: sl.soften(x, 0.3, check_finite=False),
    "muon_p_bivariate": lambda x: sl.muon_p(x, 1 / 3, check_finite=False),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_no_host_sync(name):
    x = torch.randn(4, 64, 256, device="cuda")
    CALLS[name](x)  # warm-up: lazy CUDA initialisation may sync
    torch.cuda.synchronize()
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        CALLS[name](x)
    finally:
        torch.cuda.set_sync_debug_mode(previous)
