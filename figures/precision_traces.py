"""Figure: one spec's step trace per compute dtype (intermediate sizes) and its final per-σ error beside the
first-order rounding model (analysis.low_precision)."""

from __future__ import annotations

import sys

import numpy as np

from spectral_la.analysis.low_precision import (
    SAFE_ERROR,
    SAFE_OUTLIER,
    PrecisionConfig,
    predicted_error,
    step_trace,
    unit_roundoff,
)
from spectral_la.figures._style import new_figure, save

DEFAULT = PrecisionConfig()


def data(cfg: PrecisionConfig = DEFAULT) -> dict:
    """The first spec of ``cfg`` on its input, per compute dtype: trace rows, σ̂, final errors and the model."""
    x = cfg.input()
    out = {}
    for compute in cfg.computes:
        rows, sigma, errors = step_trace(cfg.specs[0], x, compute=compute, accumulation=cfg.accumulation)
        out[compute] = {
            "rows": rows,
            "sigma": sigma,
            "error": errors[-1],
            "model": predicted_error(cfg.specs[0], sigma, compute, (x.shape[0], x.shape[1])),
        }
    return out


def title(cfg: PrecisionConfig) -> str:
    """The figure's title (the report's caption uses the same call)."""
    m, n = cfg.shape
    return (
        f"{cfg.specs[0]}, {m}×{n} {cfg.family} input (seed {cfg.seed}), {cfg.accumulation} accumulation; "
        "storage = compute dtype (fp8: fp32 storage, fp8 products)"
    )


def make(out_dir="figures/out", cfg: PrecisionConfig = DEFAULT):
    return save(plot(cfg), out_dir, "precision_traces")


def plot(cfg: PrecisionConfig = DEFAULT):
    """The two panels (a matplotlib Figure), with the thresholds the report's safety table applies
    (:data:`analysis.low_precision.SAFE_OUTLIER`, :data:`~analysis.low_precision.SAFE_ERROR`) drawn in."""
    d = data(cfg)
    fig, (ax1, ax2) = new_figure(2, width=12.5, height=4.4)
    top = 1.0
    for i, (compute, run) in enumerate(d.items()):
        color = f"C{i}"
        steps = [r["step"] for r in run["rows"]]
        ratio = [r["max_abs_x"] / r["ref_max_abs_x"] for r in run["rows"]]
        top = max(top, *ratio)
        ax1.plot(steps, ratio, "o-", color=color, label=compute)
        order = np.argsort(run["sigma"])
        ax2.loglog(run["sigma"][order], np.maximum(run["error"][order], 1e-12), ".", ms=3, color=color, alpha=0.6)
        # First order needs u small: in fp8 (u = 2⁻⁴) the model is drawn dashed and capped at 1, the size
        # of an error that has lost every digit (it predicts more, which no singular value can be off by).
        first_order = unit_roundoff(compute) <= 2.0**-8
        ax2.loglog(
            run["sigma"][order],
            np.minimum(run["model"][order], 1.0),
            "-" if first_order else "--",
            color=color,
            lw=1.0,
            label=f"{compute}: model" + ("" if first_order else " (first order fails; capped at 1)"),
        )
    ax1.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax1.axhline(SAFE_OUTLIER, color="firebrick", lw=0.9, ls=":", label=f"unsafe above {SAFE_OUTLIER:g}×")
    # The axis starts at 0 and reaches past the safety line: a 10% growth reads as 10%, not as a cliff.
    ax1.set_ylim(0.0, max(SAFE_OUTLIER * 1.15, top * 1.1))
    ax1.set(xlabel="step", ylabel="max|X_k| / max|X_k| of the float64 run", title="intermediate size vs float64")
    ax1.legend(fontsize=8)
    ax2.axhline(SAFE_ERROR, color="firebrick", lw=0.9, ls=":", label=f"unsafe above {SAFE_ERROR:g}")
    ax2.set(
        xlabel="normalised σ̂ of the input",
        ylabel="|σ_T − σ_T(float64)|",
        title="final error per σ: measured (dots), model (lines)",
    )
    ax2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # off the dots
    fig.suptitle(title(cfg), fontsize=9)
    return fig


if __name__ == "__main__":
    print(*make(sys.argv[1] if len(sys.argv) > 1 else "figures/out"), sep="\n")
