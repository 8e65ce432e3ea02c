"""spectral_la: spectral matrix functions of matrix optimizers, exact and matmul-only.

Every function accepts a torch tensor of shape (..., m, n) (any device; fp64,
fp32, bf16, fp16) or an mpmath matrix / NumPy object array of mpmath numbers,
and returns the same kind. See ``spectral_la.backend`` for the two execution
paths and the dtype policy.
"""

from spectral_la.certify import CertifiedBound, certify
from spectral_la.coupled_inverse_root import RootResult, coupled_inverse_root, coupled_sqrt
from spectral_la.design import DesignResult, design_schedule, load_schedule, save_schedule
from spectral_la.eigenbasis import EigenbasisTracker, subspace_angles
from spectral_la.errors import (
    DivergedError,
    LinAlgError,
    NotConvergedError,
    NotPositiveSemidefiniteError,
    ResultOverflowError,
    SingularMatrixError,
)
from spectral_la.fractional_power import fractional_power, msign
from spectral_la.gram_newton_schulz import gram_newton_schulz
from spectral_la.inverse_root import inverse_root
from spectral_la.muon_p import muon_p, muon_p_scalar_map
from spectral_la.newton_schulz import newton_schulz, scalar_map
from spectral_la.normalization import Normalization, normalize
from spectral_la.partner_whitening import isotropic_inverse_root, partner_gram_roots, whitened_direction
from spectral_la.polar import polar
from spectral_la.qdwh import QDWHResult, qdwh
from spectral_la.schedules import Schedule, schedules
from spectral_la.soften import soften, soften_scalar_map, soften_target_map
from spectral_la.zolo_pd import zolo_pd

__all__ = [
    "CertifiedBound",
    "DesignResult",
    "certify",
    "design_schedule",
    "load_schedule",
    "save_schedule",
    "DivergedError",
    "LinAlgError",
    "EigenbasisTracker",
    "Normalization",
    "isotropic_inverse_root",
    "partner_gram_roots",
    "subspace_angles",
    "whitened_direction",
    "RootResult",
    "coupled_inverse_root",
    "coupled_sqrt",
    "muon_p",
    "muon_p_scalar_map",
    "Schedule",
    "gram_newton_schulz",
    "newton_schulz",
    "normalize",
    "scalar_map",
    "schedules",
    "soften",
    "soften_scalar_map",
    "soften_target_map",
    "NotConvergedError",
    "NotPositiveSemidefiniteError",
    "QDWHResult",
    "ResultOverflowError",
    "SingularMatrixError",
    "fractional_power",
    "msign",
    "inverse_root",
    "polar",
    "qdwh",
    "zolo_pd",
]

__version__ = "0.1.0"
