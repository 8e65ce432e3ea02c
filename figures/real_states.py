"""Figure: spectra of real momentum matrices over training, against the schedules' design interval."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import spectral_la as sl
from spectral_la.analysis.real_states import DEFAULT_CAPTURE, load_capture
from spectral_la.figures._style import save


def data(path: str | Path = DEFAULT_CAPTURE) -> dict:
    """{(name, step): σ/‖M‖_F sorted descending} of the captured momenta."""
    _, spectra = load_capture(path)
    return {(n, s): v / np.linalg.norm(v) for (n, k, s), v in spectra.items() if k == "momentum"}


def make(out_dir: str | Path = "figures/out", path: str | Path = DEFAULT_CAPTURE) -> list[Path]:
    """One panel per captured matrix (grouped by layer, in rows), its spectrum at each captured step
    coloured by the step on one colour scale, against the design ℓ = 1e-3 of the registered schedules."""
    import matplotlib.pyplot as plt
    from matplotlib import cm, colors

    from spectral_la.figures._style import STYLE

    d = data(path)
    names = sorted({n for n, _ in d})
    steps = sorted({s for _, s in d})
    layers = sorted({n.split(".")[2] for n in names})  # blocks.layers.<i>.…
    per_layer = [[n for n in names if n.split(".")[2] == layer] for layer in layers]
    ncols = max(len(row) for row in per_layer)
    norm = colors.LogNorm(vmin=min(steps), vmax=max(steps))
    cmap = cm.viridis
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(layers), ncols, figsize=(3.3 * ncols, 2.9 * len(layers)), squeeze=False)
    ell = sl.schedules["jordan_ns5"].interval[0]
    for row, layer_names in zip(axes, per_layer, strict=True):
        for ax, name in zip(row, layer_names, strict=False):
            for step in steps:
                rho = d[(name, step)]
                ax.plot(np.arange(1, len(rho) + 1) / len(rho), rho, lw=1.1, color=cmap(norm(step)))
            ax.axhline(ell, color="black", ls=":", lw=0.8)
            short = name.removeprefix("blocks.").removesuffix(".weight").removesuffix("_weight")
            k = len(d[(name, steps[0])])
            ax.set(yscale="log", title=f"{short} (k = {k})", xlabel="i / k")
            ax.title.set_fontsize(8)
        row[0].set_ylabel("ρᵢ = σᵢ/‖M‖_F")
    fig.subplots_adjust(hspace=0.5, wspace=0.35, right=0.86)
    bar = fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, shrink=0.8, pad=0.02)
    bar.set_label("training step")
    bar.set_ticks(steps)
    bar.set_ticklabels([str(s) for s in steps])
    share = {s: float(np.mean([np.mean(d[(n, s)] < ell) for n in names])) for s in steps}
    fig.suptitle(
        "Momentum spectra over training (σᵢ/‖M‖_F, i-th largest of k = min(m, n)); dotted: the design ℓ = 1e-3 "
        "of the schedules\nTakeaway: the share of directions below ℓ (not brought near 1 by the schedules) goes "
        + " → ".join(f"{share[s]:.1%} (step {s})" for s in steps),
        fontsize=9,
    )
    return save(fig, out_dir, "real_states", tight=False)


if __name__ == "__main__":
    print(*make(sys.argv[1] if len(sys.argv) > 1 else "figures/out"), sep="\n")
