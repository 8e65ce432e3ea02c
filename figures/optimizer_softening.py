"""Figure: Soft-Muon's closed form across Muon, NorMuon, Dion2 and NorDion2, and the row-norm spread.

Left: per optimizer, against s, the closed form's own claim at the orthogonaliser's output
(``mean_rel``, solid; the full momentum for Muon/NorMuon, the selected submatrix with its own norm
for Dion2/NorDion2) and how far the applied update is from the closed-form matrix of the full
momentum (``departure_fro``, dashed; there the closed form does not apply except for Muon).
Right: the coefficient of variation of the applied update's row norms (NorMuon's premise), per
optimizer, for each shape. Medians over families and seeds, bars from min to max.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np

from spectral_la.analysis.optimizer_softening import OPTIMIZER_NAMES, optimizer_softening
from spectral_la.dtypes import parse_dtype, precision_label
from spectral_la.figures._style import new_figure, save

__all__ = ["make", "plot", "title"]


def _stat(rows: list[dict], key: str) -> tuple[float, float, float]:
    v = np.array([r[key] for r in rows if np.isfinite(r[key])])
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    return float(np.median(v)), float(v.min()), float(v.max())


def plot(rows: list[dict], spec: str, title_text: str):
    """The two panels from :func:`~spectral_la.analysis.optimizer_softening.optimizer_softening` rows."""
    rows = [r for r in rows if r["spec"] == spec]
    fig, (left, right) = new_figure(2, width=12.0, height=5.6)
    s_values = sorted({r["s"] for r in rows})
    shapes = sorted({r["shape"] for r in rows})
    for k, opt in enumerate(OPTIMIZER_NAMES):
        mine = [r for r in rows if r["optimizer"] == opt]
        if not mine:
            continue
        color = f"C{k}"
        for where, key, style, label in (
            ("ns_output", "mean_rel", "-", "at the orthogonaliser's output: mean over σ (closed form's claim)"),
            ("applied", "departure_fro", "--", "applied update vs the full-momentum closed form (Frobenius)"),
        ):
            if opt == "muon" and where == "applied":
                continue  # the same matrix as its NS output
            stats = [_stat([r for r in mine if r["where"] == where and r["s"] == s], key) for s in s_values]
            med = np.array([st[0] for st in stats])
            err = np.array([[st[0] - st[1] for st in stats], [st[2] - st[0] for st in stats]])
            left.errorbar(
                np.array(s_values) + 0.006 * k, med, yerr=err, fmt=style + "o", ms=3, color=color, capsize=2,
                label=f"{opt}: {label}",
            )  # fmt: skip
    left.set(
        yscale="log", xlabel="softening s", ylabel="relative deviation",
        title="closed form (1 − s) + sσ/‖X‖_F: where it is claimed, and the update applied",
    )  # fmt: skip
    left.title.set_fontsize(8)
    left.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    width = 0.8 / max(1, len(shapes))
    s_mid = s_values[len(s_values) // 2]
    for j, shape in enumerate(shapes):
        stats = [
            _stat([r for r in rows if r["optimizer"] == o and r["where"] == "applied" and r["shape"] == shape
                   and r["s"] == s_mid], "row_cv")
            for o in OPTIMIZER_NAMES
        ]  # fmt: skip
        x = np.arange(len(OPTIMIZER_NAMES)) + (j - (len(shapes) - 1) / 2) * width
        med = np.array([st[0] for st in stats])
        err = np.array([[st[0] - st[1] for st in stats], [st[2] - st[0] for st in stats]])
        bars = right.bar(x, med, width, yerr=err, capsize=2, label=f"{shape} (m × n)")
        right.bar_label(bars, labels=[f"{v:.2g}" for v in med], fontsize=6, padding=2)
    right.set_xticks(np.arange(len(OPTIMIZER_NAMES)), OPTIMIZER_NAMES)
    right.set(
        ylabel="row-norm coefficient of variation of the applied update",
        title=f"NorMuon's premise: non-uniform row norms (s = {s_mid:g}, non-zero rows only)",
    )
    right.title.set_fontsize(8)
    right.legend(fontsize=7)
    fig.suptitle(textwrap.fill(title_text, 110), fontsize=9)
    return fig


def title(*, spec: str, sizes, families, seeds, storage_dtype, compute_dtype, fraction: float) -> str:
    """The figure's title from its parameters (the report's caption uses the same call)."""
    shapes = ", ".join(f"{m}×{n}" for m, n in sizes)
    return (
        f"Softening across the four optimizers, {spec}, first step from zero state: {shapes}, families "
        f"{', '.join(families)}, seeds {', '.join(map(str, seeds))}, {precision_label(storage_dtype, compute_dtype)}, "
        f"Dion2/NorDion2 fraction {fraction:g}; medians, bars min–max"
    )


def make(
    out_dir: str | Path = "figures/out",
    *,
    spec: str = "ns:polar_express",
    s_values=(0.0, 0.25, 0.5, 0.75),
    sizes=((128, 512), (512, 128)),
    families=("gaussian", "low_rank", "power_law"),
    seeds=(0, 1, 2),
    storage_dtype="float32",
    compute_dtype="float32",
    fraction: float = 0.25,
    rows: list[dict] | None = None,
) -> list[Path]:
    """The report's figure (``rows``: the section's own, else measured here with these parameters)."""
    dt = parse_dtype(storage_dtype, "storage_dtype")
    ct = parse_dtype(compute_dtype, "compute_dtype", allow_none=True)
    if rows is None:
        rows = optimizer_softening(
            specs=(spec,), s_values=s_values, sizes=sizes, families=families, seeds=seeds,
            fraction=fraction, storage_dtype=dt, compute_dtype=ct, progress=False,
        )  # fmt: skip
    text = title(
        spec=spec, sizes=sizes, families=families, seeds=seeds, storage_dtype=dt, compute_dtype=ct, fraction=fraction
    )
    return save(plot(rows, spec, text), out_dir, "optimizer_softening")


if __name__ == "__main__":
    print(*make(sys.argv[1] if len(sys.argv) > 1 else "figures/out"), sep="\n")
