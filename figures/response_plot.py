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
from pathlib import Path

import torch

import spectral_la as sl
from analysis.methods import frobenius_schedules, method
from analysis.response import response
from analysis.spec import parse
from figures._style import new_figure, save
from spectral_la.atomic_files import atomic_path
from spectral_la.validation import check_in_range, check_int

__all__ = ["families", "plot_response", "resolve_spec", "response_data"]

DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_spec(spec: str) -> str:
    """A method spec string for a spec, a registered schedule name or a schedule JSON file."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"spec must be a non-empty string, got {spec!r}")
    if spec.endswith(".json"):
        path = Path(spec)
        if not path.exists():
            raise ValueError(f"spec {spec!r}: no such schedule file")
        sched = sl.load_schedule(path)
        if sched.name not in sl.schedules or sl.schedules[sched.name] != sched:
            sl.schedules.register(sched, overwrite=True)
        return f"ns:{sched.name}"
    if spec in sl.schedules:
        return f"ns:{spec}"
    return str(parse(spec))


def response_data(
    specs,
    *,
    sigma_range: tuple[float, float] = (1e-4, 1.2),
    points: int = 400,
    measured_dtype: str | None = None,
    measured_shape: tuple[int, int] = (64, 64),
) -> list[dict]:
    """Tidy rows {spec, sigma, f, target, error[, measured]} on a log grid over ``sigma_range``."""
    lo, hi = (float(check_in_range(v, "sigma_range", 0, None, lo_open=True)) for v in sigma_range)
    if not lo < hi:
        raise ValueError(f"sigma_range must satisfy 0 < lo < hi, got {sigma_range}")
    points = check_int(points, "points", 2, 10**6)
    if measured_dtype is not None and measured_dtype not in DTYPES:
        raise ValueError(f"measured dtype must be one of {sorted(DTYPES)}, got {measured_dtype!r}")
    sigma = torch.logspace(torch.log10(torch.tensor(lo)), torch.log10(torch.tensor(hi)), points, dtype=torch.float64)
    rows = []
    for spec in specs:
        name = resolve_spec(spec)
        m = method(name)
        f, t = m.scalar(sigma), m.target(sigma)
        for s, fv, tv in zip(sigma.tolist(), f.tolist(), t.tolist(), strict=True):
            rows.append({"spec": name, "sigma": s, "f": fv, "target": tv, "error": abs(fv - tv), "kind": "map"})
        if measured_dtype is not None:
            k = min(measured_shape)
            grid = torch.logspace(torch.log10(torch.tensor(lo)), 0, k, dtype=torch.float64).flip(0)
            for r in response(name, grid, mode="matrix", dtype=DTYPES[measured_dtype], shape=tuple(measured_shape)):
                rows.append(
                    {
                        "spec": name,
                        "sigma": r["sigma_hat"],
                        "f": r["measured"],
                        "target": r["target"],
                        "error": abs(r["measured"] - r["target"]),
                        "kind": f"measured {measured_dtype}",
                    }
                )
    return rows


def _certified(spec: str):
    """(ℓ, u, bound) for a sign-target NS schedule at its default steps, else None."""
    ms = parse(spec)
    if ms.kind not in ("ns", "gram_ns"):
        return None
    sched = sl.schedules[ms.schedule]
    if sched.target != "sign":
        return None
    bound = sl.certify(sched, ms.steps)
    return (*sched.interval, bound.upper)


def plot_response(specs, ax=None, *, certified: bool = True, **kwargs):
    """Draw the two panels; returns ``(figure, rows)``. ``ax``: a pair of axes to draw into.

    Diverging maps (a schedule beyond its range) are drawn at the frame: f clipped to [−0.5, 2],
    the error to [1e-17, 1e2].
    """
    rows = response_data(specs, **kwargs)
    if ax is None:
        fig, axes = new_figure(2, width=11.0)
    else:
        axes = ax
        fig = axes[0].figure
    names = list(dict.fromkeys(r["spec"] for r in rows))
    for name in names:
        curve = [r for r in rows if r["spec"] == name and r["kind"] == "map"]
        (line,) = axes[0].plot([r["sigma"] for r in curve], [_clip(r["f"], -0.5, 2.0) for r in curve], label=name)
        axes[0].plot([r["sigma"] for r in curve], [r["target"] for r in curve], color=line.get_color(), ls=":", lw=0.8)
        axes[1].plot(
            [r["sigma"] for r in curve], [_clip(r["error"], 1e-17, 1e2) for r in curve], color=line.get_color()
        )
        for kind in sorted({r["kind"] for r in rows if r["spec"] == name} - {"map"}):
            pts = [r for r in rows if r["spec"] == name and r["kind"] == kind]
            axes[0].plot(
                [r["sigma"] for r in pts],
                [_clip(r["f"], -0.5, 2.0) for r in pts],
                ".",
                color=line.get_color(),
                ms=3,
                label=f"{name}, {kind}",
            )
        band = _certified(name) if certified else None
        if band is not None:
            lo, hi, bound = band
            axes[1].fill_between(
                [lo, hi],
                bound / 3,
                bound,
                color=line.get_color(),
                alpha=0.18,
                lw=0,
                label=f"{name}: certified |f − 1| ≤ {bound:.3g} on [{lo:g}, {hi:g}]",
            )
            axes[1].hlines(bound, lo, hi, color=line.get_color(), lw=0.8, ls="--")
    axes[0].set(
        xscale="log",
        xlabel="normalised singular value σ",
        ylabel="f(σ)  (dotted: target)",
        title="Singular-value response",
        ylim=(-0.1, 1.6),
    )
    axes[1].set(
        xscale="log",
        yscale="log",
        xlabel="normalised singular value σ",
        ylabel="|f(σ) − target|",
        title="Error against the target",
    )
    axes[0].legend(fontsize=6)
    if any(h.get_label().startswith(tuple(names)) for h in axes[1].collections):
        axes[1].legend(fontsize=6)
    return fig, rows


def _clip(v: float, lo: float, hi: float) -> float:
    """Diverging maps (a schedule beyond its range, Muon^p's p = 1/2 above 0.69) are drawn at the frame."""
    return min(max(v, lo), hi) if v == v else hi


def write_rows(rows: list[dict], path: str | Path) -> Path:
    """The rows as CSV (atomically)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
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


def make(out_dir: str | Path = "figures/out") -> list[Path]:
    """The report's response figure: every registered schedule, one row of two panels per family."""
    import matplotlib.pyplot as plt

    from figures._style import STYLE

    groups = families()
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(groups), 2, figsize=(11.0, 3.4 * len(groups)), squeeze=False)
    for row, (title, names) in zip(axes, groups.items(), strict=True):
        plot_response(names, ax=row, sigma_range=(1e-4, 1.1), points=300)
        row[0].set_title(f"{title}: f(σ)")
        row[1].set_title("|f(σ) − 1|, certified bounds shaded")
    return save(fig, out_dir, "ns_response")
