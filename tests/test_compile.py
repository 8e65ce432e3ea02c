"""torch.compile(fullgraph=True) accepts the matmul-only iterations (no graph breaks, no host syncs).

Slow on CPU (compilation takes ~30 s): run with ``-m slow``.
"""

from __future__ import annotations

import pytest
import torch

import spectral_la as sl

FUNCTIONS = {
    "newton_schulz": lambda x: sl.newton_schulz(x, "polar_express", check_finite=False),
    "gram_newton_schulz": lambda x: sl.gram_newton_schulz(x, check_finite=False),
    "soften": lambda x: sl.soften(x, 0.3, check_finite=False),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_fullgraph_compile_matches_eager(name):
    fn = FUNCTIONS[name]
    x = torch.randn(4, 32, 96, generator=torch.Generator().manual_seed(0))
    compiled = torch.compile(fn, fullgraph=True)
    # Fused kernels reorder fp32 sums: differences of order n·u·A (A ≤ 1e3, tests/test_newton_schulz).
    torch.testing.assert_close(compiled(x), fn(x), rtol=0, atol=96 * 6e-8 * 1e3)
