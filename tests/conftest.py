"""Shared fixtures: clean global state, device parametrisation, mpmath references."""

from __future__ import annotations

import os

import mpmath
import pytest
import torch
from hypothesis import settings

# Property tests draw the same examples on every run (CI must not turn red by chance);
# run with HYPOTHESIS_PROFILE=explore to search new examples locally.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _reset_global_state():
    """Reset mpmath precision and torch matmul flags around every test: no test leaks a global setting."""
    mpmath.mp.dps = 15
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    yield
    mpmath.mp.dps = 15


def _devices():
    yield "cpu"
    yield pytest.param(
        "cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")]
    )


@pytest.fixture(params=list(_devices()))
def device(request):
    """``cpu`` always; ``cuda`` (marked ``cuda``) where a GPU exists."""
    return torch.device(request.param)
