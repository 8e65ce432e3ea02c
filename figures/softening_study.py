"""Figure: does softening help? Paired differences to s = 0 with 95 % intervals, per regime, and learning curves.

Left and middle: for each regime (token-rich, high-dimensional), the paired difference of final
held-out loss to s = 0 (nats per byte; below zero: softening helps) per optimizer and s, with its
95 % t interval over seeds, each setting at its own best learning rate. Right: held-out loss along
the token-rich runs (mean over seeds) for s = 0 and the largest constant s.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np

from spectral_la.analysis.study_stats import curves, study_summary
from spectral_la.figures._style import new_figure, save

__all__ = ["make", "plot", "title"]


def plot(rows: list[dict], title_text: str, first_seed: int = 0):
    summary = study_summary(rows, first_seed)
    tpp = {r["regime"]: r["tokens_per_param"] for r in summary}
    regimes = sorted(tpp, key=lambda k: -tpp[k])  # the most tokens per parameter first
    optimizers = list(dict.fromkeys(r["optimizer"] for r in summary))
    settings = list(dict.fromkeys(r["softening"] for r in summary if r["softening"] != "0"))
    fig, axes = new_figure(len(regimes) + 1, width=5.2 * (len(regimes) + 1), height=4.6)
    width = 0.8 / max(1, len(optimizers))
    for ax, regime in zip(axes, regimes, strict=False):
        for k, opt in enumerate(optimizers):
            mine = {r["softening"]: r for r in summary if r["regime"] == regime and r["optimizer"] == opt}
            x = np.arange(len(settings)) + (k - (len(optimizers) - 1) / 2) * width
            y = [mine[s]["diff_vs_s0"] if s in mine else np.nan for s in settings]
            e = [mine[s]["diff_ci95"] if s in mine else np.nan for s in settings]
            ax.errorbar(x, y, yerr=e, fmt="o", ms=4, capsize=3, color=f"C{k}", label=opt)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xlim(-0.5, len(settings) - 0.5)
        seeds = max(r["seeds"] for r in summary if r["regime"] == regime)
        ax.set_xticks(np.arange(len(settings)), [f"s={s}" for s in settings], fontsize=7)
        ax.set(
            ylabel="held-out loss − loss at s = 0 (nats/byte)",
            title=f"{regime}: {tpp[regime]:g} tokens/param, {seeds} paired seeds, 95% t intervals",
        )
        ax.title.set_fontsize(8)
        ax.legend(fontsize=7)
    ax = axes[-1]
    rich = regimes[0]
    constants = [s for s in settings if not s.startswith("ramp")]
    top = max(constants, key=float) if constants else None
    for k, opt in enumerate(optimizers):
        for s, style in (("0", "-"), (top, "--")):
            c = curves(rows, first_seed).get((opt, s, rich))
            if c is None or s is None:
                continue
            tokens, mean, half = c
            ax.plot(tokens, mean, style, color=f"C{k}", label=f"{opt}, s = {s}")
            ax.fill_between(tokens, mean - np.nan_to_num(half), mean + np.nan_to_num(half), color=f"C{k}", alpha=0.1)
    ax.set(
        xlabel="training tokens",
        ylabel="held-out loss (nats/byte)",
        title=f"{rich}: held-out loss along training (mean; bands: 95% t interval over seeds)",
    )
    ax.title.set_fontsize(8)
    ax.legend(fontsize=6, ncol=2)
    fig.suptitle(textwrap.fill(title_text, 120), fontsize=9)
    return fig


def title(source: str, first_seed: int = 0) -> str:
    from spectral_la.analysis.study_stats import STUDY_PRECISION

    return (
        f"Does softening help? Paired-seed held-out loss of the stdlib byte LM ({source}; {STUDY_PRECISION}); "
        f"each setting at its own best learning rate (chosen on seed {first_seed})"
    )


def make(out_dir: str | Path = "figures/out", *, path: str | Path | None = None) -> list[Path]:
    """The figure of the study CSV ``path`` (default the committed one); no figure ([]) if it is missing."""
    from spectral_la.analysis.study_stats import COMMITTED_STUDY, parse_rows, read_study

    path = Path(path or COMMITTED_STUDY)
    if not path.exists():
        return []
    rows = parse_rows(read_study(path))
    return save(plot(rows, title(path.name)), out_dir, "softening_study")


if __name__ == "__main__":
    print(*make(sys.argv[1] if len(sys.argv) > 1 else "figures/out"), sep="\n")
