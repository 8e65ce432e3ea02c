"""A Muon-family ``torch.optim.Optimizer`` that takes any orthogonaliser of spectral_la, and a capture hook.

For each 2-D parameter W with gradient G (Jordan et al. 2024; torch.optim.Muon's order):

    B ← β·B + (1 − β)·G                       (momentum, as ``B.lerp_(G, 1 − β)``)
    M ← G + β·(B − G) if nesterov else B      (``G.lerp(B, β)``)
    O ← orthogonalise(M)                       (any schedule, Gram NS, softening s, or Muon^p p)
    W ← (1 − η·λ)·W − η·r(W)·O                 (decoupled weight decay λ; r the lr adjustment)

``orthogonalise`` is :func:`spectral_la.newton_schulz` (or :func:`gram_newton_schulz`,
:func:`soften`, :func:`muon_p`) with the group's schedule, steps, normalisation and compute
dtype. With ``schedule="jordan_ns5"`` and the defaults (normalisation X/max(‖X‖_F, 1e-7),
compute in bfloat16, one parameter per call) the update equals ``torch.optim.Muon``'s bit for
bit. Parameters of the same shape in a group can be orthogonalised in one batched call
(``batch_same_shape=True``), which is faster and equal to rounding.

:class:`Capture` records what a training run's optimizer sees -- gradient, momentum and
update -- at chosen steps: singular values always (float64), full matrices optionally, saved
with the settings that reproduce them in one ``.npz`` file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spectral_la.atomic_files import atomic_path
from spectral_la.gram_newton_schulz import gram_newton_schulz
from spectral_la.muon_p import muon_p
from spectral_la.newton_schulz import newton_schulz
from spectral_la.schedules import SOURCE_EPS, Normalization, Schedule, schedules
from spectral_la.soften import soften
from spectral_la.validation import check_in_range, check_int

__all__ = ["TORCH_MUON_NORMALIZATION", "Capture", "Muon"]

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
            np.savez_compressed(fh, __meta__=np.array(json.dumps({**self.meta, **meta}, default=str)), **self.arrays)
        return path


class Muon(torch.optim.Optimizer):
    """Muon with any orthogonaliser of spectral_la (module docstring).

    Parameters
    ----------
    params : iterable of tensors or param-group dicts (2-D parameters only)
    lr, weight_decay, momentum, nesterov, adjust_lr_fn
        As in ``torch.optim.Muon`` (defaults too).
    schedule : str or Schedule
        A registered or designed schedule (default ``"jordan_ns5"``).
    steps : int, optional
        Schedule steps (default: the schedule's).
    normalize : None, kind name or Normalization
        Default :data:`TORCH_MUON_NORMALIZATION`; ``None`` uses the schedule's own.
    compute_dtype : torch.dtype
        Orthogonalisation dtype (default bfloat16, as torch.optim.Muon).
    gram : bool
        Gram Newton–Schulz instead of plain NS.
    soften : float in [0, 1]
        Soft-Muon blend s (0: none).
    power : float in (0, 1), optional
        Muon^p: the bivariate recurrence for U Σ^p Vᵀ instead of NS (the schedule is then unused).
    batch_same_shape : bool
        Orthogonalise same-shape parameters of a group in one batched call.
    capture : Capture, optional
        Recorder of gradients, momenta and updates.
    check_finite : bool
        Raise ``ValueError`` naming the parameter when a gradient holds NaN or Inf, and
        :class:`~spectral_la.DivergedError` when the orthogonalised update does (a schedule
        without margin above 1 in bf16); a few host synchronisations per parameter and step.
        Off by default, as in torch.optim.Muon, where either propagates into the weights.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        *,
        schedule: str | Schedule = "jordan_ns5",
        steps: int | None = None,
        normalize: Any = TORCH_MUON_NORMALIZATION,
        compute_dtype: torch.dtype = torch.bfloat16,
        gram: bool = False,
        soften: float = 0.0,
        power: float | None = None,
        adjust_lr_fn: str | None = None,
        batch_same_shape: bool = False,
        capture: Capture | None = None,
        check_finite: bool = False,
    ) -> None:
        check_in_range(lr, "lr", 0, None)
        check_in_range(weight_decay, "weight_decay", 0, None)
        check_in_range(momentum, "momentum", 0, 1, hi_open=True)
        check_in_range(soften, "soften", 0, 1)
        if power is not None:
            check_in_range(power, "power", 0, 1, lo_open=True, hi_open=True)
        if adjust_lr_fn not in _ADJUST:
            raise ValueError(f"adjust_lr_fn must be one of {_ADJUST}, got {adjust_lr_fn!r}")
        schedules.resolve(schedule)  # an unknown name raises here, not at the first step
        if steps is not None:
            check_int(steps, "steps", 0, 10_000)
        if power is not None and (gram or soften):
            raise ValueError("power (Muon^p) excludes gram and soften")
        defaults = dict(
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            nesterov=bool(nesterov),
            schedule=schedule,
            steps=steps,
            normalize=normalize,
            compute_dtype=compute_dtype,
            gram=bool(gram),
            soften=float(soften),
            power=power,
            adjust_lr_fn=adjust_lr_fn,
            batch_same_shape=bool(batch_same_shape),
            check_finite=bool(check_finite),
        )
        super().__init__(params, defaults)
        self.capture = capture
        self._step_count = 0
        if capture is not None:
            capture.meta = {"optimizer": "spectral_la.optim.Muon", **{k: v for k, v in defaults.items()}}

    def _name(self, p: torch.Tensor) -> str:
        if self.capture is not None and id(p) in self.capture.names:
            return repr(self.capture.names[id(p)])
        return f"of shape {tuple(p.shape)}"

    def _orthogonalise(self, group: dict, m: torch.Tensor) -> torch.Tensor:
        kw = {"compute_dtype": group["compute_dtype"], "check_finite": group["check_finite"]}
        if group["power"] is not None:
            return muon_p(m, group["power"], **kw)
        kw["normalize"] = group["normalize"]
        if group["soften"]:
            return soften(m, group["soften"], group["schedule"], group["steps"], **kw)
        run = gram_newton_schulz if group["gram"] else newton_schulz
        return run(m, group["schedule"], group["steps"], **kw)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._step_count += 1
        record = self.capture is not None and self.capture.wants(self._step_count)
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            updates: dict[int, torch.Tensor] = {}
            inputs = []
            for p in params:
                if p.grad.ndim != 2:
                    raise ValueError(f"Muon updates 2-D parameters only, got a gradient of shape {tuple(p.grad.shape)}")
                if group["check_finite"] and not bool(torch.isfinite(p.grad).all()):
                    raise ValueError(f"the gradient of parameter {self._name(p)} has non-finite entries (NaN or Inf)")
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad, memory_format=torch.preserve_format)
                buf = state["momentum_buffer"]
                buf.lerp_(p.grad, 1 - group["momentum"])
                m = p.grad.lerp(buf, group["momentum"]) if group["nesterov"] else buf
                inputs.append((p, m))
                if record:
                    self.capture.record(self._step_count, p, "grad", p.grad)
                    self.capture.record(self._step_count, p, "momentum", buf)
            if group["batch_same_shape"]:
                by_shape: dict[tuple, list] = {}
                for p, m in inputs:
                    by_shape.setdefault(tuple(m.shape), []).append((p, m))
                for members in by_shape.values():
                    out = self._orthogonalise(group, torch.stack([m for _, m in members]))
                    for (p, _), o in zip(members, out, strict=True):
                        updates[id(p)] = o
            else:
                for p, m in inputs:
                    updates[id(p)] = self._orthogonalise(group, m)
            for p, _ in inputs:
                update = updates[id(p)]
                if record:
                    self.capture.record(self._step_count, p, "update", update)
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(update, alpha=-_adjusted_lr(group["lr"], group["adjust_lr_fn"], p.shape))
        return loss
