"""One dtype vocabulary: names and aliases, storage vs compute, and whether bf16 is emulated here.

Every entry point that takes a dtype (the optimizer, the analysis functions, every command
of ``spectral-la``, every sweep grid) parses it with :func:`parse_dtype`, so ``bf16``,
``bfloat16``, ``torch.bfloat16`` and ``np.float16`` mean the same thing everywhere.

Two dtypes describe one measurement:

* the **storage dtype**: what X is rounded to before the routine sees it (a bf16 gradient);
* the **compute dtype**: what the products run in (``compute_dtype=`` of every matmul-only
  routine; ``None`` is the backend's default: fp64/fp32 as stored, bf16/fp16 upcast to fp32).

:func:`precision_label` writes both, and every table, CSV column and figure title uses it.

On a CPU without native bf16 arithmetic a bf16 product is emulated and can be an order of
magnitude slower than fp32; :func:`bf16_is_slow` measures it once per process (a few
milliseconds), so the tools that only need states can pick fp32 and say so.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Literal, overload

import numpy as np
import torch

__all__ = [
    "DTYPE_NAMES",
    "FP8_FORMATS",
    "bf16_is_slow",
    "dtype_name",
    "parse_compute_precision",
    "parse_dtype",
    "precision_label",
    "store",
]

#: canonical name → torch dtype (the float dtypes every routine takes).
DTYPE_NAMES: dict[str, torch.dtype] = {
    "float64": torch.float64,
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}

_ALIASES = {
    "fp64": "float64",
    "f64": "float64",
    "double": "float64",
    "fp32": "float32",
    "f32": "float32",
    "float": "float32",
    "single": "float32",
    "bf16": "bfloat16",
    "fp16": "float16",
    "f16": "float16",
    "half": "float16",
}

_SHORT = {"float64": "fp64", "float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}

#: fp8 formats the precision analysis emulates (products of fp8-rounded operands, fp32 accumulation):
#: name → torch dtype. They are compute precisions only: no routine stores a matrix in fp8.
FP8_FORMATS: dict[str, torch.dtype] = {"fp8_e4m3": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}
_FP8_ALIASES = {"float8_e4m3fn": "fp8_e4m3", "float8_e4m3": "fp8_e4m3", "e4m3": "fp8_e4m3",
                "float8_e5m2": "fp8_e5m2", "e5m2": "fp8_e5m2"}  # fmt: skip


@overload
def parse_dtype(value: Any, name: str = ..., *, allow_none: Literal[False] = ...) -> torch.dtype: ...


@overload
def parse_dtype(value: Any, name: str = ..., *, allow_none: bool) -> torch.dtype | None: ...


def parse_dtype(value: Any, name: str = "dtype", *, allow_none: bool = False) -> torch.dtype | None:
    """The torch dtype of ``value``: a torch or NumPy float dtype, or a name or alias.

    Names: ``float64 fp64 f64 double``, ``float32 fp32 f32 float single``, ``bfloat16 bf16``,
    ``float16 fp16 f16 half``, each also with a ``torch.`` prefix. ``None`` is accepted only
    with ``allow_none`` (the backend's default compute dtype). Anything else raises
    ``ValueError``/``TypeError`` naming ``name`` and listing the accepted names.
    """
    if value is None:
        if allow_none:
            return None
        raise ValueError(f"{name} must be a dtype, got None")
    if isinstance(value, torch.dtype):
        if value not in DTYPE_NAMES.values():
            raise ValueError(f"{name} must be one of {sorted(DTYPE_NAMES)}, got {value}")
        return value
    if isinstance(value, str):
        key = value.strip().lower().removeprefix("torch.").removeprefix("np.").removeprefix("numpy.")
        key = _ALIASES.get(key, key)
        if key in DTYPE_NAMES:
            return DTYPE_NAMES[key]
        names = sorted(DTYPE_NAMES) + sorted(_ALIASES)
        raise ValueError(f"{name}: unknown dtype {value!r}; accepted: {', '.join(names)}")
    try:
        np_dtype = np.dtype(value)
    except TypeError:
        raise TypeError(f"{name} must be a dtype or a dtype name, got {type(value).__name__}") from None
    if np_dtype.name in DTYPE_NAMES and np_dtype.name != "bfloat16":
        return DTYPE_NAMES[np_dtype.name]
    raise ValueError(f"{name} must be one of {sorted(DTYPE_NAMES)}, got NumPy dtype {np_dtype}")


def dtype_name(dtype: Any, *, short: bool = False) -> str:
    """Canonical name (``"bfloat16"``) or short name (``"bf16"``) of a dtype in any accepted form."""
    name = str(parse_dtype(dtype)).removeprefix("torch.")
    return _SHORT[name] if short else name


def parse_compute_precision(value: Any, name: str = "compute") -> str:
    """The short name of a compute precision: a float dtype in any form :func:`parse_dtype` takes
    (``"bf16"``, ``"bfloat16"``, ``torch.bfloat16``, ``"half"`` …) or an fp8 format
    (``"fp8_e4m3"``, ``"float8_e4m3fn"``, ``torch.float8_e5m2``, ``"e5m2"``), as ``"bf16"`` or
    ``"fp8_e4m3"``. Anything else raises ``ValueError`` naming ``name`` and the choices.
    """
    for fmt, dt in FP8_FORMATS.items():
        if value is dt:
            return fmt
    if isinstance(value, str):
        key = value.strip().lower().removeprefix("torch.")
        if key in FP8_FORMATS or key in _FP8_ALIASES:
            return _FP8_ALIASES.get(key, key)
    try:
        return dtype_name(parse_dtype(value, name), short=True)
    except (TypeError, ValueError):
        choices = ", ".join([*_SHORT.values(), *FP8_FORMATS])
        raise ValueError(f"{name} must be a float dtype or an fp8 format ({choices}), got {value!r}") from None


#: The half types, computed in float32 by default (no half-precision SVD, eigh or QR in LAPACK or cuSOLVER).
HALF_TYPES = (torch.float16, torch.bfloat16)


def default_compute(storage: torch.dtype) -> torch.dtype:
    """The compute dtype for ``compute_dtype=None`` (the backend's policy): half types in fp32, others as stored."""
    return torch.float32 if storage in HALF_TYPES else storage


def precision_label(storage: Any, compute: Any = None) -> str:
    """``"storage bf16, compute fp32"``: the two dtypes of one measurement (module docstring)."""
    st = parse_dtype(storage, "storage dtype")
    co = parse_dtype(compute, "compute dtype", allow_none=True)
    co = default_compute(st) if co is None else co
    return f"storage {dtype_name(st, short=True)}, compute {dtype_name(co, short=True)}"


@functools.cache
def bf16_is_slow(threshold: float = 3.0) -> bool:
    """Whether a bf16 product on this CPU takes more than ``threshold``× the fp32 one (measured once).

    Times a 128×512 by 512×128 product in each dtype (best of 3 after a warm-up): a CPU with
    native bf16 runs it at least as fast as fp32, one without emulates it (measured 8-12× slower
    on the CI machine kind). The operand is drawn from a private generator: the probe leaves torch's
    global RNG, and so a seeded user script, untouched.
    """
    a = torch.randn(128, 512, generator=torch.Generator().manual_seed(0))
    times = {}
    for dt in (torch.float32, torch.bfloat16):
        x = a.to(dt)
        x @ x.mT
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            x @ x.mT
            best = min(best, time.perf_counter() - t0)
        times[dt] = best
    return times[torch.bfloat16] > threshold * times[torch.float32]


def store(x: torch.Tensor, storage_dtype: torch.dtype, name: str = "x", hint: str = "") -> torch.Tensor:
    """``x`` rounded to ``storage_dtype``, refusing a finite x the dtype cannot hold.

    Raises ``ValueError`` naming ``name`` when a finite x overflows there (an entry above the dtype's
    largest finite value) or when a nonzero x underflows to zero (every entry below its smallest
    subnormal): what follows would measure inf or nothing, not the method. ``hint`` ends the message
    (what to pass instead).
    """
    stored = x.detach().to(storage_dtype)
    overflow = not bool(torch.isfinite(stored).all()) and bool(torch.isfinite(x).all())
    underflow = not overflow and x.numel() > 0 and bool((stored == 0).all()) and bool((x != 0).any())
    if overflow or underflow:  # the message's numbers are only worked out for it
        info = torch.finfo(storage_dtype)
        largest = float(x.detach().abs().max())
        what = (
            f"overflows when stored in {dtype_name(storage_dtype, short=True)} (largest entry {largest:.3g} > "
            f"{info.max:.3g})"
            if overflow
            else f"underflows to zero when stored in {dtype_name(storage_dtype, short=True)} (largest entry "
            f"{largest:.3g} < {info.smallest_normal * info.eps:.3g})"
        )
        raise ValueError(f"{name} {what}" + (f"; {hint}" if hint else ""))
    return stored
