"""Error of a method against its exact reference, split into approximation and rounding.

For an input X (torch, any dtype) and a method F with exact counterpart R
(ARCHITECTURE.md, principle 3):

* R(X) and F(X) are computed in mpmath at ``dps`` digits from the exact value
  of X: ``approximation = F_mp − R_mp`` is the method's own error;
* F(X) in the input's dtype/device gives ``rounding = F_dtype − F_mp``;
* ``total = F_dtype − R_mp`` = approximation + rounding.

Each is reported relative to ‖R‖ in the Frobenius and spectral norms, and
per singular value of X: with X = U Σ Vᵀ (mpmath SVD), the diagonal
uᵢᵀ(·)vᵢ of each error and the off-diagonal leakage. For polar-type targets
the orthogonality defect ‖FᵀF − I‖_F (small side) of the dtype result is
added. For methods whose mpmath run is a product loop (the Newton–Schulz family),
``approximation_run_radius`` certifies that run: python-flint's ball arithmetic
bounds its distance from the same loop in exact arithmetic. The mpmath runs cost
O(T·n³) operations at ``dps`` digits (python-flint kernels; n of a few hundred is fine).
"""

from __future__ import annotations

from typing import Any

import mpmath
import torch

from spectral_la import mp_kernels
from spectral_la.analysis.methods import Method, method
from spectral_la.backend import to_float64_tensor
from spectral_la.dtypes import precision_label
from spectral_la.validation import check_int

__all__ = ["error_report"]


def _to_torch(m: Any) -> torch.Tensor:
    return to_float64_tensor(m)


def _norms(e: torch.Tensor, ref_fro: float, ref_spec: float) -> dict:
    return {
        "fro": float(torch.linalg.matrix_norm(e)) / ref_fro,
        "spectral": float(torch.linalg.matrix_norm(e, 2)) / ref_spec,
    }


def error_report(spec: str | Method, X: Any, *, dps: int = 30, compute_dtype: Any = None) -> dict:
    """Approximation / rounding / total error of ``spec`` on the 2-D matrix X (module docstring).

    X: a torch tensor or NumPy float array (its dtype is the storage dtype of the rounding run).
    """
    m = method(spec)
    x_exact = to_float64_tensor(X)
    if x_exact.ndim != 2:
        raise ValueError(f"X must be a 2-D matrix, got shape {tuple(x_exact.shape)}")
    dps = check_int(dps, "dps", 15, 2000)  # below 15 digits the "exact" run is no more exact than float64
    with mpmath.workdps(dps):
        xm = mpmath.matrix(x_exact.tolist())
        ref = _to_torch(m.exact(xm))
        with mp_kernels.track_radius() as tracker:
            approx_mp = _to_torch(m.apply(xm))
        u, s, vh = mpmath.svd_r(xm, full_matrices=False)
        u_t, v_t = _to_torch(u), _to_torch(vh).T
        sigma = [float(s[i]) for i in range(len(s))]
    kwargs = {"compute_dtype": compute_dtype} if (m.matmul_only and compute_dtype is not None) else {}
    y = _to_torch(m.apply(X, **kwargs))
    ref_fro = float(torch.linalg.matrix_norm(ref)) or 1.0
    ref_spec = float(torch.linalg.matrix_norm(ref, 2)) or 1.0
    parts = {"approximation": approx_mp - ref, "rounding": y - approx_mp, "total": y - ref}
    report: dict = {
        "method": m.name,
        "shape": tuple(X.shape),
        "dtype": str(X.dtype).removeprefix("torch."),
        "precision": precision_label(X.dtype, compute_dtype),
        "dps": dps,
        "sigma": sigma,
        # rigorous entrywise bound on the mpmath run's own arithmetic error in its product loops
        # (ball arithmetic, mp_kernels.track_radius); None where the method has no such loop
        "approximation_run_radius": tracker.radius if tracker.loops else None,
    }
    for name, e in parts.items():
        proj = u_t.T @ e @ v_t
        diag = torch.diagonal(proj)
        report[name] = {
            **_norms(e, ref_fro, ref_spec),
            "per_sigma": diag.tolist(),
            "leakage": float((proj - torch.diag(diag)).abs().max()),
        }
    if m.spec.orthogonal_target:  # a polar-type target: report ‖FFᵀ − I‖_F on the small side
        small = y if y.shape[0] <= y.shape[1] else y.T
        eye = torch.eye(small.shape[0], dtype=y.dtype)
        report["orthogonality_defect"] = float(torch.linalg.matrix_norm(small @ small.T - eye))
    return report
