"""Figure: Muon^p bivariate recurrences — error vs σ̂ for several step counts; coupled-root error vs steps."""

from __future__ import annotations

import math
import sys
from fractions import Fraction
from pathlib import Path

import torch

import spectral_la as sl
from spectral_la.analysis.spectra import torch_matrix_with_spectrum
from spectral_la.figures._style import new_figure, save
from spectral_la.muon_p import MUON_P_RECURRENCES

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
    colours = {p: f"C{i}" for i, p in enumerate(PS)}
    for p in PS:
        for t in STEPS:
            ax1.plot(
                d["sigma"],
                d[f"muon_p:{p}:{t}"].clamp(min=1e-17, max=10),
                color=colours[p],
                ls=("-", "--", ":")[STEPS.index(t)],
                lw=1.0,
            )
    bound = MUON_P_RECURRENCES[Fraction(1, 2)].stable_bound
    ax1.axvline(bound, color=colours["1/2"], lw=0.8, alpha=0.6)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colours[p], label=f"p = {p}") for p in PS]
    handles += [Line2D([], [], color="grey", ls=("-", "--", ":")[i], label=f"{t} steps") for i, t in enumerate(STEPS)]
    handles.append(Line2D([], [], color=colours["1/2"], alpha=0.6, label=f"p = 1/2 stable bound {bound:.3f}"))
    ax1.set(
        xscale="log",
        yscale="log",
        xlabel="normalised singular value s = σ/‖X‖_F",
        ylabel="|y_T(s) − s^p|",
        ylim=(1e-8, 10),
        title="Muon^p recurrences: error of the scalar map\n(colour: p, line: steps; errors above 10 drawn at 10)",
    )
    ax1.legend(handles=handles, ncol=2, fontsize=7, loc="lower right")
    ax2.semilogy(d["root_steps"], d["root_error"], "o-")
    ax2.set(
        xlabel="coupled Newton steps",
        ylabel="relative max error vs eigh",
        title=f"A^(-1/2), κ(A) = 1e8: quadratic only after ≈ {math.ceil(8 / math.log10(2.25))} steps",
    )
    return save(fig, out_dir, "recurrence_accuracy")


if __name__ == "__main__":
    print(*make(sys.argv[1] if len(sys.argv) > 1 else "figures/out"), sep="\n")
