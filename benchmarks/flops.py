"""The FLOP count of one call, for the limit column: products counted exactly, decompositions by the textbook.

* Products (``mm``, ``addmm``, ``bmm``, ``baddbmm``, ``matmul``): 2mkn each, from torch's
  ``FlopCounterMode``, plus the CPU BLAS route's own tally (``?syrk`` m(m+1)n, ``?gemm`` 2mkn,
  :func:`spectral_la.symmetric_products.blas_flops`), which torch cannot see. A symmetric
  product therefore counts the flops it executes, about half of the general product's.
* Decompositions (LAPACK), by Golub & Van Loan, *Matrix Computations* (4th ed.), §5.2, §8.6
  and Fig. 8.6.1, for an m × n input with m ≥ n (counts are symmetric in the orientation):
  thin SVD with U₁, V: R-SVD 6mn² + 20n³ when m ≥ 5n/3, else Golub–Reinsch 14mn² + 8n³;
  singular values only: 4mn² − 4n³/3; symmetric eigendecomposition with vectors 9n³, values
  only 4n³/3; Householder QR with the thin Q formed 4mn² − 4n³/3; Cholesky n³/3; a
  triangular solve with k right-hand sides n²k; a Cholesky solve 2n²k.

These are the flops a routine does, not a cost model: a row's ``of_matmul_rate`` is then how
close its achieved rate comes to the machine's own measured product rate in the same dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from spectral_la import symmetric_products

__all__ = ["count_flops"]

aten = torch.ops.aten


def _mn(shape) -> tuple[int, int, int]:
    *batch, m, n = shape
    return math.prod(batch), max(m, n), min(m, n)


def _svd(a_shape, full_matrices=True, compute_uv=True, *args, out_shape=None, **kwargs) -> int:
    b, m, n = _mn(a_shape)
    if not compute_uv:
        return b * round(4 * m * n * n - 4 * n**3 / 3)
    return b * (6 * m * n * n + 20 * n**3 if 3 * m >= 5 * n else 14 * m * n * n + 8 * n**3)


def _eigh(a_shape, *args, out_shape=None, **kwargs) -> int:
    b, n, _ = _mn(a_shape)
    vectors = kwargs.get("compute_v", args[1] if len(args) > 1 else True)
    return b * (9 * n**3 if vectors else round(4 * n**3 / 3))


def _qr(a_shape, *args, out_shape=None, **kwargs) -> int:
    b, m, n = _mn(a_shape)
    return b * round(4 * m * n * n - 4 * n**3 / 3)


def _cholesky(a_shape, *args, out_shape=None, **kwargs) -> int:
    b, n, _ = _mn(a_shape)
    return b * round(n**3 / 3)


def _triangular(a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    n = a_shape[-1]
    k = b_shape[-1] if kwargs.get("left", True) else b_shape[-2]
    return math.prod(out_shape[:-2]) * n * n * k


def _cholesky_solve(b_shape, l_shape, *args, out_shape=None, **kwargs) -> int:
    return math.prod(out_shape[:-2]) * 2 * l_shape[-1] ** 2 * b_shape[-1]


_DECOMPOSITIONS = {
    aten._linalg_svd: _svd,
    aten._linalg_eigh: _eigh,
    aten.linalg_qr: _qr,
    aten.linalg_cholesky_ex: _cholesky,
    aten.linalg_solve_triangular: _triangular,
    aten.cholesky_solve: _cholesky_solve,
}


def count_flops(fn: Callable) -> int:
    """FLOPs of one call of ``fn`` (products exactly, decompositions by the counts above)."""
    symmetric_products.blas_available()  # the one-time ?syrk self-check runs outside the count
    with symmetric_products.blas_flops() as tally, FlopCounterMode(display=False, custom_mapping=_DECOMPOSITIONS) as c:
        fn()
    return int(c.get_total_flops()) + tally[0]
