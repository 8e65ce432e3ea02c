"""Figure: Muon^p's two routes. The published bivariate recurrences as scalar maps (one panel per p,
error vs σ̂ for several step counts) and the coupled-Newton route's matrix error vs its step count."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import torch

import spectral_la as sl
from spectral_la.analysis.spectra import torch_matrix_with_spectrum
from spectral_la.figures._style import STYLE, save
from spectral_la.muon_p import MUON_P_RECURRENCES
from spectral_la.normalization import SOURCE_FROBENIUS

PS = ("1/2", "1/3", "1/5", "3/5")
STEPS = (2, 6, 10)
COUPLED_STEPS = tuple(range(2, 31, 2))
#: The coupled route's test matrix: σ log-spaced over [1e-3, 1], as in the report's Muon^p table.
COUPLED_SHAPE = (32, 96)


def data() -> dict:
    sigma = torch.logspace(-3, 0, 300, dtype=torch.float64)
    out: dict = {"sigma": sigma}
    for p in PS:
        pf = float(Fraction(p))
        for t in STEPS:
            out[f"muon_p:{p}:{t}"] = (sl.muon_p_scalar_map(pf, sigma, steps=t, check_range=False) - sigma**pf).abs()
    m, n = COUPLED_SHAPE
    x = torch_matrix_with_spectrum(m, n, torch.logspace(0, -3, m, dtype=torch.float64), seed=3)
    x0 = sl.normalize(x, SOURCE_FROBENIUS)
    for p in PS:
        exact = sl.fractional_power(x0, float(Fraction(p)))
        out[f"coupled:{p}"] = [
            float((sl.muon_p(x, float(Fraction(p)), k, method="coupled") - exact).abs().max()) for k in COUPLED_STEPS
        ]
    return out


def make(out_dir: str | Path = "figures/out") -> list[Path]:
    import matplotlib.pyplot as plt

    d = data()
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, 3, figsize=(13.0, 7.4))
    shades = ("C0", "C1", "C2")  # one colour per step count, the same in every panel
    for ax, p in zip(axes.flat, PS, strict=False):
        for t, colour in zip(STEPS, shades, strict=True):
            ax.plot(d["sigma"], d[f"muon_p:{p}:{t}"].clamp(min=1e-17, max=10), color=colour, lw=1.2, label=f"{t} steps")
        bound = MUON_P_RECURRENCES[Fraction(p)].stable_bound
        title = f"p = {p}"
        if bound < 1:
            ax.axvspan(bound, 1.0, color="0.85", lw=0)
            title += f": defined for σ̂ ≤ {bound:.3f} (grey: fixed point repels)"
        ax.set(xscale="log", yscale="log", ylim=(1e-8, 10), xlabel="normalised singular value σ̂ = σ/‖X‖_F")
        ax.set_title(title, fontsize=9.5)
        ax.set_ylabel("|y_T(σ̂) − σ̂^p|")
        ax.legend(fontsize=8, loc="lower left")
    ax = axes.flat[len(PS)]
    for i, p in enumerate(PS):
        ax.semilogy(COUPLED_STEPS, d[f"coupled:{p}"], "o-", ms=3, color=f"C{i + 3}", label=f"p = {p}")
    ax.set(xlabel="coupled Newton steps", ylabel="max entrywise error vs SVD power")
    ax.set_title(
        f"coupled route ({COUPLED_SHAPE[0]}×{COUPLED_SHAPE[1]}, σ̂ over [1e-3, 1], fp64):\nany p, no stable bound",
        fontsize=9.5,
    )
    ax.legend(fontsize=8)
    axes.flat[-1].axis("off")
    axes.flat[-1].text(
        0.0,
        0.5,
        "Bivariate recurrences (princeton-pli/muon-p) as\nscalar maps on 300 log-spaced σ̂ (float64): more\n"
        "steps move the converged region toward smaller σ̂;\nbelow it the error stays near 0.1. Errors above 10\n"
        "drawn at 10. The coupled route converges for every\nσ̂ once its steps suffice (one seeded matrix; seed 3).",
        fontsize=9,
        va="center",
    )
    fig.suptitle("Muon^p: the published bivariate recurrences and the coupled route", fontsize=11)
    return save(fig, out_dir, "recurrence_accuracy")


if __name__ == "__main__":
    print(*make(sys.argv[1] if len(sys.argv) > 1 else "figures/out"), sep="\n")
