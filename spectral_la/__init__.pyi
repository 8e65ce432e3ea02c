# The public API of spectral_la, loaded on first use (lazy_loader.attach_stub reads this file; type
# checkers read it as the package's interface). A name added here is exported; nothing else is.
from .certify import CertifiedBound, certify
from .coupled_inverse_root import RootResult, coupled_inverse_root, coupled_sqrt
from .design import DesignResult, design_schedule, load_schedule, save_schedule
from .eigenbasis import EigenbasisTracker, subspace_angles
from .errors import (
    DivergedError,
    LinAlgError,
    NotConvergedError,
    NotPositiveSemidefiniteError,
    ResultOverflowError,
    SingularMatrixError,
)
from .fractional_power import fractional_power, msign
from .gram_newton_schulz import gram_newton_schulz
from .inverse_root import inverse_root
from .muon_p import muon_p, muon_p_scalar_map
from .newton_schulz import newton_schulz, scalar_map
from .normalization import Normalization, normalize
from .optim import Capture, Muon
from .partner_whitening import isotropic_inverse_root, partner_gram_roots, whitened_direction
from .polar import polar
from .qdwh import QDWHResult, qdwh
from .schedules import Schedule, schedules
from .soften import soften, soften_scalar_map, soften_target_map
from .spec import Spec, parse_spec
from .zolo_pd import zolo_pd

__all__ = [
    "Capture",
    "CertifiedBound",
    "DesignResult",
    "DivergedError",
    "EigenbasisTracker",
    "LinAlgError",
    "Muon",
    "Normalization",
    "NotConvergedError",
    "NotPositiveSemidefiniteError",
    "QDWHResult",
    "ResultOverflowError",
    "RootResult",
    "Schedule",
    "SingularMatrixError",
    "Spec",
    "certify",
    "coupled_inverse_root",
    "coupled_sqrt",
    "design_schedule",
    "fractional_power",
    "gram_newton_schulz",
    "inverse_root",
    "isotropic_inverse_root",
    "load_schedule",
    "msign",
    "muon_p",
    "muon_p_scalar_map",
    "newton_schulz",
    "normalize",
    "parse_spec",
    "partner_gram_roots",
    "polar",
    "qdwh",
    "save_schedule",
    "scalar_map",
    "schedules",
    "soften",
    "soften_scalar_map",
    "soften_target_map",
    "subspace_angles",
    "whitened_direction",
    "zolo_pd",
]
