"""Figure: stability sweep — relative error vs κ per dtype (cached sweep, resumable)."""

from __future__ import annotations

import sys
from pathlib import Path

from spectral_la.analysis.sweeps import stability_sweep
from spectral_la.figures._style import new_figure, save

METHODS = ("ns:polar_express", "ns:jordan_ns5")


def data(cache: str | Path = "reports/stability.csv", shape: str = "64x64") -> list[dict]:
    # One shape is drawn; float64 rows take a 30-digit reference (≈ 1 s each at 64×64).
    return stability_sweep(METHODS, shapes=(shape,), rank_deficiencies=(0.0,), cache=cache, progress=False)


def title(shape: str) -> str:
    """The figure's title with its takeaway (the report's caption names the same shape)."""
    m, n = shape.split("x")
    return (
        f"Stability sweep, {m}×{n}, κ = σ₁/σ_min (storage dtype as labelled; compute fp32 for bf16/fp16)\n"
        "solid: total error, equal for every dtype: the σ below the design interval stay below 1 "
        "(approximation, not instability)\ndotted: the share the dtype's rounding adds"
    )


def make(out_dir: str | Path = "figures/out", cache: str | Path | None = None, *, shape: str = "64x64") -> list[Path]:
    rows = data(cache or Path(out_dir) / "stability.csv", shape)
    fig, axes = new_figure(len(METHODS), width=9.0)
    for ax, spec in zip(axes, METHODS, strict=True):
        for dtype in ("float64", "float32", "bfloat16", "float16"):
            pts = sorted(
                (r["kappa"], r["rel_error"], r["rounding_error"])
                for r in rows
                if r["method"] == spec and r["storage_dtype"] == dtype and r["shape"] == shape
            )
            (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{dtype}: total")
            ax.plot(
                [p[0] for p in pts],
                [max(p[2], 1e-17) for p in pts],
                "s:",
                color=line.get_color(),
                label=f"{dtype}: rounding share",
            )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="κ(X)",
            ylabel="error / ‖exact(X)‖_F (msign for the iterations)",
            ylim=(1e-17, 3),
            title=spec,
        )
        ax.legend(fontsize=6, ncol=2, loc="center right")  # the empty band between the dtypes
    fig.suptitle(title(shape), fontsize=9)
    return save(fig, out_dir, "stability")


if __name__ == "__main__":
    print(*make(sys.argv[1] if len(sys.argv) > 1 else "figures/out"), sep="\n")
