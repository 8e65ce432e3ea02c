"""NorMuon: Muon's orthogonalised momentum, normalised row by row with a second-moment EMA.

For each 2-D parameter W (m × n) with gradient G (Li et al. 2025, arXiv 2510.05491, Algorithm 1;
the step of microsoft/dion's ``normuon.py`` at 0a059a4, which this class reproduces bit for bit with
the same orthogonaliser):

    M ← μ·M + G                                   (no dampening; G cast to M's dtype)
    U ← μ·M + G if nesterov else M, cast to bf16
    O ← orthogonalise(U, ε)                        (softened: lerp(O, U/(‖U‖_F + ε), s))
    V ← lerp(V, mean_j O_ij², 1 − β₂)              (one entry per row (output neuron); no bias correction)
    Ô ← O / (√V + 1e-8) · ‖O‖_F / max(‖O/(√V + 1e-8)‖_F, 1e-8)
    W ← (1 − η·λ)·W − η·r(m, n)·Ô                  (cautious: the decay only where W∘Ô ≥ 0)

Row scaling changes the singular vectors of O, so the softening closed form (1 − s) + s·σᵢ/‖U‖_F
holds at the orthogonaliser's output, not for the applied update Ô.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from spectral_la.optim import functional as F
from spectral_la.optim.base import Planned
from spectral_la.optim.capture import Capture
from spectral_la.optim.dion_base import SCALAR_STATE, DionFamily, betas_pair
from spectral_la.validation import check_in_range

__all__ = ["NorMuon"]


class NorMuon(DionFamily):
    """NorMuon (module docstring) with microsoft/dion's arguments and defaults (:mod:`~spectral_la.optim.dion_base`).

    Parameters
    ----------
    params, distributed_mesh, lr, betas, weight_decay, epsilon, adjust_lr, flatten
        As in microsoft/dion's ``NorMuon`` (see :class:`~spectral_la.optim.dion_base.DionFamily`).
    use_triton, use_polar_express, use_gram_newton_schulz, newton_schulz_func
        dion's choice of orthogonaliser (:class:`~spectral_la.optim.dion_base.DionFamily`).
    mu : float in [0, 1)
        Momentum μ.
    muon_beta2 : float in [0, 1)
        β₂ of the row second-moment EMA V.
    cautious_wd : bool
        Cautious weight decay (arXiv 2510.12402) on the matrix and Lion groups.
    nesterov : bool
        Nesterov momentum U = μM + G.
    orthogonalize, softening, compute_dtype, capture, check_finite
        This toolkit's additions, as in :class:`~spectral_la.optim.Muon`.
    ns_input_dtype : dtype, name or None
        The dtype the momentum is cast to before the orthogonaliser: ``"bf16"`` (dion's), or None
        to keep the momentum's own (then Dion2 with f = 1 is Muon's step up to rounding).
    """

    NAME = "NorMuon"
    ALGORITHM = "normuon"
    STATE_KEYS = {"normuon": ("momentum", "variance_neuron"), **SCALAR_STATE}

    def __init__(
        self,
        params: Any,
        distributed_mesh: Any = None,
        lr: float = 0.01,
        mu: float = 0.95,
        muon_beta2: float = 0.95,
        betas: tuple[float, float] = (0.9, 0.95),
        weight_decay: float = 0.01,
        cautious_wd: bool = False,
        epsilon: float = 1e-8,
        nesterov: bool = False,
        adjust_lr: str | None = "spectral_norm",
        flatten: bool = False,
        use_gram_newton_schulz: bool = False,
        use_triton: bool = False,
        use_polar_express: bool = True,
        newton_schulz_func: Callable[..., torch.Tensor] | None = None,
        *,
        orthogonalize: Any = None,
        softening: Any = 0.0,
        compute_dtype: Any = None,
        ns_input_dtype: Any = "bf16",
        capture: Capture | None = None,
        check_finite: bool | None = None,
    ) -> None:
        beta1, beta2 = betas_pair(betas)
        defaults = dict(
            lr=lr,
            mu=mu,
            muon_beta2=muon_beta2,
            beta1=beta1,
            beta2=beta2,
            weight_decay=weight_decay,
            cautious_wd=cautious_wd,
            epsilon=epsilon,
            nesterov=nesterov,
            flatten=flatten,
            adjust_lr=adjust_lr,
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
        check_in_range(group["mu"], f"{where}: mu", 0, 1, hi_open=True)
        check_in_range(group["muon_beta2"], f"{where}: muon_beta2", 0, 1, hi_open=True)
        if not isinstance(group["nesterov"], bool):
            raise TypeError(f"{where}: nesterov must be a bool, got {group['nesterov']!r}")

    def _plan_stack(
        self, group: dict, params: list[torch.Tensor], ortho: Callable, step: int, where: str
    ) -> list[Planned]:
        mu = F.hyper(group["mu"])
        moments = [F.accumulated_momentum(self._grad(p), self._momentum(p), mu, group["nesterov"]) for p in params]
        u = self._ns_input(group, F.stack_batch([x for _, x in moments]))
        o = self._run(ortho, u, F.hyper(group["epsilon"]), step, where)
        v = torch.stack([self._variance(p) for p in params])
        o_norm, v_new = F.normuon_normalize(o, v, F.hyper(group["muon_beta2"]))
        lr, adjusted = self._lr(group, params[0].shape)
        wd = F.hyper(group["weight_decay"])
        planned: list[Planned] = []
        for i, p in enumerate(params):
            weight: torch.Tensor | Callable[[torch.Tensor], Any]
            if group["cautious_wd"]:
                weight = F.decoupled_step(F.cautious_decay(p, o_norm[i], lr * wd), o_norm[i], None, adjusted)
            else:
                weight = functools.partial(
                    F.decoupled_step, update=o_norm[i], decay=1 - lr * wd, lr=adjusted, inplace=True
                )
            state = {"momentum": moments[i][0], "variance_neuron": v_new[i]}
            planned.append((p, weight, state, {"grad": self._grad(p), "momentum": moments[i][0], "update": o_norm[i]}))
        return planned
