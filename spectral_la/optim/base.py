"""The step as a transaction, validation and state dicts: what every optimizer of spectral_la.optim shares.

A subclass says what a step computes for one param group (``_plan_group``: new weights and new
state for each parameter, as new tensors) and how a group is validated (``_validate_group``).
:class:`MatrixOptimizer` then

* validates every group the same way in ``__init__``, ``add_param_group`` and ``load_state_dict``,
  refusing keys it does not know (with the new spelling of an old key);
* checks every gradient (dense, real, the parameter's shape; finite when the group checks) of every
  group before it computes anything, and computes every group before it writes anything: a step
  that raises leaves weights, state and the step count exactly as they were;
* names the parameter (its name from ``named_parameters()``, else group and index) and the step in
  every error, and counts steps (``state_dict()["spectral_la_steps"]``).

The price of the transaction is kept small: a plan may hand its weight over as a function that
updates the parameter in place at commit (``decoupled_step(..., inplace=True)``: nothing can fail by
then), and new state tensors that the plan made itself are adopted as they are, not copied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch

from spectral_la.optim.capture import Capture

__all__ = ["MatrixOptimizer", "Planned"]

#: (parameter, its new weight or a function that writes it into the parameter in place, its new state
#: {key: tensor}, what a Capture records {kind: matrix})
Planned = tuple[
    torch.Tensor, torch.Tensor | Callable[[torch.Tensor], Any], dict[str, torch.Tensor], dict[str, torch.Tensor]
]


def _adoptable(value: torch.Tensor, p: torch.Tensor) -> bool:
    """Whether a planned state tensor can become the state as it is: it owns its whole storage (not a slice
    of a stack, which would keep the stack alive and save it whole) and shares none with the parameter or
    its gradient (which the user's next ``zero_grad`` or step would overwrite)."""
    base = value if value._base is None else value._base
    if base.numel() != value.numel() or not value.is_contiguous():
        return False
    ptr = value.untyped_storage().data_ptr()
    return all(t is None or t.untyped_storage().data_ptr() != ptr for t in (p, p.grad))


class MatrixOptimizer(torch.optim.Optimizer):
    """Base of the optimizers of :mod:`spectral_la.optim` (module docstring)."""

    #: the class name used in messages
    NAME: ClassVar[str] = "optimizer"
    #: state keys per algorithm of a group (``group.get("algorithm")``; None for single-algorithm classes)
    STATE_KEYS: ClassVar[dict[Any, tuple[str, ...]]] = {}
    #: old group keys → what to write instead
    RENAMED: ClassVar[dict[str, str]] = {}
    #: keys a param group may hold besides the defaults
    EXTRA_GROUP_KEYS: ClassVar[frozenset[str]] = frozenset({"params", "param_names"})

    def __init__(self, params: Any, defaults: dict, capture: Capture | None = None) -> None:
        self.capture = capture
        self._step_count = 0
        self._validate_group(defaults, self.NAME)
        super().__init__(params, defaults)  # each group through add_param_group

    # --- validation --------------------------------------------------------------------------

    def _validate_group(self, group: dict, where: str) -> None:
        """Check a group's hyperparameters (subclasses; ``where`` starts every message)."""
        raise NotImplementedError

    def _validate_param(self, group: dict, p: torch.Tensor, where: str) -> None:
        """Check a parameter a group holds (subclasses; the default: a floating 2-D tensor)."""
        if p.ndim != 2:
            raise ValueError(f"{self.NAME} updates 2-D parameters only: {where} has shape {tuple(p.shape)}")

    def _check_keys(self, group: dict, where: str) -> None:
        allowed = set(self.defaults) | self.EXTRA_GROUP_KEYS
        unknown = sorted(set(group) - allowed)
        for key in unknown:
            hint = f"; write {self.RENAMED[key]}" if key in self.RENAMED else ""
            raise ValueError(f"{where}: unknown key {key!r} for {self.NAME}{hint}")

    def add_param_group(self, param_group: dict) -> None:
        """Add a group, validated exactly as the groups given to ``__init__`` (nothing added on error)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        where = f"param group {len(self.param_groups)}"
        self._check_keys(param_group, where)
        trial = {**self.defaults, **{k: v for k, v in param_group.items() if k not in ("params", "param_names")}}
        self._validate_group(trial, where)
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            for j, p in enumerate(group["params"]):
                if not p.is_floating_point():
                    raise TypeError(f"{self.NAME}: {self._where(len(self.param_groups) - 1, j)} is not floating point")
                self._validate_param(group, p, self._where(len(self.param_groups) - 1, j))
        except (ValueError, TypeError):
            self.param_groups.pop()
            raise

    # --- naming ------------------------------------------------------------------------------

    def _where(self, gi: int, j: int) -> str:
        group = self.param_groups[gi]
        names = group.get("param_names")
        if names is not None and j < len(names):
            return f"parameter {names[j]!r}"
        p = group["params"][j]
        if self.capture is not None and id(p) in self.capture.names:
            return f"parameter {self.capture.names[id(p)]!r}"
        return f"parameter {j} of param group {gi} (shape {tuple(p.shape)})"

    # --- the step ----------------------------------------------------------------------------

    def _group_checks_finite(self, group: dict) -> bool:
        """Whether the group checks gradients for NaN/Inf before the step (subclasses may widen)."""
        return bool(group.get("check_finite"))

    def _check_gradients(self, step: int) -> None:
        for gi, group in enumerate(self.param_groups):
            check = self._group_checks_finite(group)
            for j, p in enumerate(group["params"]):
                g = p.grad
                if g is None:
                    continue
                if g.is_sparse or torch.is_complex(g):
                    raise ValueError(f"step {step}: {self.NAME} takes dense real gradients: {self._where(gi, j)}")
                if g.shape != p.shape:
                    raise ValueError(
                        f"step {step}: the gradient of {self._where(gi, j)} has shape {tuple(g.shape)}, "
                        f"the parameter {tuple(p.shape)}"
                    )
                if check and not bool(torch.isfinite(g).all()):
                    raise ValueError(
                        f"step {step}: the gradient of {self._where(gi, j)} has non-finite entries (NaN or Inf)"
                    )

    def _state_of(self, p: torch.Tensor) -> dict:
        """A parameter's state for reading while a step is planned: never creates an entry (``self.state``
        is a defaultdict, and an empty entry left by a failed step would show in ``state_dict()``)."""
        return self.state[p] if p in self.state else {}

    def _plan_group(self, gi: int, group: dict, step: int) -> list[Planned]:
        """New weights and state of the group's parameters with a gradient (subclasses; writes nothing)."""
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One step: every check and every computation first, then every write (module docstring)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        step = self._step_count + 1
        self._check_gradients(step)
        planned = [item for gi, group in enumerate(self.param_groups) for item in self._plan_group(gi, group, step)]
        record = self.capture is not None and self.capture.wants(step)
        for p, weight, new_state, seen in planned:  # commit
            state = self.state[p]
            for key, value in new_state.items():
                old, adopt = state.get(key), _adoptable(value, p)
                same = isinstance(old, torch.Tensor) and (old.dtype, old.device) == (value.dtype, value.device)
                if isinstance(old, torch.Tensor) and old.shape == value.shape and not (adopt and same):
                    old.copy_(value)  # the state keeps its dtype and device (and its identity)
                else:  # adopted as it is, or (a slice of a stack, an alias) a tensor of its own
                    state[key] = value if adopt else value.clone(memory_format=torch.contiguous_format)
            if record and self.capture is not None:
                for kind, matrix in seen.items():
                    self.capture.record(step, p, kind, matrix)
            if callable(weight):
                weight(p)
            else:
                p.copy_(weight)
        self._step_count = step
        return loss

    # --- state -------------------------------------------------------------------------------

    def _state_keys(self, group: dict) -> tuple[str, ...]:
        return self.STATE_KEYS[group.get("algorithm")]

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state dict, validated as ``__init__`` validates (nothing changes on error).

        Hyperparameters missing from a group take this optimizer's defaults; keys it does not know
        are refused (an old spelling names the new one); every state tensor is checked for its key,
        shape, floating dtype and finiteness.
        """
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict or "state" not in state_dict:
            raise ValueError("state_dict must be an optimizer state dict with 'state' and 'param_groups'")
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"state_dict has {len(groups)} param groups, this optimizer {len(self.param_groups)}")
        steps = state_dict.get("spectral_la_steps", self._step_count)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"state_dict: spectral_la_steps must be an integer ≥ 0, got {steps!r}")
        where_of: dict[Any, tuple[dict, str, torch.Tensor]] = {}
        for k, (saved, ours) in enumerate(zip(groups, self.param_groups, strict=True)):
            self._check_keys(saved, f"state_dict param group {k}")
            self._validate_group({**self.defaults, **saved}, f"state_dict param group {k}")
            if len(saved["params"]) != len(ours["params"]):
                raise ValueError(
                    f"state_dict param group {k} has {len(saved['params'])} parameters, ours has {len(ours['params'])}"
                )
            for j, (i, p) in enumerate(zip(saved["params"], ours["params"], strict=True)):
                where_of[i] = ({**self.defaults, **saved}, self._where(k, j), p)
        for i, st in state_dict["state"].items():
            if i not in where_of:
                raise ValueError(f"state_dict holds state for parameter index {i!r}, which no group lists")
            group, where, p = where_of[i]
            allowed = self._state_keys(group)
            unknown = sorted(set(st) - set(allowed))
            if unknown:
                raise ValueError(f"state_dict: {where} has unknown state {unknown}; {self.NAME} keeps {list(allowed)}")
            for key, value in st.items():
                self._check_state_tensor(key, value, p, where)
        super().load_state_dict(
            {"state": state_dict["state"], "param_groups": [{**self.defaults, **g} for g in groups]}
        )
        self._step_count = steps

    def _check_state_tensor(self, key: str, value: Any, p: torch.Tensor, where: str) -> None:
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise TypeError(f"state_dict: the {key} of {where} must be a floating tensor")
        shape = self._state_shape(key, p)
        if shape is not None and tuple(value.shape) != shape:
            raise ValueError(f"state_dict: the {key} of {where} has shape {tuple(value.shape)}, expected {shape}")
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"state_dict: the {key} of {where} has non-finite entries")

    def _state_shape(self, key: str, p: torch.Tensor) -> tuple[int, ...] | None:
        """The shape a state tensor must have (default: the parameter's)."""
        return tuple(p.shape)

    def state_dict(self) -> dict:
        out = super().state_dict()
        out["spectral_la_steps"] = self._step_count
        return out
