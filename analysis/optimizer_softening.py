"""Soft-Muon's closed form across the four optimizers of the proposal: where it holds and where it does not.

The Soft-Muon proposal (microsoft/dion PR #92) claims that softening maps the i-th singular value of
what the orthogonaliser O sees, X, to

    (1 − s) + s·σᵢ/‖X‖_F                 (the blend with the exact polar factor of X)

which is what **Muon** applies. The other three optimizers apply something else
(:mod:`spectral_la.optim`), so the claim is measured at two places per optimizer:

* ``ns_output``: lerp(O(X), X/(‖X‖_F + ε), s) against the closed form on X itself: the full
  momentum for Muon and NorMuon, the selected submatrix S with its own norm for Dion2 and
  NorDion2. This is the closed form's own claim; it is measured (``max_rel``, ``mean_rel``,
  ``fro_rel`` as in :mod:`spectral_la.analysis.softening`) only where O keeps the singular vectors
  of X (``closed_form_applies``): not for AOL-preconditioned schedules (``normalize=aol``), whose
  diagonal rescaling rotates them, nor for maps whose target is not the polar factor (Muon^p).
* ``applied``: the update that reaches the weights, against the closed-form matrix of the **full**
  momentum M, (1 − s)·polar(M) + s·M/‖M‖_F. For Muon it is the same matrix as above. For NorMuon
  the row normalisation changes the singular vectors; for Dion2 and NorDion2 only k rows (columns)
  are non-zero. There the closed form does not apply: the row says so and reports only
  ``departure_fro``, ‖applied − closed-form matrix‖_F / ‖closed-form matrix‖_F, how far the applied
  update is from what the claim describes, with ``selected_energy`` = ‖S‖²_F/‖M‖²_F.

Every row also holds the row-norm spread of the matrix it describes (``row_cv``: the coefficient of
variation of the row norms, ``row_max_min``: their max/min over non-zero rows), NorMuon's premise:
its paper (arXiv 2510.05491) motivates the row normalisation by non-uniform row norms of Muon's
update.

The step measured is the first one from zero state (NorMuon's V = 0, no error feedback yet), with
the optimizers' own pieces (:mod:`spectral_la.optim.functional`), X stored in ``storage_dtype`` and the
orthogonaliser run in ``compute_dtype`` (the optimizers cast X to bf16 and run in bf16 by default;
pass ``storage_dtype=torch.bfloat16`` to include that rounding).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from spectral_la.analysis.softening import closed_form_gap
from spectral_la.analysis.spectra import FAMILIES, family_matrix
from spectral_la.dtypes import precision_label
from spectral_la.optim import functional as F
from spectral_la.spec import Spec, parse_spec

__all__ = [
    "OPTIMIZER_NAMES",
    "RELATIONS",
    "closed_form_applies",
    "optimizer_relations",
    "optimizer_softening",
    "optimizer_view",
    "row_spread",
    "per_optimizer",
    "summarize",
]

OPTIMIZER_NAMES = ("muon", "normuon", "dion2", "nordion2")


def closed_form_applies(spec: Spec) -> bool:
    """Whether O keeps X's singular vectors and targets the polar factor, so (1 − s) + sρᵢ can hold."""
    if not spec.orthogonal_target:
        return False
    norm = getattr(spec, "iteration_normalization", None)
    return norm is None or norm.kind != "aol"


def row_spread(u: torch.Tensor) -> tuple[float, float]:
    """(coefficient of variation, max/min) of the row norms of U over its non-zero rows."""
    norms = torch.linalg.vector_norm(u.double(), dim=-1)
    norms = norms[norms > 0]
    if norms.numel() < 2:
        return 0.0, 1.0
    return float(norms.std(correction=0) / norms.mean()), float(norms.max() / norms.min())


