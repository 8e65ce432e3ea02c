"""Shared fixtures: clean global state, device parametrisation, mpmath references."""

from __future__ import annotations

import mpmath
import pytest
import torch


@pytest.fixture(autouse=True)
def _reset_global_state():
    """Reset mpmath precision and torch matmul flags around every test (STYLE.md, lesson 8)."""
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
