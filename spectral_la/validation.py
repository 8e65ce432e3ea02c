"""Argument checks shared by the public functions: clear errors naming the argument."""

from __future__ import annotations

import decimal as _decimal
import math
import numbers
from typing import Any

__all__ = [
    "parse_shape",
    "MAX_STEPS",
    "check_finite",
    "check_result_finite",
    "check_int",
    "check_same_kind",
    "check_matrix_shape",
    "check_real",
    "check_in_range",
]

#: Upper bound on any step or iteration count: far beyond every schedule in use
#: (≤ 20 steps), small enough that a typo such as steps=10**10 fails at once.
MAX_STEPS = 10_000


def check_matrix_shape(shape: tuple[int, ...], name: str, *, square: bool = False) -> None:
    """Require ``(..., m, n)`` with every dimension non-empty (and m == n if ``square``)."""
    if len(shape) < 2:
        raise ValueError(f"{name} must have at least 2 dimensions (..., m, n), got shape {tuple(shape)}")
    if any(d == 0 for d in shape):
        raise ValueError(f"{name} has an empty dimension: shape {tuple(shape)}")
    if square and shape[-1] != shape[-2]:
        raise ValueError(f"{name} must be square in its last two dimensions, got shape {tuple(shape)}")


def check_result_finite(result: Any, name: str) -> None:
    """Raise :class:`~spectral_la.errors.ResultOverflowError` if a torch/NumPy result overflowed its dtype.

    The exact maps whose values can exceed the input's scale (inverse roots,
    C⁻¹, H of the polar decomposition) call this once on their final result
    (one host synchronisation), so a result beyond the dtype's range is a
    clear error instead of a silent Inf.
    """
    import numpy as np
    import torch

    from spectral_la.errors import ResultOverflowError

    if isinstance(result, torch.Tensor):
        ok = bool(torch.isfinite(result).all())
        dtype = result.dtype
    elif isinstance(result, np.ndarray) and result.dtype != object:
        ok = bool(np.isfinite(result).all())
        dtype = result.dtype
    else:
        return  # mpmath numbers do not overflow
    if not ok:
        raise ResultOverflowError(
            f"{name} overflows {dtype}: the exact result exceeds the dtype's largest value; "
            "pass the input in a wider dtype (e.g. float64)"
        )


def check_finite(all_finite: bool, name: str) -> None:
    if not all_finite:
        raise ValueError(f"{name} has non-finite entries (NaN or Inf)")


def check_real(value: Any, name: str) -> float:
    """A real, finite scalar (Python/NumPy number, Fraction, Decimal or mpmath mpf); bool is rejected."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | _decimal.Decimal) and not _is_mpf(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if _is_mpf(value):
        import mpmath

        finite = mpmath.isfinite(value)
    else:
        finite = math.isfinite(float(value))
    if not finite:
        raise ValueError(f"{name} must be finite, got {value}")
    return value


#: Most entries one sweep input may have (2^26: 512 MiB in float64, several times that during the run).
MAX_GRID_ELEMENTS = 1 << 26


def parse_shape(
    value: Any,
    name: str,
    *,
    min_dims: int = 2,
    max_dims: int = 2,
    max_size: int = 1 << 16,
    max_elements: int = MAX_GRID_ELEMENTS,
) -> tuple:
    """A shape written ``"MxN"`` (or ``"BxMxN"`` where ``max_dims`` allows), each dim in [1, max_size].

    The product of the dims is capped at ``max_elements`` too, so a grid is refused before a task
    tries to allocate terabytes.
    """
    try:
        dims = tuple(int(v) for v in str(value).lower().replace(" ", "").split("x"))
    except ValueError:
        raise ValueError(f"{name} must look like 64x64, got {value!r}") from None
    if not min_dims <= len(dims) <= max_dims or any(not 1 <= d <= max_size for d in dims):
        raise ValueError(
            f"{name} must have {min_dims}–{max_dims} dims, each in [1, {max_size}], got {value!r}"
            if max_dims > min_dims
            else f"{name} must be MxN with each dim in [1, {max_size}], got {value!r}"
        )
    if math.prod(dims) > max_elements:
        raise ValueError(f"{name} {value!r} has {math.prod(dims)} entries, more than the {max_elements} allowed")
    return dims


def check_same_kind(a: Any, b: Any, name_a: str, name_b: str) -> None:
    """Require two array arguments of one type and dtype (a TypeError naming both otherwise)."""
    if type(a) is not type(b) or getattr(a, "dtype", None) != getattr(b, "dtype", None):
        raise TypeError(
            f"{name_a} and {name_b} must be of one kind and dtype, got {type(a).__name__} {getattr(a, 'dtype', '')} "
            f"and {type(b).__name__} {getattr(b, 'dtype', '')}"
        )


def check_int(value: Any, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """An integer (Python or NumPy, not bool) in [lo, hi], returned as a Python int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} must be an int in [{lo}, {'∞' if hi is None else hi}], got {value}")
    return value


def check_in_range(
    value: Any, name: str, lo: float | None, hi: float | None, *, lo_open: bool = False, hi_open: bool = False
) -> Any:
    """Check ``value`` is real, finite and lies in the given interval."""
    check_real(value, name)
    too_low = lo is not None and (value <= lo if lo_open else value < lo)
    too_high = hi is not None and (value >= hi if hi_open else value > hi)
    if too_low or too_high:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        interval = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return value


def _is_mpf(value: Any) -> bool:
    import mpmath

    return isinstance(value, mpmath.mpf)
