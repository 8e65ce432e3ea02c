"""Cost curves: time against n for every polar route, fitted exponents, and where each one wins.

``spectral-la bench --scaling`` (or ``python -m spectral_la.benchmarks --scaling``) times, on one
machine in one run:

* against n, square n × n fp32 input (seeded Gaussian): Newton–Schulz (``polar_express``, 5 steps)
  with torch's general products and with the symmetric route forced on, Gram Newton–Schulz, QDWH,
  ZOLO-PD and the SVD polar factor;
* against the aspect ratio n/m at fixed m, Newton–Schulz with general products;
* the high-precision path (mpmath backend, ``polar_express``): against n at 30 digits and against
  the digits at fixed n.

Each series is fitted by least squares on log t = α log x + c; the table gives α (the cost
exponent: 3 for dense products in n, 1 in the aspect ratio) and, per n, the fastest method. The
figure draws the points and the fitted lines on log axes. Absolute times mean something only on the
machine named in the JSON; the exponents and the crossings are what carry over.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

import spectral_la as sl
from spectral_la.benchmarks.harness import seconds
from spectral_la.symmetric_products import symmetric_products

__all__ = ["fit_exponent", "plot_scaling", "scaling_rows", "summary_rows"]


def _ns(x: torch.Tensor, how: str) -> Any:
    with symmetric_products(how):
        return sl.newton_schulz(x, "polar_express", check_finite=False)


def _methods() -> dict[str, Callable[[torch.Tensor], Any]]:
    return {
        "ns (general products)": partial(_ns, how="off"),
        "ns (symmetric route)": partial(_ns, how="on"),
        "gram_ns": partial(sl.gram_newton_schulz, schedule="polar_express", check_finite=False),
        "qdwh": partial(sl.polar, method="qdwh"),
        "zolo_pd": partial(sl.polar, method="zolo"),
        "svd": partial(sl.polar, method="svd"),
    }


def fit_exponent(xs, ts) -> tuple[float, float]:
    """(α, c) of the least-squares fit log t = α log x + c (natural logs); two or more positive finite
    points, at least two distinct x."""
    x, t = np.asarray(xs, dtype=float), np.asarray(ts, dtype=float)
    if x.shape != t.shape or x.ndim != 1 or len(np.unique(x)) < 2:
        raise ValueError(f"fit_exponent needs xs and ts of equal length with two distinct x, got {xs!r}, {ts!r}")
    if not (np.isfinite(x).all() and np.isfinite(t).all() and (x > 0).all() and (t > 0).all()):
        raise ValueError(f"fit_exponent needs positive finite xs and ts (logs are fitted), got {xs!r}, {ts!r}")
    lx, lt = np.log(x), np.log(t)
    alpha, c = np.polyfit(lx, lt, 1)
    return float(alpha), float(c)


def scaling_rows(
    sizes=(128, 256, 512, 1024),
    *,
    aspect_m: int = 128,
    aspects=(1, 2, 4, 8, 16),
    mp_sizes=(8, 16, 32),
    mp_digits=(30, 100, 300),
    mp_n: int = 16,
    device: str = "cpu",
    min_run_time: float = 0.2,
    progress: bool = True,
) -> list[dict]:
    """One row per (series, method, x): the median time of a call (``harness.seconds``)."""
    import mpmath

    g = torch.Generator(device).manual_seed(0)
    jobs: list[tuple[str, str, int, Callable[[], Any], str, str]] = []
    for n in sizes:
        x = torch.randn(n, n, device=device, generator=g)
        for name, fn in _methods().items():
            jobs.append(("n", name, n, partial(fn, x), f"{n}x{n}", "float32"))
    for a in aspects:
        x = torch.randn(aspect_m, aspect_m * a, device=device, generator=g)
        jobs.append(("aspect n/m", "ns (general products)", a, partial(_ns, x, "off"), f"{aspect_m}x{aspect_m * a}",
                     "float32"))  # fmt: skip
    rng = np.random.default_rng(0)

    def mp_job(n: int, dps: int) -> Callable[[], Any]:
        entries = rng.standard_normal((n, n)).tolist()

        def run() -> Any:
            with mpmath.workdps(dps):
                return sl.newton_schulz(mpmath.matrix(entries), "polar_express", check_finite=False)

        return run

    for n in mp_sizes:
        jobs.append(("n (mpmath, 30 digits)", "ns (mpmath)", n, mp_job(n, 30), f"{n}x{n}", "mpmath 30 digits"))
    for dps in mp_digits:
        label = f"mpmath {dps} digits"
        jobs.append(("digits (mpmath)", "ns (mpmath)", dps, mp_job(mp_n, dps), f"{mp_n}x{mp_n}", label))
    rows = []
    for series, name, x_value, fn, shape, dtype in tqdm(jobs, desc="scaling", disable=not progress):
        fn()  # first call outside the timing (imports, caches, the BLAS check)
        rows.append(
            {
                "series": series,
                "method": name,
                "x": x_value,
                "shape": shape,
                "dtype": dtype,
                "ms": seconds(fn, min_run_time) * 1e3,
            }
        )
    return rows


def summary_rows(rows: list[dict]) -> list[dict]:
    """Per (series, method): the fitted exponent and its x range; per n, the fastest method."""
    out = []
    for key in dict.fromkeys((r["series"], r["method"]) for r in rows):
        pts = [r for r in rows if (r["series"], r["method"]) == key]
        alpha, _ = fit_exponent([r["x"] for r in pts], [r["ms"] for r in pts])
        out.append(
            {
                "series": key[0],
                "method": key[1],
                "dtype": pts[0]["dtype"] if key[0] != "digits (mpmath)" else "mpmath",
                "x_range": f"{pts[0]['x']}–{pts[-1]['x']}",
                "fitted_exponent": alpha,
                "ms_at_largest_x": pts[-1]["ms"],
            }
        )
    for n in dict.fromkeys(r["x"] for r in rows if r["series"] == "n"):
        at = sorted((r for r in rows if r["series"] == "n" and r["x"] == n), key=lambda r: r["ms"])
        out.append(
            {
                "series": f"fastest at n = {n}",
                "method": at[0]["method"],
                "dtype": "float32",
                "x_range": f"{n}x{n}",
                "fitted_exponent": float("nan"),
                "ms_at_largest_x": at[0]["ms"],
            }
        )
    return out


def plot_scaling(rows: list[dict], path: str | Path, machine: str) -> Path:
    """Time against n (fp32 methods), against n/m (NS) and the mpmath path, with the fitted lines."""
    import matplotlib.pyplot as plt

    series = list(dict.fromkeys(r["series"] for r in rows))
    fig, axes = plt.subplots(1, len(series), figsize=(4.8 * len(series), 4.4), squeeze=False)
    for ax, name in zip(axes[0], series, strict=True):
        for method in dict.fromkeys(r["method"] for r in rows if r["series"] == name):
            pts = [r for r in rows if r["series"] == name and r["method"] == method]
            xs, ts = [r["x"] for r in pts], [r["ms"] for r in pts]
            (line,) = ax.loglog(xs, ts, "o", ms=4)
            alpha, c = fit_exponent(xs, ts)
            grid = np.geomspace(min(xs), max(xs), 50)
            ax.loglog(grid, np.exp(c) * grid**alpha, "-", color=line.get_color(), lw=1.0,
                      label=f"{method}: t ∝ x^{alpha:.2f}")  # fmt: skip
        mine = [r for r in rows if r["series"] == name]
        dtypes = list(dict.fromkeys(r["dtype"] for r in mine))
        what = dtypes[0] if len(dtypes) == 1 else f"{dtypes[0]} … {dtypes[-1]}"
        title = f"{name}\n({mine[0]['shape']} … {mine[-1]['shape']}, {what})"
        ax.set(xlabel=name, ylabel="time per call (ms)", title=title)
        xs = sorted({r["x"] for r in mine})
        ax.set_xticks(xs, [str(v) for v in xs])  # the measured x values, plain (log ticks collide here)
        ax.minorticks_off()
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    fig.suptitle(f"Cost curves on {machine} (median of a timed block per point; lines: least-squares fits)",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