def optimizer_view(
    name: str,
    m64: torch.Tensor,
    spec: Spec,
    s: float,
    *,
    fraction: float = 0.25,
    beta2: float = 0.95,
    storage_dtype: torch.dtype = torch.float32,
    compute_dtype: torch.dtype | None = torch.float32,
) -> dict[str, Any]:
    """What one first step of optimizer ``name`` does with momentum M (float64, m × n).

    Returns float64 matrices: ``ns_input`` (X, what the orthogonaliser sees), ``ns_output``
    (softened O(X)), ``applied`` (the full-size update direction before the learning rate), and
    ``selected_energy`` (‖S‖²_F/‖M‖²_F for Dion2/NorDion2, else 1).
    """
    if name not in OPTIMIZER_NAMES:
        raise ValueError(f"optimizer must be one of {OPTIMIZER_NAMES}, got {name!r}")
    ortho = F.orthogonalizer(spec, None, compute_dtype if spec.matmul_only else None, False, s)
    x = m64.to(storage_dtype)
    idx = None
    if name in ("dion2", "nordion2"):
        dim = -2 if name == "nordion2" else F.selection_dim(x.shape)
        idx = F.select_slices(x.unsqueeze(0), fraction, dim)
        x = F.gather_slices(x.unsqueeze(0), idx, dim)[0]
    o = ortho(x, None)
    applied = o.double()
    if name == "normuon":
        applied = F.normuon_normalize(o.double().unsqueeze(0), torch.zeros(1, o.shape[0], 1).double(), _beta(beta2))[0][
            0
        ]
    if name == "nordion2":
        assert idx is not None
        v = torch.zeros(1, m64.shape[0], 1, dtype=torch.float64)
        applied = F.normuon_normalize_rows(o.double().unsqueeze(0), v, idx, _beta(beta2))[0][0]
    if idx is not None:
        dim = -2 if name == "nordion2" else F.selection_dim(m64.shape)
        zeros = torch.zeros(1, *m64.shape, dtype=torch.float64)
        applied = F.scatter_slices(zeros, idx, applied.double().unsqueeze(0), dim)[0]
    xs = x.double()
    energy = float(xs.square().sum() / m64.square().sum())
    return {"ns_input": xs, "ns_output": o.double(), "applied": applied, "selected_energy": energy}


def _beta(beta2: float) -> torch.Tensor:
    return torch.tensor(beta2, dtype=torch.float64)


def optimizer_softening(
    optimizers: Iterable[str] = OPTIMIZER_NAMES,
    specs: Iterable[Any] = ("ns:polar_express", "ns:jordan_ns5"),
    s_values: Iterable[float] = (0.0, 0.25, 0.5),
    sizes: Iterable[tuple[int, int]] = ((128, 512), (512, 128)),
    families: Iterable[str] = FAMILIES,
    seeds: Iterable[int] = (0,),
    *,
    matrices: dict[str, torch.Tensor] | None = None,
    matrix_family: str = "captured",
    fraction: float = 0.25,
    storage_dtype: torch.dtype = torch.float32,
    compute_dtype: torch.dtype | None = torch.float32,
    progress: bool = True,
) -> list[dict]:
    """Tidy rows (module docstring) per optimizer × spec × family × shape × seed × s × where.

    ``matrices``: named float64 momenta (e.g. captured ones) measured instead of the synthetic
    families, labelled with family ``matrix_family``.
    """
    parsed = [parse_spec(sp) for sp in specs]
    inputs: list[tuple[str, str, int, torch.Tensor]] = []
    if matrices is not None:
        inputs = [(matrix_family, name, 0, m.double()) for name, m in matrices.items()]
    else:
        for fam in families:
            for m, n in sizes:
                for seed in seeds:
                    inputs.append((fam, f"{m}x{n}", seed, family_matrix(fam, m, n, seed)))
    jobs = [(opt, spec, item) for opt in optimizers for spec in parsed for item in inputs]
    rows = []
    for opt, spec, (fam, label, seed, m64) in tqdm(jobs, desc="softening by optimizer", disable=not progress):
        for s in s_values:
            rows += _rows(opt, spec, fam, label, seed, m64, float(s), fraction, storage_dtype, compute_dtype)
    return rows


