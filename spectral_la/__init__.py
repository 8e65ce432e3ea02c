"""spectral_la: spectral matrix functions of matrix optimizers, exact and matmul-only.

Every function accepts a torch tensor of shape (..., m, n) (any device; fp64,
fp32, bf16, fp16) or an mpmath matrix / NumPy object array of mpmath numbers,
and returns the same kind. See ``spectral_la._backend`` for the two execution
paths and the dtype policy.
"""

from spectral_la.errors import LinAlgError, NotConvergedError, NotPositiveSemidefiniteError, SingularMatrixError
from spectral_la.fractional_power import fractional_power
from spectral_la.inverse_root import inverse_root
from spectral_la.polar import polar
from spectral_la.qdwh import QDWHResult, qdwh

__all__ = [
    "LinAlgError",
    "NotConvergedError",
    "NotPositiveSemidefiniteError",
    "QDWHResult",
    "SingularMatrixError",
    "fractional_power",
    "inverse_root",
    "polar",
    "qdwh",
]

__version__ = "0.1.0"
