"""A Muon-family ``torch.optim.Optimizer`` that takes any orthogonaliser of spectral_la, and a capture hook.

For each 2-D parameter W with gradient G (Jordan et al. 2024; torch.optim.Muon's order):

    B ← β·B + (1 − β)·G                       (momentum, as ``B.lerp_(G, 1 − β)``)
    M ← G + β·(B − G) if nesterov else B      (``G.lerp(B, β)``)
    O ← orthogonalise(M)                       (any schedule, Gram NS, softening s, or Muon^p p)
    W ← (1 − η·λ)·W − η·r(W)·O                 (decoupled weight decay λ; r the lr adjustment)

``orthogonalise`` is any spec value of :mod:`spectral_la.spec` (``orthogonalize=``: a string
such as ``"ns:polar_express"``, ``"gram_ns:polar_express"``, ``"soften:0.3:jordan_ns5"``,
``"muon_p:1/3"``, a JSON object, a designed schedule file or a Spec), run in the group's
compute dtype. Without it, torch.optim.Muon's own arguments (``ns_coefficients``,
``ns_steps``, ``eps``) describe torch's Newton–Schulz, with torch's meaning, so code written
for torch switches by changing the import: with the defaults the update equals
``torch.optim.Muon``'s bit for bit (bf16 products, X/max(‖X‖_F, 1e-7), one parameter per
call). Parameters of the same shape in a group can be orthogonalised in one batched call
(``batch_same_shape=True``), which is faster and equal to rounding.

Specs that are unsafe on some inputs (``spec.can_diverge``): the published Muon^p recurrence
for p = 1/2 (``muon_p:1/2``) is defined for normalised σ̂₁ ≤ 0.580 only (its fixed point repels
above; it reached ``inf`` by step 10 on a small MLP); with ``check_finite=None`` (the default)
the optimizer checks such specs on every step and raises :class:`~spectral_la.DivergedError`
naming the parameter and the step before anything is changed. Every Newton–Schulz schedule is
bounded on [0, 1] from a normalised input; rounding can push σ̂ above 1, where schedules with
no margin above 1 (Emerging-Optimizers' ``cans`` rows in bf16) blow up: ``check_finite=True``
catches that too (a few host synchronisations per parameter and step).

:class:`Capture` records what a training run's optimizer sees -- gradient, momentum and
update -- at chosen steps: singular values always (float64), full matrices optionally, saved
with the settings that reproduce them in one ``.npz`` file.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spectral_la.atomic_files import atomic_path
from spectral_la.dtypes import bf16_is_slow, dtype_name, parse_dtype
from spectral_la.errors import DivergedError
from spectral_la.normalization import SOURCE_EPS, Normalization
from spectral_la.schedules import JORDAN_NS5_ROW, Schedule
from spectral_la.spec import NewtonSchulzSpec, Spec, parse_spec
from spectral_la.validation import check_in_range, check_int, check_real

__all__ = ["TORCH_MUON_NORMALIZATION", "Capture", "Muon", "SlowComputeWarning", "torch_muon_spec"]

#: torch.optim.Muon's normalisation: X / max(‖X‖_F, 1e-7).
TORCH_MUON_NORMALIZATION = Normalization(kind="frobenius_clamp", eps=SOURCE_EPS)

_ADJUST = (None, "original", "match_rms_adamw")


def _adjusted_lr(lr: float, how: str | None, shape: torch.Size) -> float:
    rows, cols = shape[:2]
    if how in (None, "original"):
        return lr * math.sqrt(max(1, rows / cols))
    return lr * 0.2 * math.sqrt(max(rows, cols))  # "match_rms_adamw" (Liu et al. 2025)


class Capture:
    """Record gradient / momentum / update of named parameters at chosen steps (module docstring).

    Parameters
    ----------
    named_parameters : iterable of (name, tensor)
        Usually ``model.named_parameters()``; only 2-D parameters are recorded.
    steps : iterable of int
        Optimizer steps (1-based) to record at.
    kinds : subset of ("grad", "momentum", "update")
    full : bool or iterable of int
        Also keep the full matrices (float32), not only their singular values: at every
        captured step (True) or at the given steps only.
    """

    KINDS = ("grad", "momentum", "update")

    def __init__(self, named_parameters: Iterable, steps: Iterable[int], kinds=KINDS, *, full=False):
        self.names = {id(p): name for name, p in named_parameters}
        self.steps = {check_int(s, "steps", 1, 10**9) for s in steps}
        bad = [k for k in kinds if k not in self.KINDS]
        if bad:
            raise ValueError(f"kinds must be among {self.KINDS}, got {bad}")
        self.kinds = tuple(kinds)
        self.full = full if isinstance(full, bool) else {check_int(s, "full", 1, 10**9) for s in full}
        self.arrays: dict[str, np.ndarray] = {}
        self.meta: dict[str, Any] = {}

    def wants(self, step: int) -> bool:
        return step in self.steps

    def record(self, step: int, param: torch.Tensor, kind: str, matrix: torch.Tensor) -> None:
        if kind not in self.kinds or id(param) not in self.names:
            return
        name = self.names[id(param)]
        m = matrix.detach().double().cpu()
        self.arrays[f"sv/{name}/{kind}/{step}"] = torch.linalg.svdvals(m).numpy()
        if self.full is True or (not isinstance(self.full, bool) and step in self.full):
            self.arrays[f"matrix/{name}/{kind}/{step}"] = m.float().numpy()

    def save(self, path: str | Path, **meta: Any) -> Path:
        """Write every record and the metadata (``meta`` plus the optimizer settings) to ``path`` (.npz)."""
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            meta_text = json.dumps({**self.meta, **meta}, default=str)
            arrays: dict[str, Any] = {"__meta__": np.array(meta_text), **self.arrays}
            np.savez_compressed(fh, **arrays)
        return path


class SlowComputeWarning(UserWarning):
    """The optimizer computes in bf16 on a CPU that emulates bf16 products (an order of magnitude slower)."""


#: torch.optim.Muon's defaults for its Newton–Schulz arguments.
TORCH_NS_COEFFICIENTS = JORDAN_NS5_ROW
TORCH_NS_STEPS = 5
TORCH_EPS = SOURCE_EPS

_LEGACY = {
    "schedule": "orthogonalize='ns:<schedule>'",
    "steps": "orthogonalize='ns:<schedule>:<steps>'",
    "normalize": "orthogonalize='ns:<schedule>:normalize=<kind>'",
    "gram": "orthogonalize='gram_ns:<schedule>'",
    "soften": "orthogonalize='soften:<s>:<schedule>'",
    "power": "orthogonalize='muon_p:<p>'",
}


def torch_muon_spec(ns_coefficients=TORCH_NS_COEFFICIENTS, ns_steps: int = TORCH_NS_STEPS, eps: float = TORCH_EPS):
    """The spec of torch.optim.Muon's Newton–Schulz with its arguments: X/max(‖X‖_F, eps), ns_steps quintic steps."""
    coeffs = tuple(float(check_real(c, "ns_coefficients entry")) for c in ns_coefficients)
    if len(coeffs) != 3:
        raise ValueError(f"ns_coefficients must hold exactly 3 values (a, b, c), got {len(coeffs)}")
    steps = check_int(ns_steps, "ns_steps", 0, 99)  # torch.optim.Muon rejects ≥ 100
    eps = float(check_in_range(eps, "eps", 0, None))
    norm = Normalization(kind="frobenius_clamp", eps=eps)
    if coeffs == tuple(JORDAN_NS5_ROW):
        return NewtonSchulzSpec("torch_muon", steps, None if eps == TORCH_EPS else norm)
    sched = Schedule(
        name="torch_ns_coefficients",
        rows=(coeffs,),
        steps=max(steps, 1),
        repeat_last=True,
        interval=(1e-3, 1.0),
        interval_stated=False,
        normalization=norm,
        source="torch.optim.Muon(ns_coefficients=...) as given",
    )
    return NewtonSchulzSpec(sched, steps)


