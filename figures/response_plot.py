"""Singular-value response curves of any methods: ``plot_response(specs)`` and ``spectral-la response``.

A spec is anything the analysis vocabulary names (``ns:<schedule>[:steps]``, ``gram_ns:…``,
``soften:<s>:<schedule>``, ``muon_p:<p>``, …), a bare registered schedule name (read as
``ns:<name>``), or the path of a schedule JSON written by ``spectral_la.save_schedule`` /
``spectral-la design --out`` (registered under its own name, then ``ns:<name>``).

Two panels: f(σ) with its target, and |f(σ) − target| on log axes; where the method is a
Newton–Schulz schedule with a sign target, its certified worst error on the design interval
(``spectral_la.certify``) is shaded there. An optional measured overlay runs the matrix map
on a matrix with exactly those singular values in a chosen dtype and plots uᵢᵀF(X)vᵢ.
"""

from __future__ import annotations

import csv
import functools
import itertools
import math
from pathlib import Path

import torch

import spectral_la as sl
from spectral_la.analysis.methods import frobenius_schedules, method
from spectral_la.analysis.response import response
from spectral_la.analysis.schedule_response import schedule_error
from spectral_la.atomic_files import atomic_path
from spectral_la.dtypes import dtype_name, parse_dtype, precision_label
from spectral_la.figures._style import new_figure, save
from spectral_la.spec import Spec, parse_spec
from spectral_la.validation import check_in_range, check_int

__all__ = ["families", "plot_response", "response_data"]


def measured_label(storage, compute, shape: tuple[int, int]) -> str:
    """The label of a measured overlay: ``measured 64×64 (storage bf16, compute fp32)``."""
    return f"measured {shape[0]}×{shape[1]} ({precision_label(storage, compute)})"


def response_data(
    specs,
    *,
    sigma_range: tuple[float, float] = (1e-4, 1.0),
    points: int = 400,
    storage_dtype=None,
    compute_dtype=None,
    measured_shape: tuple[int, int] = (64, 64),
) -> list[dict]:
    """Tidy rows {spec, sigma, f, target, error, kind} on a log grid over ``sigma_range``.

    ``storage_dtype`` / ``compute_dtype`` (any name :func:`spectral_la.dtypes.parse_dtype` takes):
    overlay the measured response of a ``measured_shape`` matrix with those singular values,
    rounded to the storage dtype and run in the compute dtype (``None``: the backend's default,
    fp32 for the half types); giving either one asks for the overlay, the other defaulting to
    float64 storage or the default compute dtype. The measurement is :func:`analysis.response`,
    the same call the report's measured-vs-predicted table makes.
    """
    lo, hi = (float(check_in_range(v, "sigma_range", 0, None, lo_open=True)) for v in sigma_range)
    if not lo < hi:
        raise ValueError(f"sigma_range must satisfy 0 < lo < hi, got {sigma_range}")
    points = check_int(points, "points", 2, 10**6)
    measured = storage_dtype is not None or compute_dtype is not None
    storage = parse_dtype(storage_dtype if storage_dtype is not None else "float64", "storage dtype")
    compute = parse_dtype(compute_dtype, "compute dtype", allow_none=True)
    lg = torch.log10(torch.tensor([lo, hi], dtype=torch.float64))
    sigma = torch.logspace(float(lg[0]), float(lg[1]), points, dtype=torch.float64)
    rows = []
    for spec in specs:
        sp = parse_spec(spec)
        m = method(sp)
        name = str(sp)
        f, t = m.scalar(sigma), m.target(sigma)
        for sv, fv, tv in zip(sigma.tolist(), f.tolist(), t.tolist(), strict=True):
            rows.append(
                {
                    "spec": name,
                    "sigma": sv,
                    "f": fv,
                    "target": tv,
                    "error": abs(fv - tv),
                    "kind": "map",
                    "shape": "scalar map",
                    "storage_dtype": "float64",
                    "compute_dtype": "float64",
                }
            )
        if measured:
            k = min(measured_shape)
            grid = torch.logspace(0, math.log10(lo), k, dtype=torch.float64)  # the report's grid (1 down to lo)
            label = measured_label(storage, compute, measured_shape)
            for r in response(m, grid, mode="matrix", dtype=storage, compute_dtype=compute, shape=measured_shape):
                rows.append(
                    {
                        "spec": name,
                        "sigma": r["sigma_hat"],
                        "f": r["measured"],
                        "target": r["target"],
                        "error": abs(r["measured"] - r["target"]),
                        "kind": label,
                        "shape": f"{measured_shape[0]}x{measured_shape[1]}",
                        "storage_dtype": dtype_name(storage),
                        "compute_dtype": dtype_name(compute) if compute is not None else "default",
                    }
                )
    return rows


@functools.lru_cache(maxsize=256)
def _certified(spec: Spec) -> tuple | None:
    """(ℓ, u, bound, which) of :func:`analysis.schedule_response.schedule_error`, else None (cached)."""
    error = schedule_error(spec)
    return None if error is None else (*error["interval"], error["certified"], error["which"])


