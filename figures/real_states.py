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
    """One panel per captured matrix (grouped by layer, in rows, one shared log axis), its spectrum at each
    captured step in one colour per step, against the design ℓ = 1e-3 of the registered schedules.

    Matrices whose columns sum to zero (1ᵀM = 0 to rounding: the writers of a pre-LN residual stream,
    whose every reader is a LayerNorm, and LayerNorm's backward removes the feature mean) have one
    singular value at float32 rounding, about 1e-8 of ‖M‖_F; the figure names them.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from spectral_la.analysis.real_states import load_matrices
    from spectral_la.figures._style import STYLE

    d = data(path)
    names = sorted({n for n, _ in d})
    steps = sorted({s for _, s in d})
    layers = sorted({n.split(".")[2] for n in names})  # blocks.layers.<i>.…
    per_layer = [[n for n in names if n.split(".")[2] == layer] for layer in layers]
    ncols = max(len(row) for row in per_layer)
    colours = {step: f"C{i}" for i, step in enumerate(steps)}  # a few steps: one colour each, not a scale
    dashes = {step: ("-", "--", "-.")[i % 3] for i, step in enumerate(steps)}  # coinciding steps stay visible
    matrices = load_matrices(path)
    last = steps[-1]
    # 1ᵀM relative to max|M|: about 1e-6 for the residual writers (fp32 rounding of sums of 128 terms),
    # 0.6–70 for the other matrices of the captured model; 1e-4 separates the two by two decades each way.
    mean_free = {
        n
        for n in names
        if float(matrices[(n, last)].sum(dim=0).abs().max()) <= 1e-4 * float(matrices[(n, last)].abs().max())
    }
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            len(layers), ncols, figsize=(3.3 * ncols, 2.9 * len(layers) + 0.6), squeeze=False, sharey=True
        )
    ell = sl.schedules["jordan_ns5"].interval[0]
    for row, layer_names in zip(axes, per_layer, strict=True):
        for ax, name in zip(row, layer_names, strict=False):
            for step in steps:
                rho = d[(name, step)]
                ax.plot(np.arange(1, len(rho) + 1) / len(rho), rho, lw=1.1, color=colours[step], ls=dashes[step])
            ax.axhline(ell, color="black", ls=":", lw=0.8)
            short = name.removeprefix("blocks.").removesuffix(".weight").removesuffix("_weight")
            k = len(d[(name, steps[0])])
            ax.set(yscale="log", title=f"{short} (k = {k}){' *' if name in mean_free else ''}", xlabel="i / k")
            ax.title.set_fontsize(8)
        row[0].set_ylabel("ρᵢ = σᵢ/‖M‖_F")
    handles = [Line2D([], [], color=colours[s], ls=dashes[s], label=f"step {s}") for s in steps]
    handles.append(Line2D([], [], color="black", ls=":", lw=0.8, label=f"design ℓ = {ell:g}"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, bbox_to_anchor=(0.5, 0.0))
    share = {s: float(np.mean([np.mean(d[(n, s)] < ell) for n in names])) for s in steps}
    fig.suptitle(
        "Momentum spectra over training (σᵢ/‖M‖_F, i-th largest of k = min(m, n), captured stdlib LM, fp32 "
        "momenta); dotted: the design ℓ of the schedules\nTakeaway: the share of directions below ℓ (not brought "
        "near 1 by the schedules) goes "
        + " → ".join(f"{share[s]:.1%} (step {s})" for s in steps)
        + "\n* columns sum to zero (1ᵀM = 0): these write the pre-LN residual stream, which only LayerNorms read; "
        "LayerNorm's backward removes the feature mean, so one σ sits at fp32 rounding (≈1e-8)",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save(fig, out_dir, "real_states", tight=False)


if __name__ == "__main__":
    print(*make(sys.argv[1] if len(sys.argv) > 1 else "figures/out"), sep="\n")
