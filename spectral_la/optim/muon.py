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
call) for fp32, fp64 and fp16 weights, and for bf16 weights with Nesterov momentum. Parity ends at
bf16 weights with ``nesterov=False``: there torch 2.13's Newton–Schulz divides torch's own momentum
buffer in place (``grad.bfloat16()`` is the buffer itself), which this class does not copy.
Parameters of the same shape in a group can be orthogonalised in one batched call
(``batch_same_shape=True``), which is faster and equal to rounding.

Specs that are unsafe on some inputs (``spec.can_diverge``): the published Muon^p recurrence
for p = 1/2 (``muon_p:1/2``) is defined for normalised σ̂₁ ≤ 0.580 only (its fixed point repels
above; it reached ``inf`` by step 10 on a small MLP); with ``check_finite=None`` (the default)
the optimizer checks such specs on every step and raises :class:`~spectral_la.DivergedError`
naming the parameter and the step before anything is changed. Every Newton–Schulz schedule is
bounded on [0, 1] from a normalised input; rounding can push σ̂ above 1, where schedules with
no margin above 1 (Emerging-Optimizers' ``cans`` rows in bf16) blow up: ``check_finite=True``
catches that too (a few host synchronisations per parameter and step).

Exact specs (``polar``, ``msign``, ``fractional_power:<p>``, …) run on the momentum in its own
dtype, or cast to ``compute_dtype`` when one is given. ``softening=s`` blends the orthogonalised
momentum with M/(‖M‖_F + eps) as the other optimizers of this package do (``functional.orthogonalizer``).
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import torch

from spectral_la.dtypes import bf16_is_slow, dtype_name, parse_dtype
from spectral_la.errors import LinAlgError
from spectral_la.normalization import SOURCE_EPS, SOURCE_FROBENIUS_CLAMP, Normalization
from spectral_la.optim import functional as F
from spectral_la.optim.base import MatrixOptimizer, Planned
from spectral_la.optim.capture import Capture
from spectral_la.optim.softening import parse_softening, softening_at, softening_value
from spectral_la.schedules import JORDAN_NS5_ROW, Schedule
from spectral_la.spec import NewtonSchulzSpec, Spec, parse_spec
from spectral_la.validation import check_in_range, check_int, check_real

__all__ = ["TORCH_MUON_NORMALIZATION", "Muon", "SlowComputeWarning", "run_spec", "torch_muon_spec"]

#: torch.optim.Muon's normalisation: X / max(‖X‖_F, 1e-7).
TORCH_MUON_NORMALIZATION = SOURCE_FROBENIUS_CLAMP

#: adjust_lr_fn: torch's None (= "original") and "match_rms_adamw", and microsoft/dion's modes
_ADJUST = {
    None: "original",
    "original": "original",
    "match_rms_adamw": "match_rms_adamw",
    "spectral_norm": "spectral_norm",
    "rms_norm": "rms_norm",
    "none": "none",
}


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
    "soften": "softening=<s> or orthogonalize='soften:<s>:<schedule>'",
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


def run_spec(orthogonalize: Any, x: torch.Tensor, step: int, where: Any) -> torch.Tensor:
    """``orthogonalize(x)``, a numerical failure re-raised naming the step, the parameter and the spec.

    ``where``: the text, or a callable that makes it (built only when a failure needs it).
    """
    try:
        return orthogonalize(x)
    except LinAlgError as exc:
        text = where() if callable(where) else where
        raise type(exc)(f"step {step}, {text}: {exc}") from None


class Muon(MatrixOptimizer):
    """Muon with any orthogonaliser of spectral_la (module docstring); a drop-in for ``torch.optim.Muon``.

    Parameters
    ----------
    params : iterable of tensors, of (name, tensor) pairs (``model.named_parameters()``) or of
        param-group dicts; 2-D parameters only. Names, where given, appear in every error.
    lr, weight_decay, momentum, nesterov, ns_coefficients, eps, ns_steps
        As in ``torch.optim.Muon`` (defaults too); the three NS arguments describe torch's
        Newton–Schulz (:func:`torch_muon_spec`) and apply only without ``orthogonalize``.
    adjust_lr_fn : str or None
        torch's ``None``/``"original"`` (√max(1, m/n)) and ``"match_rms_adamw"`` (0.2·√max(m, n)),
        and microsoft/dion's ``"spectral_norm"`` (√(m/n)), ``"rms_norm"`` (0.2·√max(m, n)) and
        ``"none"``, so that Muon and the optimizers of microsoft/dion compare at equal settings.
    orthogonalize : spec, optional
        Any spec value (:mod:`spectral_la.spec`): a string, JSON object, schedule file or Spec.
        Given together with non-default NS arguments it raises (one of them would be dropped).
    softening : float in [0, 1], or a schedule s(t)
        Soft-Muon's s: the update is lerp(O(M), M/(‖M‖_F + eps), s) (0: the plain orthogonaliser);
        a :class:`~spectral_la.optim.SofteningSchedule` or its string (``"linear:0:0.5:1000"``)
        sets s per step (:mod:`spectral_la.optim.softening`).
    compute_dtype : dtype or name, optional
        The dtype a matmul-only orthogonaliser computes in (``bf16``, ``fp32``, …). Default bf16, as
        torch.optim.Muon; on a CPU without native bf16 (measured once, from a private generator)
        the optimizer then warns once (:class:`SlowComputeWarning`): pass ``compute_dtype="fp32"``.
        An exact spec runs in the momentum's dtype unless ``compute_dtype`` is given.
    batch_same_shape : bool
        Orthogonalise same-shape parameters of a group in one batched call.
    capture : Capture, optional
        Recorder of gradients, momenta and updates.
    check_finite : bool or None
        True: check every gradient (``ValueError``) and every update (non-finite or out of its
        band: :class:`~spectral_la.DivergedError`). None (default): check only specs that can
        diverge on a normalised input (``spec.can_diverge``: Muon^p p = 1/2). False: never
        (torch.optim.Muon's behaviour; no host synchronisation). Whatever is checked, a step that
        raises changes nothing (:class:`~spectral_la.optim.base.MatrixOptimizer`).
    """

    NAME = "Muon"
    STATE_KEYS = {None: ("momentum_buffer",)}
    RENAMED = _LEGACY

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
        softening: float = 0.0,
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
            softening=softening_value(softening),
            compute_dtype=None if compute_dtype is None else dtype_name(parse_dtype(compute_dtype, "compute_dtype")),
            batch_same_shape=batch_same_shape,
            check_finite=check_finite,
        )
        self._warned_slow = False
        super().__init__(params, defaults, capture)
        if capture is not None:
            capture.meta = {
                "optimizer": "spectral_la.optim.Muon",
                **{k: v for k, v in defaults.items() if k != "orthogonalize"},
                "orthogonalize": str(_group_spec(defaults)),
            }

    def _validate_group(self, group: dict, where: str) -> None:
        _validate_group(group, where)

    def _group_checks_finite(self, group: dict) -> bool:
        check = group["check_finite"]
        return _group_spec(group).can_diverge if check is None else check

    def _compute_dtype(self, group: dict, spec: Spec, device: torch.device) -> torch.dtype | None:
        if group["compute_dtype"] is not None:
            return parse_dtype(group["compute_dtype"], "compute_dtype")
        if not spec.matmul_only:
            return None  # an exact map runs in the momentum's precision
        if device.type == "cpu" and not self._warned_slow and bf16_is_slow():
            self._warned_slow = True
            warnings.warn(
                "Muon computes in bf16 (torch.optim.Muon's default), which this CPU emulates: a bf16 product "
                "takes several times an fp32 one here; pass compute_dtype='fp32' for speed (equal to rounding)",
                SlowComputeWarning,
                stacklevel=4,
            )
        return torch.bfloat16

    def _plan_group(self, gi: int, group: dict, step: int) -> list[Planned]:
        members = [(j, p) for j, p in enumerate(group["params"]) if p.grad is not None]
        if not members:
            return []
        spec = _group_spec(group)
        check = self._group_checks_finite(group)
        compute = self._compute_dtype(group, spec, members[0][1].device)
        ortho = F.orthogonalizer(spec, None, compute, check, softening_at(group["softening"], step))
        eps = group["eps"]
        moments = {}
        for j, p in members:
            buf = self._state_of(p).get("momentum_buffer")
            if buf is None:
                buf = torch.zeros_like(p.grad, memory_format=torch.preserve_format)
            moments[j] = F.ema_momentum(p.grad, buf, group["momentum"], group["nesterov"])

        def run(x: torch.Tensor, where: str) -> torch.Tensor:
            return run_spec(lambda y: ortho(y, eps), x, step, lambda: f"{where} ({spec})")

        updates: dict[int, torch.Tensor] = {}
        if group["batch_same_shape"]:
            by_shape: dict[tuple, list[int]] = {}
            for j, p in members:
                by_shape.setdefault(tuple(p.shape), []).append(j)
            for js in by_shape.values():
                names = ", ".join(self._where(gi, j) for j in js)
                out = run(torch.stack([moments[j][1] for j in js]), names)
                updates.update(zip(js, out, strict=True))
        else:
            for j, _ in members:
                updates[j] = run(moments[j][1], self._where(gi, j))
        mode = _ADJUST[group["adjust_lr_fn"]]
        decay = 1 - group["lr"] * group["weight_decay"]
        planned: list[Planned] = []
        for j, p in members:
            lr = group["lr"] * F.lr_scale(mode, p.shape)
            new_buf = moments[j][0]
            # torch adds its update in the compute dtype (bf16) to the weight, computing in the promoted dtype:
            # handing the update over in that dtype (an exact cast back) keeps fp16 weights bit for bit too
            step_update = updates[j] if compute is None else updates[j].to(compute)
            weight = functools.partial(F.decoupled_step, update=step_update, decay=decay, lr=lr, inplace=True)
            seen = {"grad": p.grad, "momentum": new_buf, "update": updates[j]}
            planned.append((p, weight, {"momentum_buffer": new_buf}, seen))
        return planned


