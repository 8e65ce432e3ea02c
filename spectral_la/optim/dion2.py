"""Dion2: orthogonalise only the rows (or columns) of the momentum that carry the most mass.

For each 2-D parameter W (m × n) with gradient G (Dion2, arXiv 2512.16928; the step of
microsoft/dion's ``dion2.py`` at 0a059a4, which this class reproduces bit for bit with the same
orthogonaliser):

    M ← M + G                                     (no momentum coefficient; G cast to M's dtype)
    the side: rows if m ≤ n, else columns          (the shorter one)
    S ← the k = max(1, ⌈f·size⌉) slices of M of largest L1 norm (torch.topk, unsorted)
    M_S ← ef_decay·M_S                             (error feedback on the selected slices only)
    O ← orthogonalise(S in bf16, ε)                (softened: lerp(O, S/(‖S‖_F + ε), s): S's own norm)
    W ← (1 − η·λ)·W;   W_S ← W_S − η·r(m, n)·O     (r from the full shape; unselected slices: decay only)

On one process microsoft/dion's ``selection_scope`` "local" and "global" select the same slices (they
differ only when rows are sharded); both values are accepted.
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

__all__ = ["Dion2", "check_selection", "plan_selected_step", "select_and_orthogonalize"]


def check_selection(group: dict, where: str) -> None:
    """The checks of Dion2's and NorDion2's selection arguments."""
    check_in_range(group["fraction"], f"{where}: fraction", 0, 1, lo_open=True)
    if group["selection_scope"] not in ("local", "global"):
        raise ValueError(f"{where}: selection_scope must be 'local' or 'global', got {group['selection_scope']!r}")


class Dion2(DionFamily):
    """Dion2 (module docstring) with microsoft/dion's arguments and defaults (:mod:`~spectral_la.optim.dion_base`).

    Parameters
    ----------
    params, distributed_mesh, lr, betas, weight_decay, epsilon, adjust_lr, flatten
        As in microsoft/dion's ``Dion2`` (see :class:`~spectral_la.optim.dion_base.DionFamily`).
    use_triton, use_polar_express, use_gram_newton_schulz, newton_schulz_func
        dion's choice of orthogonaliser (:class:`~spectral_la.optim.dion_base.DionFamily`).
    fraction : float in (0, 1]
        Share f of the rows (columns) orthogonalised per step.
    ef_decay : float in [0, 1)
        Error-feedback decay of the selected slices of M.
    selection_scope : "local" or "global"
        dion's sharded selection; the same on one process.
    orthogonalize, softening, compute_dtype, capture, check_finite
        This toolkit's additions, as in :class:`~spectral_la.optim.Muon`.
    ns_input_dtype : dtype, name or None
        The dtype the momentum is cast to before the orthogonaliser: ``"bf16"`` (dion's), or None
        to keep the momentum's own (then Dion2 with f = 1 is Muon's step up to rounding).
    """

    NAME = "Dion2"
    ALGORITHM = "dion2"
    STATE_KEYS = {"dion2": ("momentum",), **SCALAR_STATE}

    def __init__(
        self,
        params: Any,
        distributed_mesh: Any = None,
        lr: float = 0.01,
        fraction: float = 0.25,
        ef_decay: float = 0.95,
        betas: tuple[float, float] = (0.9, 0.95),
        weight_decay: float = 0.01,
        epsilon: float = 1e-8,
        adjust_lr: str | None = "spectral_norm",
        flatten: bool = False,
        use_triton: bool = False,
        use_polar_express: bool = True,
        use_gram_newton_schulz: bool = False,
        newton_schulz_func: Callable[..., torch.Tensor] | None = None,
        verbose: bool = False,
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
            raise ValueError("Dion2: triton_post_ortho=True names microsoft/dion's Triton kernel; leave it False")
        self.verbose = bool(verbose)
        beta1, beta2 = betas_pair(betas)
        defaults = dict(
            lr=lr,
            ef_decay=ef_decay,
            fraction=fraction,
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
        check_in_range(group["ef_decay"], f"{where}: ef_decay", 0, 1, hi_open=True)

    def _plan_stack(
        self, group: dict, params: list[torch.Tensor], ortho: Callable, step: int, where: str
    ) -> list[Planned]:
        dim = F.selection_dim(params[0].shape)
        if self.verbose:
            side = "rows" if dim == -2 else "columns"
            print(f"[Dion2] shape {tuple(params[0].shape)}: select the top {group['fraction']} of {side} by L1 norm")
        m, new_m, idx, o = select_and_orthogonalize(self, group, params, ortho, step, where, dim, group["ef_decay"])
        return plan_selected_step(self, group, params, m, new_m, o, idx, dim, {})


def select_and_orthogonalize(
    opt: DionFamily,
    group: dict,
    params: list[torch.Tensor],
    ortho: Callable,
    step: int,
    where: str,
    dim: int,
    ef_decay: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Dion2's and NorDion2's first half: M ← M + G, the top-k slices S along ``dim``, error feedback
    M_S ← ef·M_S, O = orthogonalise(S). Returns (M, M after error feedback, slice indices, O)."""
    moments = [F.accumulated_momentum(opt._grad(p), opt._momentum(p), None, False)[0] for p in params]
    m = F.stack_batch(moments)
    idx = F.select_slices(m, group["fraction"], dim)
    selected = F.gather_slices(m, idx, dim)
    # m is this step's own tensor: the error feedback writes into it unless a capture records m itself
    new_m = F.scatter_slices(m, idx, selected * F.hyper(ef_decay), dim, inplace=opt.capture is None)
    o = opt._run(ortho, opt._ns_input(group, selected), F.hyper(group["epsilon"]), step, where)
    return m, new_m, idx, o


def plan_selected_step(
    opt: DionFamily,
    group: dict,
    params: list[torch.Tensor],
    m: torch.Tensor,
    new_m: torch.Tensor,
    o: torch.Tensor,
    idx: torch.Tensor,
    dim: int,
    extra_state: dict[str, torch.Tensor],
) -> list[Planned]:
    """W ← (1 − ηλ)W, then −η·r·O added at the selected slices; the plans of Dion2 and NorDion2.

    ``m`` is the momentum after the gradient (what a capture records), ``new_m`` after error feedback.
    """
    lr, adjusted = opt._lr(group, params[0].shape)
    decay = 1 - lr * F.hyper(group["weight_decay"])
    record = opt.capture is not None
    planned: list[Planned] = []
    for i, p in enumerate(params):
        weight = functools.partial(
            F.decoupled_step, update=o[i], decay=decay, lr=adjusted, slices=idx[i], dim=dim, inplace=True
        )
        seen = {}
        if record:
            full = F.scatter_slices(torch.zeros_like(m[i : i + 1]), idx[i : i + 1], o[i : i + 1].to(m.dtype), dim)[0]
            seen = {"grad": opt._grad(p), "momentum": m[i], "update": full}
        state = {"momentum": new_m[i], **{k: v[i] for k, v in extra_state.items()}}
        planned.append((p, weight, state, seen))
    return planned
