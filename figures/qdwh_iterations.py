"""Figure: QDWH and ZOLO-PD iterations and backward error vs condition number (float64)."""

from __future__ import annotations

import sys
from pathlib import Path

from spectral_la.analysis.reference_accuracy import qdwh_convergence
from spectral_la.figures._style import new_figure, save

KAPPAS = (1e1, 1e2, 1e4, 1e6, 1e8, 1e10, 1e12, 1e14, 1e16)


def data(n: int = 96, kappas=KAPPAS) -> list[dict]:
    return qdwh_convergence(n=n, kappas=kappas, progress=False)


def title(n: int) -> str:
    """The left panel's title (the report's caption uses the same call)."""
    return f"QDWH and ZOLO-PD iterations, {n}×{n} fp64"


def make(out_dir: str | Path = "figures/out", *, n: int = 96, kappas=KAPPAS) -> list[Path]:
    rows = data(n, kappas)
    fig, (ax1, ax2) = new_figure(2, width=9.0)
    style = {"qdwh": ("o", "C0", "QDWH"), "zolo": ("s", "C1", "ZOLO-PD (r ≤ 8)")}
    for method, (marker, color, name) in style.items():
        mine = [r for r in rows if r["method"] == method]
        k = [r["kappa"] for r in mine]
        ax1.plot(k, [r["iterations"] for r in mine], marker + "-", color=color, label=name)
        ax2.plot(k, [r["backward_over_u"] for r in mine], marker + "-", color=color,
                 label=f"{name}: ‖X − UH‖_F/‖X‖_F / u")  # fmt: skip
        ax2.plot(k, [r["orthogonality_over_u"] for r in mine], marker, color=color, alpha=0.45, ls=":",
                 label=f"{name}: ‖UᵀU − I‖_F / u")  # fmt: skip
    ax1.axhline(6, color="C0", ls="--", lw=0.8, label="Nakatsukasa–Bai–Gygi bound (6)")
    ax1.axhline(2, color="C1", ls="--", lw=0.8, label="Nakatsukasa–Freund: 2 when the scaled ℓ₀ ≥ 1e-16")
    ax1.set(xscale="log", xlabel="κ(X)", ylabel="iterations", ylim=(0, 7.5), title=title(n))
    ax1.legend(fontsize=7)
    ax2.set(xscale="log", yscale="log", xlabel="κ(X)", ylabel="in units of u = 2⁻⁵³", title="backward stability")
    ax2.legend(fontsize=7)
    q = [r for r in rows if r["method"] == "qdwh"]
    z = [r for r in rows if r["method"] == "zolo"]
    fig.suptitle(
        f"Takeaway: up to κ = {max(r['kappa'] for r in rows):.0e}, QDWH takes ≤ {max(r['iterations'] for r in q)} "
        f"and ZOLO-PD ≤ {max(r['iterations'] for r in z)} iterations; backward error ≤ "
        f"{max(r['backward_over_u'] for r in rows):.0f}·u for both",
        fontsize=9,
    )
    return save(fig, out_dir, "qdwh_iterations")


if __name__ == "__main__":
    print(*make(sys.argv[1] if len(sys.argv) > 1 else "figures/out"), sep="\n")