def _group_spec(group: dict) -> Spec:
    """The spec a param group runs: its ``orthogonalize`` or torch's NS from its NS arguments.

    Read several times per step. torch's NS spec from plain numbers is the same every time and is
    built once (:func:`torch_muon_spec` validates and constructs a schedule, the costly part); any
    other value is parsed as given, so a rewritten schedule file takes effect.
    """
    if group.get("orthogonalize") is not None:
        return parse_spec(group["orthogonalize"])
    coeffs, steps, eps = group["ns_coefficients"], group["ns_steps"], group["eps"]
    if isinstance(coeffs, (tuple, list)) and all(type(v) in (int, float) for v in (*coeffs, steps, eps)):
        return _torch_muon_spec_of_numbers(tuple(coeffs), steps, eps)
    return torch_muon_spec(coeffs, steps, eps)


_torch_muon_spec_of_numbers = functools.lru_cache(maxsize=64)(torch_muon_spec)


def _validate_group(group: dict, where: str) -> None:
    """The checks of ``__init__``, for the defaults, every param group and every loaded state dict."""
    check_in_range(group["lr"], f"{where}: lr", 0, None)
    check_in_range(group["weight_decay"], f"{where}: weight_decay", 0, None)
    check_in_range(group["momentum"], f"{where}: momentum", 0, 1, hi_open=True)
    parse_softening(group["softening"], f"{where}: softening")
    for flag in ("nesterov", "batch_same_shape"):
        if not isinstance(group[flag], bool):
            raise TypeError(f"{where}: {flag} must be a bool, got {group[flag]!r}")
    if group["check_finite"] is not None and not isinstance(group["check_finite"], bool):
        raise TypeError(f"{where}: check_finite must be True, False or None, got {group['check_finite']!r}")
    if group["adjust_lr_fn"] not in _ADJUST:
        raise ValueError(f"{where}: adjust_lr_fn must be one of {tuple(_ADJUST)}, got {group['adjust_lr_fn']!r}")
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
