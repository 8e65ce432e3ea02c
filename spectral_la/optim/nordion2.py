"""NorDion2: Dion2's row selection with NorMuon's row normalisation on the selected rows.

For each 2-D parameter W (m × n) with gradient G (microsoft/dion's ``nordion2.py`` at 0a059a4, which
this class reproduces bit for bit with the same orthogonaliser; NorMuon: arXiv 2510.05491, Dion2:
arXiv 2512.16928):

    M ← M + G
    S ← the k = max(1, ⌈f·m⌉) rows of M of largest L1 norm (always rows)
    M_S ← μ·M_S                                    (error feedback with the momentum μ)
    O ← orthogonalise(S in bf16, ε)                (softened: lerp(O, S/(‖S‖_F + ε), s))
    V_S ← lerp(V_S, mean_j O_ij², 1 − β₂)          (float32; only the selected rows of V change)
    Ô ← O / (√V_S + 1e-8) · ‖O‖_F / max(‖O/(√V_S + 1e-8)‖_F, 1e-8)
    W ← (1 − η·λ)·W;   W_S ← W_S − η·r(m, n)·Ô
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from spectral_la.optim import functional as F
from spectral_la.optim.base import Planned
from spectral_la.optim.capture import Capture
from spectral_la.optim.dion2 import check_selection, plan_selected_step, select_and_orthogonalize
from spectral_la.optim.dion_base import SCALAR_STATE, DionFamily, betas_pair
from spectral_la.validation import check_in_range

__all__ = ["NorDion2"]


class NorDion2(DionFamily):
    """NorDion2 (module docstring) with microsoft/dion's arguments and defaults (:mod:`~spectral_la.optim.dion_base`).

    Parameters
    ----------
    params, distributed_mesh, lr, betas, weight_decay, epsilon, adjust_lr, flatten
        As in microsoft/dion's ``NorDion2`` (see :class:`~spectral_la.optim.dion_base.DionFamily`).
    use_triton, use_polar_express, use_gram_newton_schulz, newton_schulz_func
        dion's choice of orthogonaliser (:class:`~spectral_la.optim.dion_base.DionFamily`).
    fraction : float in (0, 1]
        Share f of the rows orthogonalised per step.
    mu : float in [0, 1)
        The error-feedback decay of the selected rows.
    muon_beta2 : float in [0, 1)
        β₂ of the row second-moment EMA V.
    selection_scope : "local" or "global"
        dion's sharded selection; the same on one process.
    orthogonalize, softening, compute_dtype, capture, check_finite
        This toolkit's additions, as in :class:`~spectral_la.optim.Muon`.
    ns_input_dtype : dtype, name or None
        The dtype the momentum is cast to before the orthogonaliser: ``"bf16"`` (dion's), or None
        to keep the momentum's own (then Dion2 with f = 1 is Muon's step up to rounding).
    """

    NAME = "NorDion2"
    ALGORITHM = "nordion2"
    STATE_KEYS = {"nordion2": ("momentum", "variance_neuron"), **SCALAR_STATE}

    def __init__(
        self,
        params: Any,
        distributed_mesh: Any = None,
        lr: float = 0.01,
        fraction: float = 0.25,
        mu: float = 0.95,
        muon_beta2: float = 0.95,
        betas: tuple[float, float] = (0.9, 0.95),
        weight_decay: float = 0.01,
        epsilon: float = 1e-8,
        adjust_lr: str | None = "spectral_norm",
        flatten: bool = False,
        use_triton: bool = False,
        use_polar_express: bool = True,
        use_gram_newton_schulz: bool = False,
        newton_schulz_func: Callable[..., torch.Tensor] | None = None,
        triton_post_ortho: bool = False,
        selection_scope: str = "local",
        *,
        orthogonalize: Any = None,
        softening: Any = 0.0,
        compute_dtype: Any = None,
        ns_input_dtype: Any = "bf16",
        capture: Capture | None = None,
        check_finite: bool | None = None,
    ) -> None:
        if triton_post_ortho:
            raise ValueError("NorDion2: triton_post_ortho=True names microsoft/dion's Triton kernel; leave it False")
        beta1, beta2 = betas_pair(betas)
        defaults = dict(
            lr=lr,
            fraction=fraction,
            mu=mu,
            muon_beta2=muon_beta2,
            beta1=beta1,
            beta2=beta2,
            weight_decay=weight_decay,
            epsilon=epsilon,
            flatten=flatten,
            adjust_lr=adjust_lr,
            selection_scope=selection_scope,
        )
        super().__init__(
            params,
            distributed_mesh,
            defaults,
            use_triton=use_triton,
            use_polar_express=use_polar_express,
            use_gram_newton_schulz=use_gram_newton_schulz,
            newton_schulz_func=newton_schulz_func,
            orthogonalize=orthogonalize,
            softening=softening,
            compute_dtype=compute_dtype,
            ns_input_dtype=ns_input_dtype,
            capture=capture,
            check_finite=check_finite,
        )

    def _validate_matrix_group(self, group: dict, where: str) -> None:
        check_selection(group, where)
        check_in_range(group["mu"], f"{where}: mu", 0, 1, hi_open=True)
        check_in_range(group["muon_beta2"], f"{where}: muon_beta2", 0, 1, hi_open=True)

    def _plan_stack(
        self, group: dict, params: list[torch.Tensor], ortho: Callable, step: int, where: str
    ) -> list[Planned]:
        m, new_m, idx, o = select_and_orthogonalize(self, group, params, ortho, step, where, -2, group["mu"])
        v = torch.stack([self._variance(p) for p in params])
        o_norm, v_new = F.normuon_normalize_rows(o, v, idx, F.hyper(group["muon_beta2"]))
        return plan_selected_step(self, group, params, m, new_m, o_norm, idx, -2, {"variance_neuron": v_new})