def _rows(
    opt: str,
    spec: Spec,
    fam: str,
    label: str,
    seed: int,
    m64: torch.Tensor,
    s: float,
    fraction: float,
    storage_dtype: torch.dtype,
    compute_dtype: torch.dtype | None,
) -> list[dict]:
    view = optimizer_view(
        opt, m64, spec, s, fraction=fraction, storage_dtype=storage_dtype, compute_dtype=compute_dtype
    )
    base = {
        "optimizer": opt,
        "spec": str(spec),
        "family": fam,
        "matrix": label,
        "shape": "x".join(map(str, m64.shape)),
        "seed": seed,
        "precision": precision_label(storage_dtype, compute_dtype),
        "fraction": fraction if opt in ("dion2", "nordion2") else 1.0,
        "s": s,
        "selected_energy": view["selected_energy"],
    }
    applies = closed_form_applies(spec)
    out = []
    gap = closed_form_gap(view["ns_input"], view["ns_output"], s)
    cv, ratio = row_spread(view["ns_output"])
    out.append(
        {
            **base,
            "where": "ns_output",
            "closed_form_applies": applies,
            **({k: gap[k] for k in ("max_rel", "mean_rel", "fro_rel")} if applies else _nan_gap()),
            "departure_fro": gap["fro_rel"],
            "row_cv": cv,
            "row_max_min": ratio,
        }
    )
    full_gap = closed_form_gap(m64, view["applied"], s)
    same = opt == "muon"
    cv, ratio = row_spread(view["applied"])
    out.append(
        {
            **base,
            "where": "applied",
            "closed_form_applies": applies and same,
            **({k: full_gap[k] for k in ("max_rel", "mean_rel", "fro_rel")} if applies and same else _nan_gap()),
            "departure_fro": full_gap["fro_rel"],
            "row_cv": cv,
            "row_max_min": ratio,
        }
    )
    return out


def _nan_gap() -> dict[str, float]:
    return {"max_rel": float("nan"), "mean_rel": float("nan"), "fro_rel": float("nan")}


def summarize(rows: list[dict], where: str, key: str) -> list[dict]:
    """Median and [min, max] of ``key`` over seeds, families and shapes, per optimizer × spec × s, at ``where``."""
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        if r["where"] == where and np.isfinite(r[key]):
            groups.setdefault((r["optimizer"], r["spec"], r["precision"], r["s"]), []).append(r[key])
    return [
        {
            "optimizer": o,
            "spec": sp,
            "precision": pr,
            "s": s,
            "where": where,
            "n": len(v),
            f"{key}_median": float(np.median(v)),
            f"{key}_min": float(np.min(v)),
            f"{key}_max": float(np.max(v)),
        }
        for (o, sp, pr, s), v in groups.items()
    ]


#: Pairs of optimizers compared step by step (name, a, b, whether they coincide in exact arithmetic):
#: with f = 1 Dion2's input obeys A_t = ef·A_{t−1} + G_t, Muon's (no Nesterov, momentum β = ef) is
#: B_t = (1 − β)·A_t, and the orthogonaliser is invariant to that scale; NorDion2 with f = 1 runs
#: NorMuon's recurrence M_t = μM_{t−1} + G_t on all rows (both with the momentum kept in fp32,
#: ``ns_input_dtype=None``; dion's default bf16 cast alone parts them by ~3 % on a low-rank stream).
#: With f < 1 and between Muon and NorMuon they part.
RELATIONS = (
    ("dion2(f=1) vs muon", ("dion2", 1.0), ("muon", 1.0), True),
    ("nordion2(f=1) vs normuon", ("nordion2", 1.0), ("normuon", 1.0), True),
    ("dion2(f=0.25) vs muon", ("dion2", 0.25), ("muon", 1.0), False),
    ("nordion2(f=0.25) vs normuon", ("nordion2", 0.25), ("normuon", 1.0), False),
    ("normuon vs muon", ("normuon", 1.0), ("muon", 1.0), False),
    ("nordion2(f=0.25) vs dion2(f=0.25)", ("nordion2", 0.25), ("dion2", 0.25), False),
)


