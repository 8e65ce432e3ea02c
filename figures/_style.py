"""Shared matplotlib style and saving for the figure scripts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from spectral_la.atomic_files import atomic_path  # noqa: E402

STYLE: Any = {  # matplotlib types rc keys as literals; these are checked by rc_context at run time
    "figure.figsize": (7.0, 4.2),
    "figure.dpi": 110,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "lines.linewidth": 1.4,
}


def new_figure(ncols: int = 1, width: float = 7.0, height: float = 4.2):
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    return fig, axes[0]


def save(fig, out_dir: str | Path, name: str, *, tight: bool = True) -> list[Path]:
    """PNG and SVG of ``fig`` (tight layout unless a colour bar placed by the figure forbids it)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    if tight:
        fig.tight_layout()
    for p in paths:
        with atomic_path(p) as tmp:  # a full disk or a kill never leaves a truncated figure
            fig.savefig(tmp, format=p.suffix[1:], bbox_inches="tight")
    plt.close(fig)
    return paths