class Muon(torch.optim.Optimizer):
    """Muon with any orthogonaliser of spectral_la (module docstring); a drop-in for ``torch.optim.Muon``.

    Parameters
    ----------
    params : iterable of tensors, of (name, tensor) pairs (``model.named_parameters()``) or of
        param-group dicts; 2-D parameters only. Names, where given, appear in every error.
    lr, weight_decay, momentum, nesterov, ns_coefficients, eps, ns_steps, adjust_lr_fn
        As in ``torch.optim.Muon`` (defaults too); the three NS arguments describe torch's
        Newton–Schulz (:func:`torch_muon_spec`) and apply only without ``orthogonalize``.
    orthogonalize : spec, optional
        Any spec value (:mod:`spectral_la.spec`): a string, JSON object, schedule file or Spec.
        Given together with non-default NS arguments it raises (one of them would be dropped).
    compute_dtype : dtype or name, optional
        The dtype the orthogonaliser computes in (``bf16``, ``fp32``, …). Default bf16, as
        torch.optim.Muon; on a CPU without native bf16 (measured once) the optimizer then warns
        once (:class:`SlowComputeWarning`) that bf16 is emulated: pass ``compute_dtype="fp32"``.
    batch_same_shape : bool
        Orthogonalise same-shape parameters of a group in one batched call.
    capture : Capture, optional
        Recorder of gradients, momenta and updates.
    check_finite : bool or None
        True: check every gradient (``ValueError``) and every update (non-finite or out of its
        band: :class:`~spectral_la.DivergedError`) before changing anything, so a failed step
        leaves parameters, momenta and the step count as they were. None (default): check only
        specs that can diverge on a normalised input (``spec.can_diverge``: Muon^p p = 1/2).
        False: never (torch.optim.Muon's behaviour; no host synchronisation).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = TORCH_NS_COEFFICIENTS,
        eps: float = TORCH_EPS,
        ns_steps: int = TORCH_NS_STEPS,
        adjust_lr_fn: str | None = None,
        *,
        orthogonalize: Any = None,
        compute_dtype: Any = None,
        batch_same_shape: bool = False,
        capture: Capture | None = None,
        check_finite: bool | None = None,
        **removed: Any,
    ) -> None:
        if removed:
            key = next(iter(removed))
            hint = f"; use {_LEGACY[key]}" if key in _LEGACY else ""
            raise TypeError(f"Muon got an unexpected keyword argument {key!r}{hint}")
        defaults = dict(
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            nesterov=nesterov,
            ns_coefficients=tuple(ns_coefficients),
            eps=eps,
            ns_steps=ns_steps,
            adjust_lr_fn=adjust_lr_fn,
            orthogonalize=None if orthogonalize is None else parse_spec(orthogonalize).to_json(),
            compute_dtype=None if compute_dtype is None else dtype_name(parse_dtype(compute_dtype, "compute_dtype")),
            batch_same_shape=batch_same_shape,
            check_finite=check_finite,
        )
        _validate_group(defaults, "Muon")
        self.capture = capture
        super().__init__(params, defaults)
        for k, group in enumerate(self.param_groups):
            _validate_group(group, f"param group {k}")
            for j, p in enumerate(group["params"]):
                if p.ndim != 2:
                    raise ValueError(
                        f"Muon updates 2-D parameters only: {self._where(group, j, p)} has shape {tuple(p.shape)}"
                    )
        self._step_count = 0
        self._warned_slow = False
        if capture is not None:
            capture.meta = {
                "optimizer": "spectral_la.optim.Muon",
                **{k: v for k, v in defaults.items() if k != "orthogonalize"},
                "orthogonalize": str(_group_spec(defaults)),
            }

    # --- helpers -------------------------------------------------------------------------------

    def _where(self, group: dict, j: int, p: torch.Tensor) -> str:
        names = group.get("param_names")
        if names is not None and j < len(names):
            return f"parameter {names[j]!r}"
        capture = getattr(self, "capture", None)
        if capture is not None and id(p) in capture.names:
            return f"parameter {capture.names[id(p)]!r}"
        return f"parameter {j} of param group {self.param_groups.index(group)} (shape {tuple(p.shape)})"

    def _compute_dtype(self, group: dict, device: torch.device) -> torch.dtype:
        if group["compute_dtype"] is not None:
            return parse_dtype(group["compute_dtype"], "compute_dtype")
        if device.type == "cpu" and not self._warned_slow and bf16_is_slow():
            self._warned_slow = True
            warnings.warn(
                "Muon computes in bf16 (torch.optim.Muon's default), which this CPU emulates: a bf16 product "
                "takes several times an fp32 one here; pass compute_dtype='fp32' for speed (equal to rounding)",
                SlowComputeWarning,
                stacklevel=3,
            )
        return torch.bfloat16

    # --- the step ------------------------------------------------------------------------------

    @torch.no_grad()
    def step(self, closure=None):
        """One optimisation step; with checking, either every parameter is updated or none (class docstring)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        step = self._step_count + 1
        record = self.capture is not None and self.capture.wants(step)
        pending = []  # (param, new momentum buffer or None, update, lr factor, weight-decay factor)
        for group in self.param_groups:
            spec = _group_spec(group)
            check = group["check_finite"] if group["check_finite"] is not None else spec.can_diverge
            inputs = []
            for j, p in enumerate(group["params"]):
                if p.grad is None:
                    continue
                if p.grad.is_sparse or torch.is_complex(p.grad):
                    raise ValueError(f"Muon takes dense real gradients: {self._where(group, j, p)}")
                if check and not bool(torch.isfinite(p.grad).all()):
                    raise ValueError(
                        f"step {step}: the gradient of {self._where(group, j, p)} has non-finite entries (NaN or Inf)"
                    )
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad, memory_format=torch.preserve_format)
                buf = state["momentum_buffer"]
                if check:  # nothing is changed before every update is known to be good
                    buf = buf.lerp(p.grad, 1 - group["momentum"])
                else:
                    buf.lerp_(p.grad, 1 - group["momentum"])
                m = p.grad.lerp(buf, group["momentum"]) if group["nesterov"] else buf
                inputs.append((j, p, buf, m))
            if not inputs:
                continue
            compute = self._compute_dtype(group, inputs[0][1].device)
            updates = self._orthogonalise_all(group, spec, inputs, compute, check, step)
            for j, p, buf, _ in inputs:
                pending.append((group, p, buf if check else None, updates[j]))
        for group, p, new_buf, update in pending:  # commit
            if new_buf is not None:
                self.state[p]["momentum_buffer"].copy_(new_buf)
            if record and self.capture is not None:
                self.capture.record(step, p, "grad", p.grad)
                self.capture.record(step, p, "momentum", self.state[p]["momentum_buffer"])
                self.capture.record(step, p, "update", update)
            p.mul_(1 - group["lr"] * group["weight_decay"])
            p.add_(update, alpha=-_adjusted_lr(group["lr"], group["adjust_lr_fn"], p.shape))
        self._step_count = step
        return loss

    def _orthogonalise_all(self, group, spec: Spec, inputs, compute, check: bool, step: int) -> dict:
        def run(x: torch.Tensor, where: str) -> torch.Tensor:
            try:
                return spec(x, compute_dtype=compute, check_finite=check)
            except DivergedError as exc:
                raise DivergedError(f"step {step}, {where} ({spec}): {exc}") from None

        updates: dict[int, torch.Tensor] = {}
        if group["batch_same_shape"]:
            by_shape: dict[tuple, list] = {}
            for j, p, _, m in inputs:
                by_shape.setdefault(tuple(m.shape), []).append((j, p, m))
            for members in by_shape.values():
                names = ", ".join(self._where(group, j, p) for j, p, _ in members)
                out = run(torch.stack([m for _, _, m in members]), names)
                for (j, _, _), o in zip(members, out, strict=True):
                    updates[j] = o
        else:
            for j, p, _, m in inputs:
                updates[j] = run(m, self._where(group, j, p))
        return updates

    # --- state ---------------------------------------------------------------------------------

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state dict of this class or of ``torch.optim.Muon``, validated as ``__init__`` validates.

        Hyperparameters missing from a torch.optim.Muon state dict take this class's defaults (so its
        NS arguments keep torch's meaning and training continues bit for bit); every group is checked
        as ``__init__`` checks it, every momentum buffer for shape, floating dtype and finiteness.
        """
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict or "state" not in state_dict:
            raise ValueError("state_dict must be an optimizer state dict with 'state' and 'param_groups'")
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"state_dict has {len(groups)} param groups, this optimizer {len(self.param_groups)}")
        params = {}
        for k, (saved, ours) in enumerate(zip(groups, self.param_groups, strict=True)):
            filled = {**{key: v for key, v in self.defaults.items()}, **saved}
            _validate_group(filled, f"state_dict param group {k}")
            if len(saved["params"]) != len(ours["params"]):
                raise ValueError(
                    f"state_dict param group {k} has {len(saved['params'])} parameters, ours has {len(ours['params'])}"
                )
            params.update(
                {i: (ours, j, p) for j, (i, p) in enumerate(zip(saved["params"], ours["params"], strict=True))}
            )
        for i, st in state_dict["state"].items():
            if i not in params:
                raise ValueError(f"state_dict holds state for parameter index {i!r}, which no group lists")
            group, j, p = params[i]
            unknown = set(st) - {"momentum_buffer"}
            if unknown:
                raise ValueError(f"state_dict: {self._where(group, j, p)} has unknown state {sorted(unknown)}")
            buf = st.get("momentum_buffer")
            if buf is None:
                continue
            if not isinstance(buf, torch.Tensor) or not buf.is_floating_point():
                raise TypeError(
                    f"state_dict: the momentum buffer of {self._where(group, j, p)} must be a floating tensor"
                )
            if tuple(buf.shape) != tuple(p.shape):
                raise ValueError(
                    f"state_dict: the momentum buffer of {self._where(group, j, p)} has shape "
                    f"{tuple(buf.shape)}, the parameter {tuple(p.shape)}"
                )
            if not bool(torch.isfinite(buf).all()):
                raise ValueError(
                    f"state_dict: the momentum buffer of {self._where(group, j, p)} has non-finite entries"
                )
        filled_dict = {
            "state": state_dict["state"],
            "param_groups": [{**self.defaults, **g} for g in groups],
        }
        super().load_state_dict(filled_dict)
        self._step_count = int(state_dict.get("spectral_la_steps", self._step_count))

    def state_dict(self) -> dict:
        out = super().state_dict()
        out["spectral_la_steps"] = self._step_count
        return out


def _group_spec(group: dict) -> Spec:
    """The spec a param group runs: its ``orthogonalize`` or torch's NS from its NS arguments."""
    if group.get("orthogonalize") is not None:
        return parse_spec(group["orthogonalize"])
    return torch_muon_spec(group["ns_coefficients"], group["ns_steps"], group["eps"])