def _optimizer(name: str, fraction: float, p: torch.nn.Parameter, spec: str, s: float) -> torch.optim.Optimizer:
    from spectral_la.optim import OPTIMIZERS

    common: dict[str, Any] = {
        "lr": 1.0, "weight_decay": 0.0, "orthogonalize": spec, "compute_dtype": "fp32", "softening": s
    }  # fmt: skip
    if name == "muon":
        return OPTIMIZERS[name]([p], momentum=0.95, nesterov=False, adjust_lr_fn="spectral_norm", **common)
    common["ns_input_dtype"] = None  # keep the fp32 momentum, as Muon does (dion's default casts to bf16)
    if name == "dion2":
        return OPTIMIZERS[name]([p], fraction=fraction, ef_decay=0.95, **common)
    if name == "nordion2":
        return OPTIMIZERS[name]([p], fraction=fraction, mu=0.95, **common)
    return OPTIMIZERS[name]([p], mu=0.95, **common)


def optimizer_relations(
    shape: tuple[int, int] = (64, 256),
    family: str = "low_rank",
    steps: int = 20,
    seed: int = 0,
    spec: str = "ns:polar_express",
    s: float = 0.0,
) -> list[dict]:
    """Per pair of :data:`RELATIONS`: the relative Frobenius difference of the two weight changes
    (lr 1, no weight decay, fp32, the same gradient stream: gradient t is ``family_matrix(family, m, n,
    seed + t)``) at each step, summarised as median and max over the steps."""
    grads = [family_matrix(family, *shape, seed + t).float() for t in range(1, steps + 1)]
    rows = []
    for label, (a, fa), (b, fb), exact in RELATIONS:
        deltas = []
        for name, frac in ((a, fa), (b, fb)):
            p = torch.nn.Parameter(torch.zeros(shape))
            opt = _optimizer(name, frac, p, spec, s)
            seq = []
            for g in grads:
                before = p.detach().clone()
                p.grad = g.clone()
                opt.step()
                seq.append((p.detach() - before).double())
            deltas.append(seq)
        rel = [float((x - y).norm() / y.norm()) for x, y in zip(*deltas, strict=True)]
        rows.append(
            {
                "pair": label,
                "coincide_in_exact_arithmetic": exact,
                "shape": "x".join(map(str, shape)),
                "family": family,
                "spec": spec,
                "s": s,
                "precision": "float32",
                "steps": steps,
                "rel_diff_step1": rel[0],
                "rel_diff_median": float(np.median(rel)),
                "rel_diff_max": float(np.max(rel)),
            }
        )
    return rows


def per_optimizer(rows: list[dict]) -> list[dict]:
    """One row per optimizer × spec × s over many matrices (e.g. captured ones): medians and ranges of the
    claim at the orthogonaliser's output, the applied update's departure, the selected energy and the
    row-norm spread."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["optimizer"], r["spec"], r["family"], r["precision"], r["s"]), []).append(r)
    out = []
    for (opt, spec, fam, prec, s), rs in groups.items():
        ns = [r for r in rs if r["where"] == "ns_output"]
        ap = [r for r in rs if r["where"] == "applied"]

        def med(values: list[float]) -> float:
            v = [x for x in values if np.isfinite(x)]
            return float(np.median(v)) if v else float("nan")

        def rng(values: list[float]) -> str:
            v = [x for x in values if np.isfinite(x)]
            return f"{min(v):.3g}–{max(v):.3g}" if v else "–"

        claim = [r["mean_rel"] for r in ns]
        dep = [r["departure_fro"] for r in ap]
        out.append(
            {
                "optimizer": opt,
                "spec": spec,
                "inputs": fam,
                "precision": prec,
                "s": s,
                "matrices": len(ns),
                "claim_mean_rel_median": med(claim),
                "claim_mean_rel_range": rng(claim),
                "applied_closed_form_applies": all(r["closed_form_applies"] for r in ap),
                "applied_departure_fro_median": med(dep),
                "applied_departure_fro_range": rng(dep),
                "selected_energy_median": med([r["selected_energy"] for r in ns]),
                "row_cv_ns_output_median": med([r["row_cv"] for r in ns]),
                "row_cv_applied_median": med([r["row_cv"] for r in ap]),
            }
        )
    return out
