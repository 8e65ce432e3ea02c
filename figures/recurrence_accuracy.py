"""Figure: Muon^p bivariate recurrences — error vs σ̂ for several step counts; coupled-root error vs steps."""

from __future__ import annotations

import math
import sys
from fractions import Fraction
from pathlib import Path

import torch

import spectral_la as sl
from analysis.spectra import torch_matrix_with_spectrum
from figures._style import new_figure, save

PS = ("1/2", "1/3", "1/5", "3/5")
STEPS = (2, 6, 10)


def data() -> dict:
    sigma = torch.logspace(-3, 0, 300, dtype=torch.float64)
    out: dict = {"sigma": sigma}
    for p in PS:
        pf = float(Fraction(p))
        for t in STEPS:
            out[f"muon_p:{p}:{t}"] = (sl.muon_p_scalar_map(pf, sigma, steps=t, check_range=False) - sigma**pf).abs()
    a = torch_matrix_with_spectrum(32, 32, torch.logspace(0, -8, 32, dtype=torch.float64), seed=0, symmetric=True)
    exact = sl.inverse_root(a, 2)
    steps = list(range(2, 41, 2))
    out["root_steps"] = steps
    out["root_error"] = [
        float((sl.coupled_inverse_root(a, 2, steps=k).root - exact).abs().max() / exact.abs().max()) for k in steps
    ]
    return out


def make(out_dir: str | Path = "figures/out") -> list[Path]:
    d = data()
    fig, (ax1, ax2) = new_figure(2, width=10.0)
    for p in PS:
        for t in STEPS:
            ax1.plot(
                d["sigma"],
                d[f"muon_p:{p}:{t}"].clamp(min=1e-17, max=10),
                label=f"p = {p}, {t} steps",
                ls=("-", "--", ":")[STEPS.index(t)],
            )
    ax1.set(
        xscale="log",
        yscale="log",
        xlabel="normalised singular value s = σ/‖X‖_F",
        ylabel="|y_T(s) − s^p|",
        ylim=(1e-8, 10),
        title="Muon^p published recurrences: error of the scalar map",
    )
    ax1.legend(ncol=2, fontsize=6)
    ax2.semilogy(d["root_steps"], d["root_error"], "o-")
    ax2.set(
        xlabel="coupled Newton steps",
        ylabel="relative max error vs eigh",
        title=f"A^(-1/2), κ(A) = 1e8: quadratic only after ≈ {math.ceil(8 / math.log10(2.25))} steps",
    )
    return save(fig, out_dir, "recurrence_accuracy")


if __name__ == "__main__":
    print(*make(sys.argv[1] if len(sys.argv) > 1 else "figures/out"), sep="\n")