def plot_response(
    specs, ax=None, *, certified: bool = True, labels: dict | None = None, error: str = "pointwise", **kwargs
):
    """Draw the two panels; returns ``(figure, rows)``. ``ax``: a pair of axes to draw into.

    ``labels``: a legend label per spec string (e.g. the names of schedules with the same rows).
    ``error``: ``"pointwise"`` draws |f(σ) − target|; ``"envelope"`` draws its running maximum from
    the right, max over σ′ ∈ [σ, hi] of |f(σ′) − target|, i.e. the worst error on an interval that
    starts at σ: monotone curves that stay apart where the pointwise errors of equioscillating
    schedules overlap. Diverging maps (a schedule beyond its range) are drawn at the frame: f
    clipped to [−1.5, 2], the error to [1e-17, 1e2]; the legends sit beside the panels, off the data.
    """
    if error not in ("pointwise", "envelope"):
        raise ValueError(f"error must be 'pointwise' or 'envelope', got {error!r}")
    labels = labels or {}
    parsed = {str(sp): sp for sp in map(parse_spec, specs)}  # once: a designed file is read here only
    rows = response_data(list(parsed.values()), **kwargs)
    if ax is None:
        fig, axes = new_figure(2, width=15.0)
    else:
        axes = ax
        fig = axes[0].figure
    names = list(dict.fromkeys(r["spec"] for r in rows))
    styles = ("-", "--", "-.", ":")
    f_min = -0.1
    for i, name in enumerate(names):
        curve = [r for r in rows if r["spec"] == name and r["kind"] == "map"]
        label = labels.get(name, name)
        sig = [r["sigma"] for r in curve]
        f = [_clip(r["f"], -1.5, 2.0) for r in curve]
        f_min = min(f_min, min(f) - 0.1)
        # Line styles cycle beside the colours so that curves on top of each other stay legible.
        (line,) = axes[0].plot(sig, f, label=label, ls=styles[i % len(styles)], lw=1.4)
        axes[0].plot(sig, [r["target"] for r in curve], color=line.get_color(), ls=":", lw=0.8)
        err = [r["error"] for r in curve]
        if error == "envelope":
            err = list(itertools.accumulate(reversed(err), max))[::-1]
        band = _certified(parsed[name]) if certified else None
        cert = ""
        if band is not None:
            lo, hi, bound, which = band
            cert = f": certified ≤ {bound:.3g} on [{lo:.3g}, {hi:g}] ({which.split(' ')[0]})"
            if error == "pointwise":  # under an envelope the dashed bound alone reads clearly
                axes[1].fill_between([lo, hi], bound / 3, bound, color=line.get_color(), alpha=0.18, lw=0)
            axes[1].hlines(bound, lo, hi, color=line.get_color(), lw=0.8, ls="--")
        axes[1].plot(sig, [_clip(e, 1e-17, 1e2) for e in err], color=line.get_color(), label=label + cert)
        for kind in sorted({r["kind"] for r in rows if r["spec"] == name} - {"map"}):
            pts = [r for r in rows if r["spec"] == name and r["kind"] == kind]
            axes[0].plot(
                [r["sigma"] for r in pts],
                [_clip(r["f"], -1.5, 2.0) for r in pts],
                ".",
                color=line.get_color(),
                ms=3,
                label=f"{label}, {kind}",
            )
    axes[0].set(
        xscale="log",
        xlabel="normalised singular value σ",
        ylabel="f(σ)  (dotted: target)",
        title="Singular-value response",
        ylim=(f_min, 1.6),
    )
    axes[1].set(
        xscale="log",
        yscale="log",
        xlabel="normalised singular value σ",
        ylabel="max |f − target| on [σ, hi]" if error == "envelope" else "|f(σ) − target|",
        title="Worst error on [σ, hi]" if error == "envelope" else "Error against the target",
    )
    axes[0].legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    axes[1].legend(
        fontsize=7.5,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0,
        title="certified |f − 1|" if certified else None,
        title_fontsize=8,
    )
    if ax is None:  # a figure of its own: room for the legends beside the panels
        fig.tight_layout()
    return fig, rows


def _clip(v: float, lo: float, hi: float) -> float:
    """Diverging maps (a schedule beyond its range, Muon^p's p = 1/2 above 0.69) are drawn at the frame."""
    return min(max(v, lo), hi) if v == v else hi


