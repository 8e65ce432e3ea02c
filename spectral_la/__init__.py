"""spectral_la: spectral matrix functions of matrix optimizers, exact and matmul-only.

Every function accepts a torch tensor of shape (..., m, n) (any device; fp64,
fp32, bf16, fp16) or an mpmath matrix / NumPy object array of mpmath numbers,
and returns the same kind. See ``spectral_la.backend`` for the two execution
paths and the dtype policy.

The package is the one import name the toolkit installs: the core modules live here, and the
measurement, figure, benchmark and command-line layers are its subpackages
``spectral_la.analysis``, ``spectral_la.figures``, ``spectral_la.benchmarks`` and
``spectral_la.lab``. The public names below are loaded on first use, so that
``spectral-la --help`` and ``import spectral_la.lab.cli`` do not import torch.
"""

import lazy_loader as _lazy

# the names of __init__.pyi, each imported from its module on first use; a public function keeps its
# name when its module of the same name is imported (``spectral_la.polar`` is the function ``polar``)
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)

__version__ = "0.1.0"
