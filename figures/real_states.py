"""Figure: spectra of real momentum matrices over training, against the schedules' design interval."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import spectral_la as sl
from analysis.real_states import DEFAULT_CAPTURE, load_capture
from figures._style import new_figure, save


def data(path: str | Path = DEFAULT_CAPTURE) -> dict:
    """{(name, step): σ/‖M‖_F sorted descending} of the captured momenta."""
    _, spectra = load_capture(path)
    return {(n, s): v / np.linalg.norm(v) for (n, k, s), v in spectra.items() if k == "momentum"}


def make(out_dir: str | Path = "figures/out", path: str | Path = DEFAULT_CAPTURE) -> list[Path]:
    d = data(path)
    names = sorted({n for n, _ in d})
    steps = sorted({s for _, s in d})
    fig, axes = new_figure(2, width=11.0)
    for ax, layer in zip(axes, ("layers.0.", "layers.1."), strict=False):
        for name in [n for n in names if layer in n]:
            for j, step in enumerate(steps):
                rho = d[(name, step)]
                label = f"{name.split(layer)[1]}, step {step}"
                ax.plot(
                    np.arange(1, len(rho) + 1) / len(rho),
                    rho,
                    lw=0.9,
                    alpha=0.4 + 0.6 * j / max(1, len(steps) - 1),
                    label=label,
                )
        ax.axhline(sl.schedules["jordan_ns5"].interval[0], color="black", ls=":", lw=0.8, label="design ℓ = 1e-3")
        ax.set(yscale="log", xlabel="index i / k", ylabel="ρᵢ = σᵢ/‖M‖_F", title=f"momentum spectra, blocks.{layer}")
        ax.legend(fontsize=5, ncol=2)
    return save(fig, out_dir, "real_states")


if __name__ == "__main__":
    print(*make(sys.argv[1] if len(sys.argv) > 1 else "figures/out"), sep="\n")
