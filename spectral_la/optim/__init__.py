"""Matrix optimizers that take any orthogonaliser of spectral_la (a spec), and a capture hook.

``Muon`` keeps torch.optim.Muon's arguments (a drop-in); ``NorMuon``, ``Dion2`` and ``NorDion2``
keep microsoft/dion's (drop-ins for its single-process use). Each optimizer is a thin
``torch.optim.Optimizer`` over pure step functions in :mod:`spectral_la.optim.functional`
(momentum, orthogonalisation by a spec, learning-rate adjustment, the checked step), so the
optimizers share one definition of each piece.
"""

from spectral_la.optim.capture import Capture
from spectral_la.optim.dion2 import Dion2
from spectral_la.optim.muon import TORCH_MUON_NORMALIZATION, Muon, SlowComputeWarning, torch_muon_spec
from spectral_la.optim.nordion2 import NorDion2
from spectral_la.optim.normuon import NorMuon
from spectral_la.optim.softening import SofteningSchedule, parse_softening

#: the optimizers by the name ``spectral-la capture --optimizer`` and the analysis take
OPTIMIZERS = {"muon": Muon, "normuon": NorMuon, "dion2": Dion2, "nordion2": NorDion2}

__all__ = [
    "OPTIMIZERS",
    "TORCH_MUON_NORMALIZATION",
    "Capture",
    "Dion2",
    "Muon",
    "NorDion2",
    "NorMuon",
    "SlowComputeWarning",
    "SofteningSchedule",
    "parse_softening",
    "torch_muon_spec",
]