def write_rows(rows: list[dict], path: str | Path) -> Path:
    """The rows as CSV (atomically; the columns are every key, in first-seen order)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def families() -> dict[str, list[str]]:
    """The registered schedules in small-multiple families: Polar Express kin, tuned quintics, classic, others.

    Schedules whose normalisation is not a function of σ (AOL, the spectral bound) are left out:
    no σ-map predicts their matrix result (:func:`analysis.methods.frobenius_schedules`).
    """
    names = frobenius_schedules()
    groups = {
        "Polar Express and its variants (Remez-designed)": [n for n in names if "polar_express" in n or n == "eo_cans"],
        "tuned quintics (Jordan, You, dion, EO, torch, DeepSeek-V4)": [
            n
            for n in names
            if n in ("jordan_ns5", "torch_muon", "you_ns6", "dion_ns5", "eo_quintic", "eo_aol", "eo_deepseekv4")
        ],
        "classic Newton–Schulz and tuned cubics": [
            n for n in names if n.startswith("newton_schulz_") or n == "eo_cubic5"
        ],
    }
    placed = {n for group in groups.values() for n in group}
    rest = [n for n in names if n not in placed]
    if rest:
        groups["others (designed, user)"] = rest
    return {k: v for k, v in groups.items() if v}


def same_rows(names) -> tuple[list[str], dict[str, str]]:
    """The first of each group of schedules with the same rows (the same scalar map), and their labels.

    jordan_ns5 and torch_muon, dion_ns5 and eo_quintic run the same polynomials (their
    normalisations differ only in ε), so one curve is drawn for each group, labelled with every name.
    """
    groups: dict[tuple, list[str]] = {}
    for name in names:
        sched = sl.schedules[name]
        groups.setdefault(tuple(sched.coefficients()), []).append(name)
    reps = [g[0] for g in groups.values()]
    return reps, {f"ns:{g[0]}": " = ".join(g) for g in groups.values() if len(g) > 1}


def make(out_dir: str | Path = "figures/out") -> list[Path]:
    """The report's response figure: every registered schedule, one row of two panels per family.

    Each curve is drawn once per set of identical rows (legend ``a = b``), on σ ∈ [1e-4, 1] (the
    normalised range; the overshoot above 1 is the band table's last columns). The right panels draw
    the worst error on [σ, 1] (``error="envelope"``), which separates the equioscillating
    Remez-designed maps that overlap pointwise. The takeaway compares schedules at an equal cost
    (15 matrix products on [1e-3, 1], :func:`analysis.schedule_ranking.certified_ranking`), not at
    their default step counts, which differ.
    """
    import matplotlib.pyplot as plt

    from spectral_la.analysis.schedule_ranking import certified_ranking
    from spectral_la.figures._style import STYLE

    groups = families()
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(groups), 2, figsize=(14.0, 3.9 * len(groups)), squeeze=False)
    for row, (title, names) in zip(axes, groups.items(), strict=True):
        reps, labels = same_rows(names)
        if "eo_aol" in reps:  # the rows were tuned for AOL-rescaled input; EO's own newton_schulz runs them without
            labels["ns:eo_aol"] = "eo_aol (AOL-tuned rows, run without the AOL rescaling)"
        for rep in reps:
            labels.setdefault(f"ns:{rep}", rep)
            labels[f"ns:{rep}"] += f" ({sl.schedules[rep].steps} steps)"
        plot_response(reps, ax=row, sigma_range=(1e-4, 1.0), points=300, labels=labels, error="envelope")
        row[0].get_legend().remove()  # the right panel's legend names every colour of the row
        row[0].set_title(f"{title}:\nf(σ)", fontsize=9.5)
        row[1].set_title("worst |f − 1| on [σ, 1]\n(dashed: certified bound on the design interval)", fontsize=9.5)
        row[1].set_xlim(row[0].get_xlim())
        # A schedule that reaches rounding level (eo_polar_express, 8 steps) would stretch the log axis
        # over 16 decades and press the others' plateaus (0.1–0.3) into one line: it leaves at the frame.
        bounds = [b[2] for n in reps if (b := _certified(parse_spec(f"ns:{n}"))) is not None]
        if bounds and min(bounds) < 1e-8 and any(b >= 1e-8 for b in bounds):
            floor = 0.2 * min(b for b in bounds if b >= 1e-8)
            row[1].set_ylim(floor, 2.0)
            row[1].text(
                0.02, 0.03, f"curves below {floor:.2g} leave at the frame", transform=row[1].transAxes, fontsize=8
            )
    ranking = certified_ranking(frobenius_schedules())
    key = "certified_err_at_15_products"
    ranked = [r for r in ranking if r[key] == r[key]]
    err = {r["schedule"]: r[key] for r in ranked}
    fig.suptitle(
        "Scalar maps of the registered schedules at their default steps (float64); names joined by '=' run "
        "the same rows (one curve)\nTakeaway at an equal cost (15 matrix products, certified on [1e-3, 1]): "
        f"best {ranked[0]['schedule']} {ranked[0][key]:.2g}; polar_express {err['polar_express']:.3g}, "
        f"jordan_ns5 {err['jordan_ns5']:.3g} (the safety above 1 differs: table schedule_bands)",
        fontsize=10,
    )
    return save(fig, out_dir, "ns_response")
