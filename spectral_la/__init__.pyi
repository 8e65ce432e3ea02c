# The public API of spectral_la, loaded on first use (lazy_loader.attach_stub reads this file; type
# checkers read it as the package's interface). A name added here is exported; nothing else is.
from .certify import CertifiedBound, certify
from .coupled_inverse_root import RootResult, coupled_inverse_root, coupled_sqrt
from .design import DesignResult, design_schedule
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
from .optim import OPTIMIZERS, Capture, Dion2, Muon, NorDion2, NorMuon
from .partner_whitening import isotropic_inverse_root, partner_gram_roots, whitened_direction
from .polar import polar
from .polar_driver import PolarResult
from .qdwh import QDWHResult, qdwh
from .schedule_files import load_schedule, save_schedule
from .schedules import Schedule, schedules
from .soften import soften, soften_scalar_map, soften_target_map
from .spec import ExactSpec, Grammar, MuonPSpec, NewtonSchulzSpec, SoftenSpec, Spec, parse_spec, spec_kinds
from .zolo_pd import zolo_pd

__all__ = [
    "OPTIMIZERS",
    "Capture",
    "CertifiedBound",
    "DesignResult",
    "Dion2",
    "DivergedError",
    "EigenbasisTracker",
    "ExactSpec",
    "Grammar",
    "LinAlgError",
    "Muon",
    "MuonPSpec",
    "NewtonSchulzSpec",
    "NorDion2",
    "NorMuon",
    "Normalization",
    "NotConvergedError",
    "NotPositiveSemidefiniteError",
    "PolarResult",
    "QDWHResult",
    "ResultOverflowError",
    "RootResult",
    "Schedule",
    "SingularMatrixError",
    "SoftenSpec",
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
    "spec_kinds",
    "subspace_angles",
    "whitened_direction",
    "zolo_pd",
]
