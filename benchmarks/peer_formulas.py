"""The peers' Newton–Schulz steps, restated from their published code (no network, no install).

Emerging-Optimizers and microsoft/dion cannot be installed here (no wheels; dion's fast path
needs Triton), so their steps are restated in a few lines each, from the files named in the
registered schedules' ``source``. They are the yardstick of tests/test_peer_schedules.py (our
registry against them, bit for bit where the operations are the same) and of the ``peers``
benchmark (our runtime against theirs). torch.optim.Muon is installed and called directly.
"""

from __future__ import annotations

import torch

__all__ = [
    "DION_AOL_ROWS",
    "EO_CYCLES",
    "EO_SETS",
    "dion_aol_newton_schulz",
    "eo_newton_schulz",
    "unfused_newton_schulz",
]

#: microsoft/dion newton_schulz_triton_fast @ 0a059a4 (thib-s/flash-newton-schulz @ cdb03db).
DION_AOL_ROWS = [
    (4.6051, -9.6552, 5.6769),
    (4.7505, -6.0861, 2.1790),
    (2.7763, -2.3190, 0.5523),
    (2.4231, -2.2861, 0.8193),
]

# Emerging-Optimizers' tables as they stand in its muon_utils.py @ fd772921 (copied, so that a
# transcription slip in our registry shows up as a mismatch); cubic5 carries EO's c = 0.
EO_SETS = {
    "eo_quintic": [
        (4.0848, -6.8946, 2.9270),
        (3.9505, -6.3029, 2.6377),
        (3.7418, -5.5913, 2.3037),
        (2.8769, -3.1427, 1.2046),
        (2.8366, -3.0525, 1.2012),
    ],
    "eo_polar_express": [
        (8.2051, -22.9019, 16.4607),
        (4.0664, -2.8612, 0.5184),
        (3.9096, -2.8234, 0.5250),
        (3.2856, -2.4153, 0.4853),
        (2.2779, -1.6198, 0.3985),
        (1.8726, -1.2307, 0.3585),
        (1.8564, -1.2132, 0.3568),
        (1.8750, -1.2500, 0.3750),
    ],
    "eo_cans": [
        (8.4703, -25.1081, 18.6293),
        (4.1828, -3.1087, 0.5806),
        (3.9619, -2.9541, 0.5630),
        (3.2866, -2.4647, 0.5074),
        (2.2737, -1.6447, 0.4162),
    ],
    "eo_aol": [
        (4.0098, -7.0585, 2.4635),
        (3.4585, -5.5479, 2.5959),
        (2.7573, -3.2939, 1.4254),
        (2.7215, -3.0494, 1.3169),
    ],
    "eo_deepseekv4": [(3.4445, -4.7750, 2.0315)] * 8 + [(2.0, -1.5, 0.5)] * 2,
    "eo_cubic5": [
        (3.3656576, -3.3420992, 0.0),
        (2.5744352, -1.4957376, 0.0),
        (2.5368962, -1.4312570, 0.0),
        (2.4418906, -1.2764040, 0.0),
        (2.2230472, -0.9630650, 0.0),
    ],
    "torch_muon": [(3.4445, -4.7750, 2.0315)],
}
# EO cycles all sets but polar_express, cans and deepseekv4; cubic5 only runs its 5 steps (so no cycle here)
EO_CYCLES = {"eo_quintic", "eo_aol", "torch_muon"}


def eo_newton_schulz(x, rows, steps, cycle, eps=1e-15, normalize_in_double=False, compute_dtype=None):
    """EO's newton_schulz (fd772921): F.normalize or the float64 norm, then its fused steps, c = 0: cubic path.

    ``compute_dtype=torch.bfloat16`` is EO's path under fp32 matmul precision "medium": it normalises
    in the input's float32, then casts to bf16, iterates, and casts the result back to float32.
    """
    transpose = x.size(-2) > x.size(-1)
    if transpose:
        x = x.mT
    if normalize_in_double:
        X = x / torch.linalg.vector_norm(x, dim=(-2, -1), keepdim=True, dtype=torch.float64).to(x.dtype)
    else:
        X = torch.nn.functional.normalize(x, p=2, dim=(-2, -1), eps=eps)  # type: ignore[arg-type]  # torch takes a tuple of dims
    if compute_dtype is not None:
        X = X.to(compute_dtype)
    sets = [rows[k % len(rows)] if cycle else rows[min(k, len(rows) - 1)] for k in range(steps)]
    addmm = torch.baddbmm if X.ndim == 3 else torch.addmm  # EO's batched_newton_schulz_step for 3-D input
    for a, b, c in sets:
        A = X @ X.mT
        if c != 0.0:
            B = addmm(A, A, A, alpha=c, beta=b)
            X = addmm(X, B, X, alpha=1.0, beta=a)
        else:
            X = addmm(X, A, X, alpha=b, beta=a)
    X = X.to(torch.float32) if compute_dtype is not None else X
    return X.mT if transpose else X


def dion_aol_newton_schulz(G, rows, epsilon=1e-7, dtype=torch.bfloat16):
    """microsoft/dion newton_schulz_triton_fast (0a059a4) with its Triton lines as the torch products they compute."""
    X = G.to(dtype)
    if G.size(-2) > G.size(-1):
        X = X.mT
    A = X @ X.mT
    eps = torch.tensor(epsilon, dtype=X.dtype)
    s = torch.rsqrt(torch.clamp_min(A.abs().sum(dim=-1, keepdim=False), min=eps))
    X = X * s.unsqueeze(-1)
    A = A * s.unsqueeze(-1) * s.unsqueeze(-2)
    addmm = torch.baddbmm if X.ndim > 2 else torch.addmm
    for k, (a, b, c) in enumerate(rows):
        if k:
            A = X @ X.mT
        B = addmm(A, A, A, alpha=c, beta=b)
        X = addmm(X, B, X, beta=a)
    return X.mT if G.size(-2) > G.size(-1) else X


def unfused_newton_schulz(G, rows, steps=None, eps=1e-6, scale=1.02, dtype=torch.float32):
    """The unfused step of modded-nanogpt's ``polar_express`` and of microsoft/dion's ``zeropower_via_newtonschulz5``.

    Cast to ``dtype``, X / (scale·‖X‖_F + eps), then B = bA + c(A A), X ← aX + BX. modded-nanogpt
    (train_gpt.py): scale 1.02, eps 1e-6; dion (newton_schulz_triton.py @ 0a059a4): scale 1, eps 1e-7,
    bf16. Batched over a leading dimension as dion's is.
    """
    X = G.to(dtype)
    tall = G.size(-2) > G.size(-1)
    if tall:
        X = X.mT
    X = X / (X.norm(dim=(-2, -1), keepdim=True) * scale + eps)
    for a, b, c in rows[:steps]:
        A = X @ X.mT
        B = b * A + c * (A @ A)
        X = a * X + B @ X
    return X.mT if tall else X
