"""Matrix optimizers that take any orthogonaliser of spectral_la (a spec), and a capture hook.

``Muon`` keeps torch.optim.Muon's arguments (a drop-in). Each optimizer is a thin
``torch.optim.Optimizer`` over pure step functions in :mod:`spectral_la.optim.functional`
(momentum, orthogonalisation by a spec, learning-rate adjustment, the checked step), so the
optimizers share one definition of each piece.
"""

from spectral_la.optim.capture import Capture
from spectral_la.optim.muon import TORCH_MUON_NORMALIZATION, Muon, SlowComputeWarning, torch_muon_spec

__all__ = ["TORCH_MUON_NORMALIZATION", "Capture", "Muon", "SlowComputeWarning", "torch_muon_spec"]
