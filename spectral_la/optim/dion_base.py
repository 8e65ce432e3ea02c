"""What NorMuon, Dion2 and NorDion2 share: microsoft/dion's arguments, its non-matrix rules, the orthogonaliser.

microsoft/dion (commit 0a059a4) builds these three optimizers on one base; code written for it
switches to :mod:`spectral_la.optim` by changing the import. This base therefore takes dion's
arguments with dion's meaning and defaults:

* ``distributed_mesh`` (None only: these optimizers run on one process), ``lr``, ``betas`` (for
  the ``adamw``/``lion`` groups), ``weight_decay``, ``epsilon`` (handed to the orthogonaliser as
  ``newton_schulz_func(X, epsilon=ε)``), ``adjust_lr`` (``"spectral_norm"``: η·√(m/n),
  ``"rms_norm"``: 0.2·η·√max(m, n), None: η, always from the full parameter's shape), ``flatten``;
* the orthogonaliser: ``newton_schulz_func`` (a callable), else ``use_polar_express`` (True:
  Polar Express in bf16 with X/(1.02‖X‖_F + ε), 5 steps, the spec ``ns:polar_express_modded``;
  False: the five tuned quintic rows, ``ns:dion_ns5``); ``use_triton`` and
  ``use_gram_newton_schulz`` name dion's own kernels and are refused with what to write instead;
* param groups with ``algorithm="adamw"`` or ``"lion"`` for the parameters that are not matrices
  (embeddings, norms, biases), any shape, updated as dion updates them (:func:`functional.adamw_step`,
  :func:`functional.lion_step`).

It adds this toolkit's ``orthogonalize=`` (any spec of :mod:`spectral_la.spec`, run in
``compute_dtype``, default bf16), ``ns_input_dtype`` (the dtype the momentum is cast to before the
orthogonaliser: dion's bf16 by default, None keeps the momentum's own), ``softening=`` (a float s or a schedule s(t),
:mod:`spectral_la.optim.softening`: the orthogonaliser becomes lerp(O(X), X/(‖X‖_F + ε), s) on what
it is given, microsoft/dion PR #92), ``check_finite`` and ``capture``, as :class:`~spectral_la.optim.Muon`.

Hyperparameters reach the step as dion passes them, 0-d float32 tensors, so that 1 − β₂ and η·r are
rounded as there. The matrix parameters of a group are updated in stacks of equal shape and dtype
(one orthogonaliser call per stack, a single matrix called as 2-D), as dion's megabatch does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch

from spectral_la.dtypes import dtype_name, parse_dtype
from spectral_la.optim import functional as F
from spectral_la.optim.base import MatrixOptimizer, Planned
from spectral_la.optim.capture import Capture
from spectral_la.optim.muon import run_spec
from spectral_la.optim.softening import parse_softening, softening_at, softening_value
from spectral_la.spec import Spec, parse_spec
from spectral_la.validation import check_in_range

__all__ = ["DION_ADJUST_LR", "DION_NS5", "DION_POLAR_EXPRESS", "SCALAR_STATE", "DionFamily", "betas_pair"]

#: microsoft/dion's default orthogonaliser (``polar_express``) and its ``use_polar_express=False`` one
DION_POLAR_EXPRESS = "ns:polar_express_modded"
DION_NS5 = "ns:dion_ns5"
#: adjust_lr values microsoft/dion accepts, with the mode of :data:`functional.LR_MODES` each means
DION_ADJUST_LR = {"spectral_norm": "spectral_norm", "rms_norm": "rms_norm", None: "none"}

#: state keys of the element-wise groups (dion's names, so its checkpoints load)
SCALAR_STATE = {"adamw": ("momentum", "variance", "step_dev"), "lion": ("momentum",)}


class DionFamily(MatrixOptimizer):
    """Base of :class:`NorMuon`, :class:`Dion2` and :class:`NorDion2` (module docstring).

    A subclass sets ``ALGORITHM`` (the group's ``algorithm`` for matrix parameters), its state
    keys, its own hyperparameter checks (``_validate_matrix_group``) and ``_plan_stack``: the new
    weights and state of one stack of equal-shape matrices.
    """

    ALGORITHM: ClassVar[str] = ""

    def __init__(
        self,
        params: Any,
        distributed_mesh: Any,
        defaults: dict,
        *,
        use_triton: bool,
        use_polar_express: bool,
        use_gram_newton_schulz: bool,
        newton_schulz_func: Callable[..., torch.Tensor] | None,
        orthogonalize: Any,
        softening: Any,
        compute_dtype: Any,
        ns_input_dtype: Any,
        capture: Capture | None,
        check_finite: bool | None,
    ) -> None:
        if distributed_mesh is not None:
            raise ValueError(
                f"{self.NAME}: distributed_mesh must be None; spectral_la's optimizers run on one process "
                "(use microsoft/dion's for FSDP/DDP)"
            )
        for flag, value in (("use_triton", use_triton), ("use_gram_newton_schulz", use_gram_newton_schulz)):
            if not isinstance(value, bool):
                raise TypeError(f"{self.NAME}: {flag} must be a bool, got {value!r}")
        if use_triton:
            raise ValueError(f"{self.NAME}: use_triton=True names microsoft/dion's Triton kernels; leave it False")
        if use_gram_newton_schulz:
            raise ValueError(
                f"{self.NAME}: use_gram_newton_schulz=True names an outside package; write "
                "orthogonalize='gram_ns:polar_express' for this toolkit's Gram Newton–Schulz"
            )
        if newton_schulz_func is not None:
            if not callable(newton_schulz_func):
                raise TypeError(f"{self.NAME}: newton_schulz_func must be callable, got {type(newton_schulz_func)}")
            if orthogonalize is not None:
                raise ValueError(f"{self.NAME}: give newton_schulz_func or orthogonalize, not both")
        if not isinstance(use_polar_express, bool):
            raise TypeError(f"{self.NAME}: use_polar_express must be a bool, got {use_polar_express!r}")
        self._newton_schulz_func = newton_schulz_func
        if orthogonalize is None and newton_schulz_func is None:
            orthogonalize = DION_POLAR_EXPRESS if use_polar_express else DION_NS5
        defaults = dict(
            defaults,
            algorithm=self.ALGORITHM,
            step=0,
            orthogonalize=None if orthogonalize is None else parse_spec(orthogonalize).to_json(),
            softening=softening_value(softening),
            compute_dtype=None if compute_dtype is None else dtype_name(parse_dtype(compute_dtype, "compute_dtype")),
            ns_input_dtype=None
            if ns_input_dtype is None
            else dtype_name(parse_dtype(ns_input_dtype, "ns_input_dtype")),
            check_finite=check_finite,
        )
        super().__init__(params, defaults, capture)
        if capture is not None:
            capture.meta = {"optimizer": f"spectral_la.optim.{self.NAME}", **_plain(defaults)}

    # --- validation --------------------------------------------------------------------------

    def _validate_group(self, group: dict, where: str) -> None:
        algo = group["algorithm"]
        if algo not in (self.ALGORITHM, "adamw", "lion"):
            raise ValueError(f"{where}: algorithm must be {self.ALGORITHM!r}, 'adamw' or 'lion', got {algo!r}")
        check_in_range(group["lr"], f"{where}: lr", 0, None)
        check_in_range(group["weight_decay"], f"{where}: weight_decay", 0, None)
        check_in_range(group["epsilon"], f"{where}: epsilon", 0, None)
        for beta in ("beta1", "beta2"):
            check_in_range(group[beta], f"{where}: betas ({beta})", 0, 1, hi_open=True)
        for flag in ("flatten", "cautious_wd"):
            if flag in group and not isinstance(group[flag], bool):
                raise TypeError(f"{where}: {flag} must be a bool, got {group[flag]!r}")
        if group["adjust_lr"] not in DION_ADJUST_LR:
            raise ValueError(
                f"{where}: adjust_lr must be 'spectral_norm', 'rms_norm' or None, got {group['adjust_lr']!r}"
            )
        parse_softening(group["softening"], f"{where}: softening")
        for key in ("compute_dtype", "ns_input_dtype"):
            if group[key] is not None:
                parse_dtype(group[key], f"{where}: {key}")
        if group["check_finite"] is not None and not isinstance(group["check_finite"], bool):
            raise TypeError(f"{where}: check_finite must be True, False or None, got {group['check_finite']!r}")
        if group.get("orthogonalize") is not None:
            parse_spec(group["orthogonalize"])
        if algo == "adamw" and group.get("cautious_wd"):
            raise ValueError(f"{where}: cautious_wd is not implemented for algorithm='adamw' groups")
        if algo == self.ALGORITHM:
            self._validate_matrix_group(group, where)

    def _validate_matrix_group(self, group: dict, where: str) -> None:
        """The subclass's own hyperparameters (mu, fraction, …)."""

    def _validate_param(self, group: dict, p: torch.Tensor, where: str) -> None:
        if group["algorithm"] == self.ALGORITHM and p.ndim != 2:
            raise ValueError(
                f"{self.NAME} updates 2-D parameters with algorithm={self.ALGORITHM!r}: {where} has shape "
                f"{tuple(p.shape)}; put it in a group with algorithm='adamw' or 'lion'"
            )

    def _state_keys(self, group: dict) -> tuple[str, ...]:
        return self.STATE_KEYS[group["algorithm"]]

    def _state_shape(self, key: str, p: torch.Tensor) -> tuple[int, ...] | None:
        if key == "variance_neuron":
            return (*p.shape[:-1], 1)
        if key == "step_dev":
            return ()
        return tuple(p.shape)

    # --- the step ----------------------------------------------------------------------------

    def _group_checks_finite(self, group: dict) -> bool:
        check = group["check_finite"]
        if check is not None:
            return check
        spec = self._group_spec(group)
        return group["algorithm"] == self.ALGORITHM and spec is not None and spec.can_diverge

    def _group_spec(self, group: dict) -> Spec | None:
        return None if group.get("orthogonalize") is None else parse_spec(group["orthogonalize"])

    def _orthogonalizer(self, group: dict, step: int) -> Callable[[torch.Tensor, Any], torch.Tensor]:
        """O(X, ε) of the group at this step: its spec or the callable, softened by s(step)."""
        spec = self._group_spec(group)
        compute = None
        if spec is not None:
            if group["compute_dtype"] is not None:
                compute = parse_dtype(group["compute_dtype"], "compute_dtype")
            elif spec.matmul_only:
                compute = torch.bfloat16  # dion's NS runs in bf16
        s = softening_at(group["softening"], step)
        return F.orthogonalizer(
            spec, None if spec is not None else self._newton_schulz_func, compute, self._group_checks_finite(group), s
        )

    @staticmethod
    def _ns_input(group: dict, x: torch.Tensor) -> torch.Tensor:
        """X as the orthogonaliser receives it: cast to ``ns_input_dtype`` (dion: bf16; None: as stored)."""
        if group["ns_input_dtype"] is None:
            return x
        return x.to(parse_dtype(group["ns_input_dtype"], "ns_input_dtype"))

    def _stacks(self, group: dict) -> list[list[tuple[int, torch.Tensor]]]:
        """The group's parameters with a gradient, in stacks of equal (shape, dtype), in group order."""
        stacks: dict[tuple, list[tuple[int, torch.Tensor]]] = {}
        for j, p in enumerate(group["params"]):
            if p.grad is not None:
                stacks.setdefault((tuple(p.shape), p.dtype), []).append((j, p))
        return list(stacks.values())

    def _run(self, ortho: Callable, x: torch.Tensor, eps: torch.Tensor, step: int, where: str) -> torch.Tensor:
        """O(X) of a stack (N, m, n): one call, on the 2-D matrix when N = 1 (as dion's megabatch)."""
        if x.size(0) == 1:
            return run_spec(lambda y: ortho(y, epsilon=eps), x[0], step, where).unsqueeze(0)
        return run_spec(lambda y: ortho(y, epsilon=eps), x, step, where)

    def _plan_group(self, gi: int, group: dict, step: int) -> list[Planned]:
        algo = group["algorithm"]
        if algo == "lion":
            return self._plan_lion(group)
        if algo == "adamw":
            return self._plan_adamw(group)
        planned: list[Planned] = []
        ortho = self._orthogonalizer(group, step)
        for stack in self._stacks(group):
            where = ", ".join(self._where(gi, j) for j, _ in stack)
            spec = self._group_spec(group)
            label = f"{where} ({spec if spec is not None else 'newton_schulz_func'})"
            planned.extend(self._plan_stack(group, [p for _, p in stack], ortho, step, label))
        return planned

    def _plan_stack(
        self, group: dict, params: list[torch.Tensor], ortho: Callable, step: int, where: str
    ) -> list[Planned]:
        raise NotImplementedError

    def _lr(self, group: dict, shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
        """(η, the adjusted η·r(m, n)) as dion computes them: a float32 tensor times a Python float."""
        lr = F.hyper(group["lr"])
        mode = DION_ADJUST_LR[group["adjust_lr"]]
        return lr, (lr if mode == "none" else lr * F.lr_scale(mode, shape))

    @staticmethod
    def _grad(p: torch.Tensor) -> torch.Tensor:
        """The gradient of a parameter the step plans for (every planned parameter has one)."""
        assert p.grad is not None
        return p.grad

    def _momentum(self, p: torch.Tensor) -> torch.Tensor:
        buf = self._state_of(p).get("momentum")
        return torch.zeros_like(p) if buf is None else buf

    def _variance(self, p: torch.Tensor) -> torch.Tensor:
        """NorMuon's and NorDion2's row second moment V (one entry per row), zero before the first step."""
        v = self._state_of(p).get("variance_neuron")
        return torch.zeros_like(p[..., 0:1]) if v is None else v

    def _plan_lion(self, group: dict) -> list[Planned]:
        lr, b1, b2, wd = (F.hyper(group[k]) for k in ("lr", "beta1", "beta2", "weight_decay"))
        planned: list[Planned] = []
        for p in group["params"]:
            if p.grad is None:
                continue
            weight, buf = F.lion_step(p, p.grad, self._momentum(p), lr, b1, b2, wd, bool(group.get("cautious_wd")))
            planned.append((p, weight, {"momentum": buf}, {}))
        return planned

    def _plan_adamw(self, group: dict) -> list[Planned]:
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return []
        m = [self._momentum(p) for p in params]
        v = [self._state_of(p).get("variance", torch.zeros_like(p)) for p in params]
        t = [self._state_of(p).get("step_dev", torch.zeros((), dtype=torch.float32, device=p.device)) for p in params]
        weights, m2, v2, t2 = F.adamw_step(
            params,
            [p.grad for p in params],
            m,
            v,
            t,
            F.hyper(group["lr"]),
            float(F.hyper(group["beta1"])),
            float(F.hyper(group["beta2"])),
            float(F.hyper(group["weight_decay"])),
            float(F.hyper(group["epsilon"])),
        )
        return [
            (p, w, {"momentum": a, "variance": b, "step_dev": c}, {})
            for p, w, a, b, c in zip(params, weights, m2, v2, t2, strict=True)
        ]

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One step (every check and computation before any write); each group's ``step`` counts, as in dion."""
        loss = super().step(closure)
        for group in self.param_groups:
            group["step"] = group.get("step", 0) + 1
        return loss


def _plain(defaults: dict) -> dict:
    return {k: v for k, v in defaults.items() if k != "orthogonalize"} | {
        "orthogonalize": None if defaults["orthogonalize"] is None else str(parse_spec(defaults["orthogonalize"]))
    }


def betas_pair(betas: Any) -> tuple[float, float]:
    """(β₁, β₂) of the element-wise groups from dion's ``betas`` pair (checked with the group)."""
    if isinstance(betas, str) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    return betas[0], betas[1]
