"""Figure: Soft-Muon closed form (1 − s) + sρ vs the finite-step map, with measured singular values.

``plot_softening(schedules, s, x)`` draws it for any matrix (the ``spectral-la softening``
command's figure); ``make`` is the report's version on a power-law spectrum.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import torch

import spectral_la as sl
from spectral_la.analysis.softening import family_matrix
from spectral_la.dtypes import parse_dtype, precision_label
from spectral_la.figures._style import new_figure, save

SCHEDULES = ("polar_express", "jordan_ns5")
S = 0.3


def data(
    n: int = 128, *, x: torch.Tensor | None = None, schedules=SCHEDULES, s=S, dtype=torch.float64, compute_dtype=None
) -> dict:
    """Claimed map, finite-step map on a ρ grid, and the measured singular values of soften(X), per s.

    ``s``: one value or several; keys ``closed_form:{s}``, ``map:{name}:{s}``, ``measured:{name}:{s}``.
    ``dtype`` is the storage dtype of X, ``compute_dtype`` the blend's (None: the backend's default).
    """
    s_values = [float(v) for v in (s if isinstance(s, (list, tuple)) else [s])]
    x = family_matrix("powerlaw", n, 4 * n) if x is None else x.double()
    u, sig, vh = torch.linalg.svd(x, full_matrices=False)
    rho = sig / torch.linalg.matrix_norm(x)
    lo = max(float(rho[rho > 0].min()) / 3, 1e-6) if bool((rho > 0).any()) else 1e-6
    grid = torch.logspace(torch.log10(torch.tensor(lo)), 0, 300, dtype=torch.float64)
    out: dict = {"rho_grid": grid, "rho": rho, "s_values": s_values, "names": []}
    for name in schedules:
        sched = sl.schedules.resolve(name)
        out["names"].append(sched.name)
        for sv in s_values:
            out[f"closed_form:{sv}"] = sl.soften_target_map(grid, sv)
            out[f"map:{sched.name}:{sv}"] = sl.soften_scalar_map(sched, grid, sv)
            y = sl.soften(x.to(dtype), sv, sched, compute_dtype=compute_dtype).double()
            out[f"measured:{sched.name}:{sv}"] = torch.diagonal(u.T @ y @ vh.T)
    return out


def plot_softening(
    schedules=SCHEDULES,
    s=S,
    x: torch.Tensor | None = None,
    *,
    dtype=torch.float32,
    compute_dtype=None,
    title: str | None = None,
):
    """The figure for any matrix x (float64; default the report's power-law 128×512), every s drawn.

    One panel per s; returns (figure, data).
    """
    d = data(x=x, schedules=schedules, s=s, dtype=dtype, compute_dtype=compute_dtype)
    fig, axes = new_figure(len(d["s_values"]), width=5.5 * len(d["s_values"]))
    for ax, sv in zip(axes, d["s_values"], strict=True):
        ax.plot(d["rho_grid"], d[f"closed_form:{sv}"], color="black", ls="--", label="claimed (1 − s) + sρ")
        for name in d["names"]:
            (line,) = ax.plot(d["rho_grid"], d[f"map:{name}:{sv}"], label=f"finite-step map, {name}")
            ax.plot(
                d["rho"],
                d[f"measured:{name}:{sv}"],
                "o",
                ms=2.5,
                color=line.get_color(),
                alpha=0.7,
                label=f"measured σ of soften(X), {name}",
            )
        claimed = 1 - sv + sv * d["rho"]
        gaps = ", ".join(
            f"{name} {float(((d[f'measured:{name}:{sv}'] - claimed).abs() / claimed).mean()):.1%}"
            for name in d["names"]
        )
        ax.set(
            xscale="log",
            xlabel="ρ = σ/‖X‖_F",
            ylabel="singular value of the softened update",
            title=f"s = {sv:g}: mean |measured − claimed|/claimed: {gaps}",
        )
        ax.title.set_fontsize(8)
        ax.legend(loc="lower right", fontsize=7)
    fig.suptitle(textwrap.fill(title or "Soft-Muon: claimed closed form vs finite-step blend", 60), fontsize=10)
    return fig, d


def title(*, family: str, shape: tuple[int, int], s, dtype, compute_dtype=None) -> str:
    """The figure's title from its parameters (the report's caption uses the same call)."""
    s_text = ", ".join(f"{v:g}" for v in (s if isinstance(s, (list, tuple)) else [s]))
    return (
        f"Soft-Muon: claimed closed form vs finite-step blend, s = {s_text} "
        f"({family} spectrum, {shape[0]}×{shape[1]}, {precision_label(dtype, compute_dtype)})"
    )


def make(
    out_dir: str | Path = "figures/out",
    *,
    schedules=SCHEDULES,
    s=S,
    family: str = "powerlaw",
    shape: tuple[int, int] = (128, 512),
    dtype="float32",
    compute_dtype=None,
) -> list[Path]:
    """The report's figure, with every parameter the report's table states (its ReportConfig)."""
    dtype = parse_dtype(dtype, "dtype")
    compute_dtype = parse_dtype(compute_dtype, "compute_dtype", allow_none=True)
    x = family_matrix(family, *shape)
    fig, _ = plot_softening(
        schedules,
        s,
        x,
        dtype=dtype,
        compute_dtype=compute_dtype,
        title=title(family=family, shape=shape, s=s, dtype=dtype, compute_dtype=compute_dtype),
    )
    return save(fig, out_dir, "softening")


if __name__ == "__main__":
    print(*make(sys.argv[1] if len(sys.argv) > 1 else "figures/out"), sep="\n")
