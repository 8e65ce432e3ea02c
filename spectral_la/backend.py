"""One algorithm, two execution paths: torch tensors and mpmath numbers.

Every routine of spectral_la is written once against the small set of
operations below (ARCHITECTURE.md, principle 1). :func:`working` inspects the input
and returns a *backend* object ``ops`` together with the input converted to the
backend's working array:

* :class:`TorchOps` -- ``torch.Tensor`` of shape ``(..., m, n)`` on any device.
  **Dtype policy**: float64 computes in float64, float32 in float32, and the
  half types (bfloat16, float16) are upcast to float32 (LAPACK/cuSOLVER have
  no half-precision SVD, eigh or QR); the result is cast back to the input
  dtype. ``ops.unit_roundoff`` is the unit roundoff u of the *compute* dtype
  (``ops.machine_epsilon`` = 2u).
* :class:`MpOps` -- an ``mpmath.matrix`` or a NumPy ``object`` array of mpmath
  numbers with shape ``(..., m, n)`` (batched). Matrix products use NumPy's
  ``@`` on object arrays; decompositions use mpmath (``svd_r``, ``eigsy``,
  ``qr``, ``cholesky``). It runs at the caller's ``mp.prec`` plus
  :data:`GUARD_BITS` guard bits and rounds the result back to ``mp.prec``; ``ops.unit_roundoff``
  is the working precision's unit roundoff.

Scalars that drive an iteration (weights, interval ends) are host numbers:
Python floats for torch (so no device synchronisation), ``mpf`` for mpmath.
``ops.host_math`` is the scalar math module for them (:mod:`math` or ``mpmath.mp``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Protocol

import mpmath
import numpy as np
import torch

from spectral_la.backend_mpmath import GUARD_BITS, MpArray, MpOps, as_mp, round_to_precision, to_object
from spectral_la.backend_torch import TorchOps
from spectral_la.dtypes import default_compute, parse_dtype
from spectral_la.validation import check_finite, check_matrix_shape

__all__ = ["GUARD_BITS", "MpArray", "MpOps", "Ops", "TorchOps", "sigma_batch", "to_float64_tensor", "working"]


class Ops(Protocol):
    """The backend contract: everything an algorithm may ask of its numbers (ARCHITECTURE.md).

    Arrays have shape ``(..., m, n)`` and support ``@``, ``.mT``, slicing and
    elementwise ``+ − × ÷`` with each other and with host scalars; everything
    else goes through these methods, so no algorithm asks which kind it holds.
    Implementations: :class:`TorchOps` (any device and dtype) and :class:`MpOps`
    (mpmath numbers, python-flint kernels).
    """

    @property
    def kind(self) -> str: ...  # "torch" or "mpmath": read by the backend alone
    @property
    def host_math(self) -> Any: ...  # the math module for host scalars: math or mpmath.mp

    @property
    def unit_roundoff(self) -> Any: ...  # u = 2^-t of the compute precision (never a regulariser)
    @property
    def machine_epsilon(self) -> Any: ...  # 2u, the spacing of floats at 1: rank and symmetry tolerances

    def eye(self, n: int) -> Any: ...
    def scalar(self, v: Any) -> Any: ...
    def where(self, cond: Any, a: Any, b: Any) -> Any: ...
    def sqrt(self, x: Any) -> Any: ...
    def rsqrt(self, x: Any) -> Any: ...
    def maximum(self, x: Any, v: Any) -> Any: ...
    def power(self, x: Any, p: Any) -> Any: ...
    def arcsin(self, x: Any) -> Any: ...
    def pow2_scale(self, x: Any) -> tuple[Any, Any]: ...
    def mul_pow2(self, y: Any, t: Any) -> Any: ...
    def fro(self, x: Any, *, prescaled: bool = False, float64: bool = False) -> Any: ...
    def row_abs_sums(self, x: Any) -> Any: ...  # Σⱼ|xᵢⱼ| per row, shape (..., m, 1)
    def unscaled_fro(self, x: Any, *, float64: bool = False, squared: bool = False) -> Any: ...  # ‖X‖_F or None
    def norm1_inf(self, x: Any) -> tuple[Any, Any]: ...
    def batch_max(self, x: Any) -> Any: ...
    def batch_min(self, x: Any) -> Any: ...
    def randn(self, shape: tuple, seed: int = 0) -> Any: ...
    def is_positive_definite(self, a: Any) -> bool: ...
    def cat_rows(self, a: Any, b: Any) -> Any: ...
    def stack(self, arrays: Any) -> Any: ...  # along a new leading batch axis
    def addmm(self, c: Any, a: Any, b: Any, beta: Any, alpha: Any = 1) -> Any: ...
    def gram(self, x: Any) -> Any: ...  # X Xᵀ (a symmetric kernel where one pays)
    def gram_addmm(self, a: Any, beta: Any, alpha: Any) -> Any: ...  # βA + αA², A symmetric
    def diagonal(self, x: Any) -> Any: ...
    def lerp(self, a: Any, b: Any, w: Any) -> Any: ...
    def flip_last(self, x: Any) -> Any: ...
    def svd(self, x: Any) -> tuple[Any, Any, Any]: ...
    def eigh(self, a: Any) -> tuple[Any, Any]: ...
    def qr(self, x: Any) -> tuple[Any, Any]: ...
    def solve_spd_right(self, x: Any, m: Any) -> Any: ...
    def inv_upper(self, r: Any) -> Any: ...
    def changes_precision(self, compute_dtype: Any) -> bool: ...  # would compute_dtype round the working array?
    def for_products(self, x: Any) -> Any: ...  # representation for a product-bound loop (@, .mT, addmm, × scalar)
    def from_products(self, x: Any) -> Any: ...  # back to the general array
    def guard(self) -> contextlib.AbstractContextManager: ...


Working = tuple["Ops", Any, Callable[[Any], Any]]


def sigma_batch(sigma: Any) -> Working:
    """Scalar-map inputs as a batch of 1 × 1 matrices: ``(ops, x, restore)`` for every kind of σ.

    A scalar map runs the matrix iteration itself on 1 × 1 matrices (ARCHITECTURE.md,
    principle 1), so every map accepts the same σ and returns the same kind:

    * ``torch.Tensor`` (any shape, evaluated in its dtype) → tensor of that shape;
    * NumPy float array → NumPy array of that shape and dtype;
    * an mpmath number, a Python number, or a sequence / object array of them →
      evaluated at ``mp.prec`` (plus guard bits; run the iteration inside
      ``ops.guard()``): a scalar gives a scalar, a sequence a list.
    """
    if isinstance(sigma, torch.Tensor) or (isinstance(sigma, np.ndarray) and sigma.dtype != object):
        shape = tuple(sigma.shape)
        flat = sigma.reshape(-1, 1, 1)
        if flat.shape[0] == 0:
            raise ValueError("sigma is empty")
        ops, x, restore = working(flat, "sigma")
        return ops, x, lambda y: restore(y).reshape(shape)
    single = not isinstance(sigma, (list, tuple, np.ndarray))
    values = [sigma] if single else list(np.asarray(sigma, dtype=object).reshape(-1))
    if not values:
        raise ValueError("sigma is empty")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, mpmath.mpf, np.floating, np.integer)):
            raise TypeError(f"sigma must hold real numbers, got {type(v).__name__}")
    arr = np.array([mpmath.mpf(v) for v in values], dtype=object).reshape(-1, 1, 1)
    ops, x, restore = working(arr, "sigma")

    def back(y: Any) -> Any:
        flat = list(np.asarray(restore(y)).reshape(-1))
        return flat[0] if single else flat

    return ops, x, back


def working(
    x: Any,
    name: str = "X",
    *,
    square: bool = False,
    compute_dtype: torch.dtype | None = None,
    check_finite_entries: bool = True,
) -> Working:
    """Validate ``x`` and return ``(ops, array, restore)``.

    ``array`` is ``x`` in the backend's compute representation and
    ``restore(y)`` turns a result of the same kind back into the caller's type
    (torch dtype, NumPy float array of the input dtype, or ``mpmath.matrix``
    rounded to the caller's precision).
    Raises ``TypeError`` for unsupported types and complex or integer dtypes,
    ``ValueError`` for fewer than 2 dims, empty matrix dims, non-square input
    when ``square`` is set, and non-finite entries (unless
    ``check_finite_entries`` is False: that check costs one host
    synchronisation on a GPU). ``compute_dtype`` overrides the torch compute
    dtype (the default policy is in the module docstring).
    """
    if isinstance(x, np.ndarray) and x.dtype != object:
        # SciPy users pass NumPy arrays first: float16/32/64 run on the torch CPU path and
        # come back as NumPy arrays of the input dtype.
        if x.dtype.kind != "f" or x.dtype not in (np.float16, np.float32, np.float64):
            raise TypeError(
                f"{name} must be a real floating-point array (float16, float32 or float64), got dtype {x.dtype}; "
                "for higher precision pass an mpmath matrix"
            )
        ops, arr, restore_t = working(
            torch.from_numpy(np.ascontiguousarray(x)),
            name,
            square=square,
            compute_dtype=compute_dtype,
            check_finite_entries=check_finite_entries,
        )
        return ops, arr, lambda y: restore_t(y).detach().numpy()
    if isinstance(x, torch.Tensor):
        if x.is_complex() or not x.is_floating_point():
            raise TypeError(f"{name} must be a real floating-point tensor, got dtype {x.dtype}")
        check_matrix_shape(tuple(x.shape), name, square=square)
        if check_finite_entries:
            check_finite(bool(torch.isfinite(x).all()), name)
        if compute_dtype is None:
            compute = default_compute(x.dtype)
        else:  # a torch dtype or a name the one parser takes ("bf16", "bfloat16", "float32", "half", …)
            try:
                compute = parse_dtype(compute_dtype, "compute_dtype")
            except (TypeError, ValueError):
                raise TypeError(
                    f"compute_dtype must be a real floating dtype (torch.float32, 'fp32', 'bf16', …), "
                    f"got {compute_dtype!r}"
                ) from None
        ops = TorchOps(compute, x.device)
        dtype = x.dtype
        return ops, x.to(compute), lambda y: y.to(dtype)
    if compute_dtype is not None:
        raise TypeError("compute_dtype applies to torch tensors only; the mpmath path runs at mp.prec")
    if isinstance(x, mpmath.matrix):
        arr = to_object(x)
        was_matrix = True
    elif isinstance(x, np.ndarray) and x.dtype == object:
        arr, was_matrix = x, False
    else:
        raise TypeError(
            f"{name} must be a torch.Tensor, a NumPy float array, an mpmath.matrix or a NumPy object array of "
            "mpmath numbers, "
            f"got {type(x).__name__}"
        )
    check_matrix_shape(arr.shape, name, square=square)
    flat = arr.reshape(-1)
    if any(isinstance(v, (mpmath.mpc, complex)) for v in flat):
        raise TypeError(f"{name} must be real; complex entries are not supported")
    try:
        arr = np.vectorize(mpmath.mpf, otypes=[object])(arr)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} has entries that are not real numbers: {exc}") from None
    check_finite(all(mpmath.isfinite(v) for v in arr.reshape(-1)), name)

    def restore(y: np.ndarray) -> Any:
        y = round_to_precision(np.asarray(y))
        if was_matrix and y.ndim == 2:
            return mpmath.matrix(y.tolist())
        return y

    return MpOps(), as_mp(arr), restore


def to_float64_tensor(x: Any) -> torch.Tensor:
    """Any array the package takes (torch, NumPy, mpmath.matrix, object array of mpf) as a float64 CPU tensor.

    For measurements that compare results of both paths in one precision (the analysis layer).
    """
    if isinstance(x, torch.Tensor):
        return x.detach().double().cpu()
    if isinstance(x, mpmath.matrix):
        x = to_object(x)
    arr = np.asarray(x)
    if arr.dtype == object:
        arr = np.vectorize(float, otypes=[np.float64])(arr)
    return torch.from_numpy(np.asarray(arr, dtype=np.float64).copy())