def _validate_group(group: dict, where: str) -> None:
    """The checks of ``__init__``, for the defaults, every param group and every loaded state dict."""
    check_in_range(group["lr"], f"{where}: lr", 0, None)
    check_in_range(group["weight_decay"], f"{where}: weight_decay", 0, None)
    check_in_range(group["momentum"], f"{where}: momentum", 0, 1, hi_open=True)
    for flag in ("nesterov", "batch_same_shape"):
        if not isinstance(group[flag], bool):
            raise TypeError(f"{where}: {flag} must be a bool, got {group[flag]!r}")
    if group["check_finite"] is not None and not isinstance(group["check_finite"], bool):
        raise TypeError(f"{where}: check_finite must be True, False or None, got {group['check_finite']!r}")
    if group["adjust_lr_fn"] not in _ADJUST:
        raise ValueError(f"{where}: adjust_lr_fn must be one of {_ADJUST}, got {group['adjust_lr_fn']!r}")
    if group["compute_dtype"] is not None:
        parse_dtype(group["compute_dtype"], f"{where}: compute_dtype")
    torch_ns = torch_muon_spec(group["ns_coefficients"], group["ns_steps"], group["eps"])  # validates them
    if group.get("orthogonalize") is not None:
        spec = parse_spec(group["orthogonalize"])
        if torch_ns != torch_muon_spec():
            raise ValueError(
                f"{where}: orthogonalize={spec} and non-default ns_coefficients/ns_steps/eps both describe the "
                "orthogonaliser; give one of them"
            )
