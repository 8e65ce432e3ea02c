"""Figure: scalar response f(σ) of every registered Newton–Schulz schedule, with the target 1."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import spectral_la as sl
from figures._style import new_figure, save


def data(points: int = 400) -> dict:
    sigma = torch.logspace(-4, 0, points, dtype=torch.float64)
    return {"sigma": sigma, **{name: sl.scalar_map(name, sigma) for name in sl.schedules}}


def make(out_dir: str | Path = "figures/out") -> list[Path]:
    d = data()
    fig, (ax,) = new_figure(width=9.0)
    for name in sl.schedules:
        ax.plot(d["sigma"], d[name], label=name)
    ax.axhline(1.0, color="black", lw=0.8, ls="--", label="target sign(σ) = 1")
    ax.axvline(1e-3, color="grey", lw=0.6, ls=":", label="design ℓ = 1e-3")
    ax.set(
        xscale="log",
        xlabel="normalised singular value σ",
        ylabel="f(σ) after the default steps",
        ylim=(0, 1.35),
        title="Newton–Schulz schedules: singular-value response",
    )
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save(fig, out_dir, "ns_response")


if __name__ == "__main__":
    print(*make(sys.argv[1] if len(sys.argv) > 1 else "figures/out"), sep="\n")
