"""The normalisation kinds side by side: what σ̂₁ = σ₁(X₀) they give (how much of a schedule's design
interval the input uses) and what they cost in products beyond the iteration's own.

Cost: the products of :func:`spectral_la.normalization.normalize_with_gram`, counted by torch's
``FlopCounterMode`` (2mkn per product), less the Gram matrix X₀X₀ᵀ when the normalisation hands it
to the first step (Schatten-4 and AOL form it anyway), in units of one Gram product 2m²n. Every
kind here is a guaranteed upper bound of σ₁ (σ̂₁ ≤ 1), except that AOL rescales rows and so changes
the polar factor (:class:`spectral_la.normalization.Normalization`).
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from spectral_la.backend import working
from spectral_la.normalization import Normalization, normalize_with_gram
from spectral_la.symmetric_products import symmetric_products

__all__ = ["KINDS", "normalization_rows"]

_SPECTRAL = Normalization(kind="spectral", eps=0.0)
#: Kinds compared (spectral: the bound ‖X‖_F·‖G^{2^j}‖_F^{1/2^{j+1}} from j normalised squarings of G = ZZᵀ).
KINDS = {
    "frobenius": Normalization(kind="frobenius", eps=0.0),
    "schatten4": Normalization(kind="schatten4", eps=0.0),
    f"spectral ({_SPECTRAL.squarings} squarings)": _SPECTRAL,
    "aol": Normalization(kind="aol", eps=0.0),
}


def normalization_rows(inputs: list[tuple[str, torch.Tensor]]) -> list[dict]:
    """Per kind and input: σ̂₁ of X₀ (float64) and the extra products, in Gram-product units."""
    rows = []
    for label, x in inputs:
        w = x if x.shape[0] <= x.shape[1] else x.mT
        m, n = w.shape
        sigma1 = float(torch.linalg.matrix_norm(w.double(), 2))
        ops, xw, _ = working(w.double())
        for kind, norm in KINDS.items():
            with symmetric_products("off"), FlopCounterMode(display=False) as counter:
                x0, gram = normalize_with_gram(ops, xw, norm)
            flops = counter.get_total_flops() - (2 * m * m * n if gram is not None else 0)
            rows.append(
                {
                    "input": label,
                    "shape": f"{m}x{n}",
                    "normalization": kind,
                    "storage_dtype": "fp64",
                    "compute_dtype": "fp64",
                    "sigma1_hat": float(torch.linalg.matrix_norm(x0, 2)),
                    "frobenius_sigma1_hat": sigma1 / float(torch.linalg.matrix_norm(w.double())),
                    "extra_gram_products": flops / (2 * m * m * n),
                }
            )
    return rows
