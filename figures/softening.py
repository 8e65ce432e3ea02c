"""Figure: Soft-Muon closed form (1 − s) + sρ vs the finite-step map, with measured singular values."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import spectral_la as sl
from analysis.softening import test_matrix
from figures._style import new_figure, save

SCHEDULES = ("polar_express", "jordan_ns5")
S = 0.3


def data(n: int = 128) -> dict:
    x = test_matrix("powerlaw", n, 4 * n)
    u, sig, vh = torch.linalg.svd(x, full_matrices=False)
    rho = sig / torch.linalg.matrix_norm(x)
    grid = torch.logspace(-3.5, 0, 300, dtype=torch.float64)
    out = {"rho_grid": grid, "closed_form": sl.soften_target_map(grid, S), "rho": rho}
    for name in SCHEDULES:
        out[f"map:{name}"] = sl.soften_scalar_map(name, grid, S)
        out[f"measured:{name}"] = torch.diagonal(u.T @ sl.soften(x, S, name) @ vh.T)
    return out


def make(out_dir: str | Path = "figures/out") -> list[Path]:
    d = data()
    fig, (ax,) = new_figure()
    ax.plot(d["rho_grid"], d["closed_form"], color="black", ls="--", label=f"claimed (1 − s) + sρ, s = {S}")
    for name in SCHEDULES:
        (line,) = ax.plot(d["rho_grid"], d[f"map:{name}"], label=f"finite-step map, {name}")
        ax.plot(
            d["rho"],
            d[f"measured:{name}"],
            "o",
            ms=2.5,
            color=line.get_color(),
            alpha=0.7,
            label=f"measured σ of soften(X), {name}",
        )
    ax.set(
        xscale="log",
        xlabel="ρ = σ/‖X‖_F",
        ylabel="singular value of the softened update",
        title="Soft-Muon: claimed closed form vs finite-step blend\n(power-law spectrum, 128×512, float32)",
    )
    ax.legend(loc="lower right")
    return save(fig, out_dir, "softening")


if __name__ == "__main__":
    print(*make(sys.argv[1] if len(sys.argv) > 1 else "figures/out"), sep="\n")
