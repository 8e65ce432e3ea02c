"""Figure: Soft-Muon closed form (1 − s) + sρ vs the finite-step map, with measured singular values.

``plot_softening(specs, x)`` draws it (soften specs) for any matrix (the ``spectral-la softening``
command's figure); ``make`` is the report's version on a power-law spectrum.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import torch

import spectral_la as sl
from spectral_la.analysis.softening import soften_specs
from spectral_la.analysis.spectra import family_matrix
from spectral_la.dtypes import parse_dtype, precision_label
from spectral_la.figures._style import new_figure, save

SPECS = ("soften:0.3:polar_express", "soften:0.3:jordan_ns5")


def _inner_name(spec) -> str:
    """A soften spec's inner Newton–Schulz, without ``ns:`` (its curve's name)."""
    return str(spec.inner).removeprefix("ns:")


def _panels(specs) -> tuple[list[float], list[str]]:
    """The distinct s values (one panel each) and inner schedules (one curve each), in order given."""
    s_values = list(dict.fromkeys(sp.s for sp in specs))
    names = list(dict.fromkeys(map(_inner_name, specs)))
    return s_values, names


def data(
    n: int = 128, *, x: torch.Tensor | None = None, specs=SPECS, storage_dtype=torch.float64, compute_dtype=None
) -> dict:
    """Claimed map, finite-step map on a ρ grid, and the measured singular values of the blend, per spec.

    ``specs``: soften specs; keys ``closed_form:{s}``, ``map:{inner}:{s}``, ``measured:{inner}:{s}``
    (``inner`` the spec's Newton–Schulz without ``ns:``). ``storage_dtype`` is the dtype X is
    rounded to, ``compute_dtype`` the blend's (None: the backend's default).
    """
    parsed = soften_specs(specs)
    s_values, names = _panels(parsed)
    x = family_matrix("power_law", n, 4 * n) if x is None else x.double()
    u, sig, vh = torch.linalg.svd(x, full_matrices=False)
    rho = sig / torch.linalg.matrix_norm(x)
    lo = max(float(rho[rho > 0].min()) / 3, 1e-10) if bool((rho > 0).any()) else 1e-6
    grid = torch.logspace(torch.log10(torch.tensor(lo)), 0, 300, dtype=torch.float64)
    out: dict = {"rho_grid": grid, "rho": rho, "s_values": s_values, "names": names}
    for spec in parsed:
        name = _inner_name(spec)
        out[f"closed_form:{spec.s}"] = sl.soften_target_map(grid, spec.s)
        out[f"map:{name}:{spec.s}"] = spec.scalar_map(grid)
        y = spec(x.to(storage_dtype), compute_dtype=compute_dtype).double()
        out[f"measured:{name}:{spec.s}"] = torch.diagonal(u.T @ y @ vh.T)
    return out


def plot_softening(
    specs=SPECS,
    x: torch.Tensor | None = None,
    *,
    storage_dtype=torch.float32,
    compute_dtype=None,
    title: str | None = None,
    axes=None,
    label: str = "",
):
    """The figure of soften specs on any matrix x (float64; default the report's power-law 128×512).

    One panel per s, one curve per inner schedule; returns (figure, data). ``axes``: one axis per s
    to draw into (the figure's title is then left to the caller); ``label`` opens each panel's title.
    """
    d = data(x=x, specs=specs, storage_dtype=storage_dtype, compute_dtype=compute_dtype)
    own = axes is None
    if own:
        fig, axes = new_figure(len(d["s_values"]), width=5.5 * len(d["s_values"]))
    else:
        fig = axes[0].figure
    for ax, sv in zip(axes, d["s_values"], strict=True):
        ax.plot(d["rho_grid"], d[f"closed_form:{sv}"], color="black", ls="--", label="claimed (1 − s) + sρ")
        drawn = [name for name in d["names"] if f"map:{name}:{sv}" in d]
        for name in drawn:
            (line,) = ax.plot(d["rho_grid"], d[f"map:{name}:{sv}"], label=f"finite-step map, {name}")
            ax.plot(
                d["rho"],
                d[f"measured:{name}:{sv}"],
                "o",
                ms=2.5,
                color=line.get_color(),
                alpha=0.7,
                label=f"measured σ of the blend, {name}",
            )
        claimed = 1 - sv + sv * d["rho"]
        gaps = ", ".join(
            f"{name} {float(((d[f'measured:{name}:{sv}'] - claimed).abs() / claimed).mean()):.1%}" for name in drawn
        )
        ax.set(
            xscale="log",
            xlabel="ρ = σ/‖X‖_F",
            ylabel="singular value of the softened update",
            title=f"{label}s = {sv:g}: mean |measured − claimed|/claimed:\n{gaps}",
        )
        ax.title.set_fontsize(8)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, fontsize=7)  # below: off the data
    if own:
        fig.suptitle(textwrap.fill(title or "Soft-Muon: claimed closed form vs finite-step blend", 60), fontsize=10)
    return fig, d


def title(*, family, shape: tuple[int, int], specs, storage_dtype, compute_dtype=None) -> str:
    """The figure's title from its parameters (the report's caption uses the same call); ``family``: one
    spectrum family or several (one row of panels each)."""
    s_values, names = _panels(soften_specs(specs))
    families = (family,) if isinstance(family, str) else tuple(family)
    return (
        f"Soft-Muon: claimed closed form vs finite-step blend, s = {', '.join(f'{v:g}' for v in s_values)}, "
        f"{', '.join(names)} ({' and '.join(families)} {'spectrum' if len(families) == 1 else 'spectra'}, "
        f"{shape[0]}×{shape[1]}, "
        f"{precision_label(storage_dtype, compute_dtype)})"
    )


def make(
    out_dir: str | Path = "figures/out",
    *,
    specs=SPECS,
    family: str | tuple[str, ...] = ("power_law", "tiny_sigma"),
    shape: tuple[int, int] = (128, 512),
    storage_dtype="float32",
    compute_dtype=None,
) -> list[Path]:
    """The report's figure, with every parameter the report's table states (its ReportConfig).

    ``family``: one spectrum family or several, one row of panels each (the default draws a typical
    power-law spectrum and the tiny-σ one, where most singular values fall below the schedules'
    design interval and the closed form is furthest off).
    """
    import matplotlib.pyplot as plt

    from spectral_la.figures._style import STYLE

    storage_dtype = parse_dtype(storage_dtype, "storage_dtype")
    compute_dtype = parse_dtype(compute_dtype, "compute_dtype", allow_none=True)
    families = (family,) if isinstance(family, str) else tuple(family)
    n_s = len(_panels(soften_specs(specs))[0])
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(families), n_s, figsize=(6.0 * n_s, 5.2 * len(families)), squeeze=False)
    for row, fam in zip(axes, families, strict=True):
        plot_softening(
            specs,
            family_matrix(fam, *shape),
            storage_dtype=storage_dtype,
            compute_dtype=compute_dtype,
            axes=list(row),
            label=f"{fam}: ",
        )
    text = title(family=families, shape=shape, specs=specs, storage_dtype=storage_dtype, compute_dtype=compute_dtype)
    fig.suptitle(textwrap.fill(text, 90), fontsize=10)
    return save(fig, out_dir, "softening")


if __name__ == "__main__":
    print(*make(sys.argv[1] if len(sys.argv) > 1 else "figures/out"), sep="\n")
