"""Low precision as an analysis: step traces of a Newton–Schulz spec in any compute dtype, and a rounding model.

* :func:`step_trace` runs a spec step by step (:func:`spectral_la.kernels.iterate`'s ``observe``
  hook: the same iteration, observed) in a compute dtype -- fp64, fp32, bf16, fp16, or fp8
  (e4m3 / e5m2) emulated as products of fp8-rounded operands accumulated in fp32 -- and, on the
  same input, in float64. Per step it records the largest entry and the Frobenius norm of X,
  of A = XXᵀ and of the polynomial term S = c₁A + c₂A² + …, and the error of each singular
  value against the float64 run: X_k = U f_k(Σ̂) Vᵀ in exact arithmetic, so the diagonal of
  Uᵀ X_k V (U, V from the exact SVD of the input) is f_k(σ̂ᵢ) plus rounding.
* :func:`predicted_error` is the first-order rounding model: rounding δ_k introduced at step k
  reaches the output multiplied by the later steps' slopes, Π_{j>k} p_j′(σ_j), so::

      err(σ) ≈ u_c · Σ_k g·(T_k/√(mn)) · Π_{j>k} |p_j′(σ_j(σ))|,   T_k = Σ_t |c_{k,t}| ‖σ_k^{2t+1}‖₂,

  T_k the Frobenius size of step k's terms (the whole spectrum's: the rounding of X_{k+1}'s
  entries scales with all of X, whatever σ is observed), so T_k/√(mn) is the typical entry and
  u·g·T_k/√(mn) its rounding; an error matrix with iid entries of that size has the same size on
  every singular pair uᵢᵀEvᵢ. The growth g: an fp32 or fp64 product sums its n terms in its own
  precision, with errors of random sign, g = √n (Higham & Mary, "A new approach to probabilistic
  rounding error analysis", SISC 2019); a bf16, fp16 or fp8 product accumulates in fp32 and is
  rounded once, g = 1. The input's own rounding enters as T₋₁ = ‖σ‖₂.
* Accumulation orders: ``"fused"`` (one ``addmm`` per step, βC + αAB rounded once: torch's and
  our form) or ``"separate"`` (the product rounded to the compute dtype, then added and rounded
  again: the form of an unfused step).

fp8 emulation: each product operand is scaled by a power of two that brings its largest entry
to half the format's largest finite value (exact), rounded to ``torch.float8_e4m3fn`` or
``torch.float8_e5m2`` (round to nearest even), and multiplied back in float32, where the
products accumulate: the arithmetic of an fp8 GEMM with per-tensor scaling and fp32 accumulation.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch

from spectral_la.analysis.spectra import FAMILIES, family_matrix
from spectral_la.backend import TorchOps
from spectral_la.dtypes import FP8_FORMATS, parse_compute_precision, parse_dtype, store
from spectral_la.kernels import iterate
from spectral_la.normalization import SOURCE_FROBENIUS, apply_normalization, normalize_with_gram, resolve_normalization
from spectral_la.schedules import schedules
from spectral_la.spec import NewtonSchulzSpec, SoftenSpec, parse_spec
from spectral_la.validation import check_finite, check_matrix_shape

__all__ = [
    "COMPUTE",
    "EmulatedOps",
    "PrecisionConfig",
    "fp8_round",
    "outlier_study",
    "model_accuracy",
    "model_ratio",
    "predicted_error",
    "step_trace",
    "trace_rows",
    "unit_roundoff",
]

#: Compute precisions a trace takes: torch dtype names (through parse_dtype) and the fp8 formats.
COMPUTE = ("fp64", "fp32", "bf16", "fp16", *FP8_FORMATS)
ACCUMULATIONS = ("fused", "separate")


def fp8_round(t: torch.Tensor, fmt: str) -> torch.Tensor:
    """t with its entries rounded to the fp8 format after a power-of-two per-tensor scaling, in float32."""
    dtype = FP8_FORMATS[parse_compute_precision(fmt, "fmt")]
    if t.numel() == 0:
        return t.float()
    amax = float(t.abs().max())
    if amax == 0 or not math.isfinite(amax):
        return t.float()
    # The scale 2^e brings amax to half the format's largest value. For a tiny amax e exceeds
    # float32's exponent range (1e-37 needs 2^138) and even float64's for subnormal inputs, so the
    # scaling runs in float64 as two exact power-of-two factors; the result is float32, where
    # entries below float32's range flush to zero as in an fp32-accumulating fp8 GEMM.
    e = math.floor(math.log2(torch.finfo(dtype).max / 2) - math.log2(amax))
    half = e // 2
    scaled = t.double() * 2.0**half * 2.0 ** (e - half)
    return (scaled.to(dtype).double() * 2.0**-half * 2.0 ** -(e - half)).float()


class EmulatedOps(TorchOps):
    """TorchOps whose products round their operands to fp8 (``fmt``) and/or add in the ``accumulation`` order."""

    def __init__(self, dtype: torch.dtype, device: torch.device, fmt: str | None, accumulation: str) -> None:
        super().__init__(dtype, device)
        self.fmt = fmt
        self.accumulation = accumulation
        self.products = "plain"  # the emulation owns the products
        if fmt is not None:
            self.unit_roundoff = float(torch.finfo(FP8_FORMATS[fmt]).eps) / 2
            self.machine_epsilon = 2 * self.unit_roundoff

    def _q(self, t: torch.Tensor) -> torch.Tensor:
        return t if self.fmt is None else fp8_round(t, self.fmt)

    def gram(self, x):
        q = self._q(x)
        return q @ q.mT

    def gram_addmm(self, a, beta, alpha):
        return self.addmm(a, a, a, beta, alpha)

    def addmm(self, c, a, b, beta, alpha=1.0):
        if self.accumulation == "separate":
            return c * beta + (self._q(a) @ self._q(b)) * alpha
        return super().addmm(c, self._q(a), self._q(b), beta, alpha)


def _ns_spec(spec: Any) -> NewtonSchulzSpec | SoftenSpec:
    """A traceable spec: plain Newton–Schulz (``ns:…``) or its Soft-Muon blend (``soften:…``)."""
    spec = parse_spec(spec) if not isinstance(spec, (NewtonSchulzSpec, SoftenSpec)) else spec
    if isinstance(spec, SoftenSpec) or (isinstance(spec, NewtonSchulzSpec) and not spec.gram):
        return spec
    raise ValueError(
        f"spec: step traces take a plain Newton–Schulz spec (ns:…) or a softened one (soften:…), got {spec}; "
        "Gram NS iterates on the Gram matrix with restarts and Muon^p on a coupled pair, which these traces "
        "do not observe"
    )


def _inner(spec: NewtonSchulzSpec | SoftenSpec) -> NewtonSchulzSpec:
    """The Newton–Schulz iteration inside a spec (itself for ``ns``)."""
    if isinstance(spec, SoftenSpec):
        return NewtonSchulzSpec(schedule=spec.schedule, steps=spec.steps, normalize=spec.normalize)
    return spec


def _run(spec: NewtonSchulzSpec | SoftenSpec, x: torch.Tensor, ops: TorchOps) -> list[dict]:
    """The spec's normalisation and steps on x (wide) through ``ops``; per step the arrays observed.

    A softened spec adds one last step, the blend (1 − s)·X_T + s·X/(‖X‖_F + 1e-7) (:func:`spectral_la.soften`).
    """
    if isinstance(spec, SoftenSpec):
        seen = _run(_inner(spec), x, ops)
        direct = apply_normalization(ops, x.to(ops.dtype), SOURCE_FROBENIUS)
        blend = ops.lerp(seen[-1]["x"], direct, ops.scalar(spec.s))
        return [*seen, {"step": len(seen), "x": blend.detach().clone(), "a": None, "s": None}]
    sched = schedules.resolve(spec.schedule)
    rows = sched.coefficients(spec.steps)
    norm = resolve_normalization(spec.normalize, sched.normalization)
    x = x.to(ops.dtype)
    x0, gram = normalize_with_gram(ops, x, norm)
    seen = [{"step": 0, "x": x0.detach().clone(), "a": None, "s": None}]

    def observe(k, a, s, xk):
        seen.append({"step": k + 1, "x": xk.detach().clone(), "a": a.detach().clone(), "s": s})

    iterate(ops, x0, rows, gram, observe=observe)
    return seen


def _stats(t: torch.Tensor | None) -> tuple[float, float]:
    if t is None:
        return float("nan"), float("nan")
    t = t.double()
    return float(t.abs().max()), float(torch.linalg.matrix_norm(t))


def step_trace(
    spec: Any,
    x: torch.Tensor,
    *,
    compute: str = "bf16",
    storage: Any = None,
    accumulation: str = "fused",
) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """Per-step statistics of the spec in ``compute`` against float64 on the same input.

    Parameters
    ----------
    spec : str, NewtonSchulzSpec or SoftenSpec
        A plain Newton–Schulz spec (``"ns:polar_express"``) or a softened one (``"soften:0.3:polar_express"``,
        whose last traced step is the blend).
    x : torch.Tensor (m, n)
        The input, any float dtype; it is stored in ``storage`` (default: the compute dtype, float32
        for fp8) before the run, and the float64 reference runs on that stored matrix.
    compute : one of :data:`COMPUTE`
    accumulation : ``"fused"`` or ``"separate"`` (module docstring)

    Returns
    -------
    rows, sigma, errors
        ``rows``: one dict per step (0 = after normalisation) with ``max_abs_x``, ``fro_x``,
        ``max_abs_a``, ``fro_a``, ``max_abs_s``, ``fro_s`` (NaN where the step has none), the same
        three largest entries in the float64 run (``ref_max_abs_*``) and ``max_sigma_error``.
        ``sigma``: the normalised singular values σ̂ of the stored input (float64 run, step 0).
        ``errors``: array (steps + 1, k) of ``|σ_k(compute) − σ_k(float64)|`` per singular value.
    """
    spec = _ns_spec(spec)
    compute = parse_compute_precision(compute, "compute")  # bf16, bfloat16, torch.bfloat16, fp8_e4m3, …
    if accumulation not in ACCUMULATIONS:
        raise ValueError(f"accumulation must be one of {ACCUMULATIONS}, got {accumulation!r}")
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or not x.is_floating_point():
        raise TypeError("x must be a 2-D floating torch.Tensor")
    check_matrix_shape(tuple(x.shape), "x")
    check_finite(bool(torch.isfinite(x).all()), "x")
    fmt = compute if compute in FP8_FORMATS else None
    compute_dtype = torch.float32 if fmt else parse_dtype(compute, "compute")
    storage_dtype = compute_dtype if storage is None else parse_dtype(storage, "storage")
    stored = store(x, storage_dtype, "x", "scale X first or pass storage='fp32'")
    wide = stored if stored.shape[0] <= stored.shape[1] else stored.mT
    ops = EmulatedOps(compute_dtype, x.device, fmt, accumulation)
    ref_ops = EmulatedOps(torch.float64, x.device, None, "fused")
    seen = _run(spec, wide, ops)
    ref = _run(spec, wide, ref_ops)
    u, _, vh = torch.linalg.svd(wide.double(), full_matrices=False)

    def sigmas(xk: torch.Tensor) -> torch.Tensor:
        return torch.diagonal(u.mT @ xk.double() @ vh.mT)

    errors, rows = [], []
    for got, want in zip(seen, ref, strict=True):
        err = (sigmas(got["x"]) - sigmas(want["x"])).abs()
        errors.append(err.numpy())
        row = {"step": got["step"]}
        for name in ("x", "a", "s"):
            row[f"max_abs_{name}"], row[f"fro_{name}"] = _stats(got[name])
            row[f"ref_max_abs_{name}"] = _stats(want[name])[0]
        row["max_sigma_error"] = float(err.max())
        rows.append(row)
    return rows, sigmas(ref[0]["x"]).numpy(), np.array(errors)


def unit_roundoff(compute: str) -> float:
    """u of a compute precision of :data:`COMPUTE` (fp8: of the format its operands are rounded to)."""
    compute = parse_compute_precision(compute, "compute")
    if compute in FP8_FORMATS:
        return float(torch.finfo(FP8_FORMATS[compute]).eps) / 2
    return float(torch.finfo(parse_dtype(compute, "compute")).eps) / 2


def predicted_error(spec: Any, sigma: Any, compute: str, shape: tuple[int, int]) -> np.ndarray:
    """The first-order model's output error per normalised singular value (module docstring), float64.

    ``sigma``: every normalised singular value of the input (the model needs the whole spectrum: a
    step's rounding scales with all of X, not with the σ observed); ``shape``: (m, n) of the input.
    """
    spec = _ns_spec(spec)
    compute = parse_compute_precision(compute, "compute")  # bf16, bfloat16, torch.bfloat16, fp8_e4m3, …
    if len(shape) != 2 or min(int(shape[0]), int(shape[1])) < 1:
        raise ValueError(f"shape must be (m, n) with m, n ≥ 1, got {shape!r}")
    s_check = np.asarray(sigma, dtype=np.float64)
    if s_check.ndim != 1 or s_check.size == 0:
        raise ValueError(
            f"sigma must be a non-empty 1-D array of normalised singular values, got shape {s_check.shape}"
        )
    if not np.isfinite(s_check).all() or (s_check < 0).any():
        raise ValueError("sigma must hold finite values ≥ 0 (normalised singular values); got NaN, inf or negative")
    m, n = sorted(shape)
    if isinstance(spec, SoftenSpec):
        # The blend scales the NS part's error by 1 − s and rounds once more: u per entry of a result of
        # Frobenius size ≤ √m, i.e. u·√m/√(mn) on each singular pair.
        inner = predicted_error(_inner(spec), sigma, compute, shape)
        return (1 - spec.s) * inner + unit_roundoff(compute) / math.sqrt(n)
    rows = schedules.resolve(spec.schedule).coefficients(spec.steps)
    # Growth: fp64/fp32 products accumulate in their own precision, n roundings of random sign per
    # entry (√n); bf16/fp16/fp8 products accumulate in fp32 and are rounded once to the compute dtype (1).
    growth = math.sqrt(n) if compute in ("fp64", "fp32") else 1.0
    s = np.asarray(sigma, dtype=np.float64)
    total = np.full_like(s, float(np.linalg.norm(s)))  # the input's own rounding, T₋₁ = ‖σ‖₂
    for row in rows:
        c = np.asarray(row, dtype=np.float64)
        powers = np.arange(len(c)) * 2 + 1
        slope = np.abs(sum(ct * p * s ** (p - 1) for ct, p in zip(c, powers, strict=True)))
        size = sum(abs(ct) * float(np.linalg.norm(s**p)) for ct, p in zip(c, powers, strict=True))
        total = total * slope + growth * size
        s = sum(ct * s**p for ct, p in zip(c, powers, strict=True))
    return unit_roundoff(compute) * total / math.sqrt(m * n)


def model_ratio(spec: Any, sigma: np.ndarray, errors: np.ndarray, compute: str, shape: tuple[int, int]) -> float:
    """The median over σ̂ ≥ 0.1 of a trace's final error over :func:`predicted_error` (NaN where no σ̂
    reaches 0.1): the model's accuracy on one run, from :func:`step_trace`'s ``sigma`` and ``errors``."""
    band = sigma >= 0.1
    if not band.any():
        return float("nan")
    return float(np.median(errors[-1][band] / predicted_error(spec, sigma, compute, shape)[band]))


def study_inputs(shape: tuple[int, int], seeds: int, capture: Any = None) -> list[tuple[str, torch.Tensor]]:
    """(label, float64 matrix): every family at ``shape`` for ``seeds`` seeds, then the captured momenta."""
    m, n = shape
    out = [
        (f"{family} {m}x{n} seed {seed}", family_matrix(family, m, n, seed))
        for family in FAMILIES
        for seed in range(seeds)
    ]
    if capture is not None:
        from spectral_la.analysis.real_states import load_matrices

        for (name, step), x in sorted(load_matrices(capture).items()):
            out.append((f"momentum {name} step {step} {x.shape[0]}x{x.shape[1]}", x))
    return out


def storage_name(compute: str) -> str:
    """The storage dtype a trace in ``compute`` runs on by default: the compute dtype, fp32 for fp8."""
    return "fp32" if compute in FP8_FORMATS else compute


#: The runs the study compares: (compute, accumulation).
STUDY_RUNS = (("bf16", "fused"), ("bf16", "separate"), ("fp16", "fused"), ("fp32", "fused"))


def outlier_study(
    spec: Any = "ns:polar_express",
    *,
    shape: tuple[int, int] = (256, 1024),
    seeds: int = 4,
    capture: Any = None,
    runs=STUDY_RUNS,
    progress: bool = False,
) -> list[dict]:
    """The Step 3.5 Flash claim, measured: per input and run, the largest intermediate entry against the
    float64 run's (``outlier_ratio`` = max over steps of ``max|X_k| / max|X_k^{fp64}|``, also for A and S),
    the final max σ error, the worst error among σ̂ < 1e-5 (fp16's subnormal range) and the rounding
    model's accuracy on the run (:func:`model_ratio`)."""
    from tqdm import tqdm

    rows = []
    inputs = study_inputs(shape, seeds, capture)
    for label, x in tqdm(inputs, desc="precision study", disable=not progress):
        for compute, accumulation in runs:
            trace, sigma, errors = step_trace(spec, x, compute=compute, accumulation=accumulation)
            ratio = {
                name: max(
                    r[f"max_abs_{name}"] / r[f"ref_max_abs_{name}"] for r in trace if r[f"ref_max_abs_{name}"] > 0
                )
                for name in ("x", "a")
            }
            tiny = sigma < 1e-5
            model = model_ratio(spec, sigma, errors, compute, (x.shape[0], x.shape[1]))
            rows.append(
                {
                    "input": label,
                    "spec": str(_ns_spec(spec)),
                    "shape": "x".join(map(str, x.shape)),
                    "storage_dtype": storage_name(compute),
                    "compute_dtype": compute,
                    "accumulation": accumulation,
                    "outlier_ratio_x": ratio["x"],
                    "outlier_ratio_a": ratio["a"],
                    "max_abs_x": max(r["max_abs_x"] for r in trace),
                    "final_max_sigma_error": float(errors[-1].max()),
                    "max_error_sigma_below_1e-5": float(errors[-1][tiny].max()) if tiny.any() else float("nan"),
                    "measured_over_model_sigma_ge_0.1": model,
                    "finite": bool(np.isfinite(errors).all()),
                }
            )
    return rows


@dataclasses.dataclass(frozen=True)
class PrecisionConfig:
    """One precision experiment, read by the command (``spectral-la precision``), the figure
    (:mod:`figures.precision_traces`), the report's section and the notebook alike."""

    specs: tuple[str, ...] = ("ns:polar_express",)
    shape: tuple[int, int] = (128, 512)
    family: str = "tiny_sigma"
    computes: tuple[str, ...] = ("fp32", "bf16", "fp16", "fp8_e4m3")
    accumulation: str = "fused"
    seed: int = 0
    study_shape: tuple[int, int] = (256, 1024)
    study_seeds: int = 4

    def __post_init__(self) -> None:
        for spec in self.specs:
            _ns_spec(spec)
        computes = tuple(parse_compute_precision(c, "computes entry") for c in self.computes)
        object.__setattr__(self, "computes", computes)
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {tuple(FAMILIES)}, got {self.family!r}")
        if self.accumulation not in ACCUMULATIONS:
            raise ValueError(f"accumulation must be one of {ACCUMULATIONS}, got {self.accumulation!r}")

    def input(self) -> torch.Tensor:
        """The traced input: the family's matrix at ``shape`` for ``seed`` (float64)."""
        return family_matrix(self.family, *self.shape, self.seed)


def trace_rows(cfg: PrecisionConfig) -> list[dict]:
    """Every spec × compute of ``cfg`` traced on its input: one labelled row per step (the command's CSV)."""
    x = cfg.input()
    shape = "x".join(map(str, x.shape))
    rows = []
    for spec in cfg.specs:
        for compute in cfg.computes:
            trace, sigma, errors = step_trace(spec, x, compute=compute, accumulation=cfg.accumulation)
            ratio = model_ratio(spec, sigma, errors, compute, (x.shape[0], x.shape[1]))
            for r in trace:
                rows.append(
                    {
                        "spec": str(_ns_spec(spec)),
                        "input": f"{cfg.family} seed {cfg.seed}",
                        "shape": shape,
                        "storage_dtype": storage_name(compute),
                        "compute_dtype": compute,
                        "accumulation": cfg.accumulation,
                        **r,
                        "measured_over_model_sigma_ge_0.1": ratio,
                    }
                )
    return rows


#: The compute precisions where first order can hold (u ≤ 2⁻⁸); fp8's u = 2⁻⁴ is not small.
MODEL_COMPUTES = ("fp32", "bf16", "fp16")


def model_accuracy(
    spec: Any, inputs: list[tuple[str, torch.Tensor]], computes=MODEL_COMPUTES, progress: bool = False
) -> list[dict]:
    """The rounding model against measurement: per input and compute precision, the median over σ̂ ≥ 0.1 of
    the measured final error over :func:`predicted_error` (NaN where no σ̂ reaches 0.1, e.g. a Gaussian
    whose Frobenius normalisation leaves every σ̂ ≈ 1/√m).

    ``inputs``: (label, float64 matrix) pairs, e.g. :func:`study_inputs`. Each matrix is stored in the
    compute dtype (fp32 for fp8) before the run, as in :func:`step_trace`.
    """
    from tqdm import tqdm

    rows = []
    jobs = [(label, x, c) for label, x in inputs for c in computes]
    for label, x, compute in tqdm(jobs, desc="rounding model", disable=not progress):
        m, n = x.shape
        _, sigma, errors = step_trace(spec, x, compute=compute)
        rows.append(
            {
                "spec": str(_ns_spec(spec)),
                "input": label,
                "shape": f"{m}x{n}",
                "storage_dtype": storage_name(compute),
                "compute_dtype": parse_compute_precision(compute, "computes entry"),
                "sigma_hat_ge_0.1": int((sigma >= 0.1).sum()),
                "measured_over_model_sigma_ge_0.1": model_ratio(spec, sigma, errors, compute, (m, n)),
            }
        )
    return rows


#: A run is *safe* when its result is finite, no intermediate entry exceeds twice the float64 run's largest
#: at the same step, and every final singular value is within SAFE_ERROR of the float64 run's (below the
#: ±0.3 band the registered quintics are designed to, so rounding does not decide where σ lands).
SAFE_ERROR = 0.1
SAFE_OUTLIER = 2.0


def schedule_safety(cfg: PrecisionConfig, names: Any = None, progress: bool = False) -> list[dict]:
    """Every registered schedule (or ``names``) × compute dtype of ``cfg`` on its input: safe or not, and why."""
    from tqdm import tqdm

    x = cfg.input()
    rows = []
    for name in tqdm(list(names or schedules), desc="schedule safety", disable=not progress):
        spec = f"ns:{name}"
        for compute in cfg.computes:
            trace, _, errors = step_trace(spec, x, compute=compute, accumulation=cfg.accumulation)
            outlier = max(r["max_abs_x"] / r["ref_max_abs_x"] for r in trace)
            finite = bool(np.isfinite(errors).all())
            worst = float(errors[-1].max())
            rows.append(
                {
                    "spec": spec,
                    "shape": "x".join(map(str, x.shape)),
                    "storage_dtype": storage_name(compute),
                    "compute_dtype": compute,
                    "outlier_ratio_x": outlier,
                    "final_max_sigma_error": worst,
                    "safe": finite and outlier <= SAFE_OUTLIER and worst <= SAFE_ERROR,
                }
            )
    return rows
