"""Benchmark suites: each returns tidy rows measured in one run on one device.

``ns``     Newton–Schulz schedules, Gram NS and softening vs the same matmuls (chain) and vs SVD polar
``roots``  coupled inverse roots and Muon^p vs eigh / SVD
``exact``  SVD, QDWH and ZOLO-PD polar factors (iterations, backward error, error vs float64 SVD), eigh inverse root
``peers``  scipy.linalg.polar (and jax.scipy.linalg.polar when jax is importable) vs ours, CPU float64
``sweep``  one stability grid serially and on a 2-worker local Dask cluster (ratio in one run)
``mp``     the high-precision path (python-flint kernels) vs plain mpmath on the same matrix: polar 48 × 48
           and inverse roots / fractional power at 50 digits, Polar Express 64 × 64 vs its 15 plain
           products, a 256 × 256 polar at 50 digits with certified residuals (fixed sizes: the issues' targets)

Shapes: n × n and n × 4n for each size, plus a batched per-head case.
Every row of ns, roots, exact and peers carries the limit column (:func:`limit_columns`): the call's
FLOPs counted by :mod:`benchmarks.flops`, its achieved rate, and that over the machine's matmul rate
in the same dtype measured in the same run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import torch

import spectral_la as sl
from spectral_la.analysis.spectra import torch_matrix_with_spectrum
from spectral_la.benchmarks.flops import count_flops
from spectral_la.benchmarks.harness import matmul_rate, paired_seconds, peak_memory_mib, seconds

__all__ = ["SUITES"]


def _svd_polar(x: torch.Tensor) -> torch.Tensor:
    u, _, vh = torch.linalg.svd(x.float(), full_matrices=False)
    return u @ vh


def _chain(x: torch.Tensor, steps: int) -> torch.Tensor:
    """The matmuls of `steps` degree-5 NS steps on a wide x, nothing else."""
    for _ in range(steps):
        a = x @ x.mT
        x = (a @ a) @ x
    return x


def _gram_chain(x: torch.Tensor, steps: int) -> torch.Tensor:
    """The matmuls of Gram NS (degree 5) with one restart after step 2."""
    r, q = x @ x.mT, None
    for k in range(steps):
        if k == 2:
            assert q is not None
            x, q = q @ x, None
            r = x @ x.mT
        h = r @ r
        q = h if q is None else h @ q
        if k + 1 < steps:
            r = (h @ r) @ h
    assert q is not None
    return q @ x


def _shapes(sizes, batched):
    out = [(n, n) for n in sizes] + [(n, 4 * n) for n in sizes]
    return out + ([batched] if batched else [])


class _Rates:
    """The machine's measured matmul rate per dtype, measured once per suite run.

    On an n × n × n product with n the largest benchmarked size but at least 1024: a smaller
    product does not reach the machine's rate (a 256³ fp32 product runs at half the 1024³ rate here),
    and the column is meant to say how far a routine is from what the machine can do.
    """

    def __init__(self, n: int, device: str, min_run_time: float) -> None:
        self.n, self.device, self.min_run_time = max(n, 1024), device, min_run_time
        self._rates: dict[torch.dtype, float] = {}

    def __call__(self, dtype: torch.dtype) -> float:
        if dtype not in self._rates:
            self._rates[dtype] = matmul_rate(self.n, dtype, self.device, self.min_run_time)
        return self._rates[dtype]


def limit_columns(fn: Callable, seconds_per_call: float, rate: float) -> dict:
    """The limit column: the call's FLOPs (:mod:`benchmarks.flops`), its achieved rate and that rate over the
    machine's measured matmul rate in the same dtype (``of_matmul_rate``; 1.0 = the machine's product limit)."""
    flops = count_flops(fn)
    return {
        "gflop": flops / 1e9,
        "tflops": flops / seconds_per_call / 1e12,
        "matmul_tflops": rate / 1e12,
        "of_matmul_rate": flops / seconds_per_call / rate,
    }


def _row(method, shape, dtype, fn, min_run_time, device, rate: float, **extra) -> dict:
    t = seconds(fn, min_run_time)
    row = {
        "method": method,
        "shape": "x".join(map(str, shape)),
        "dtype": str(dtype).removeprefix("torch."),
        "ms": t * 1e3,
        "peak_mib": peak_memory_mib(fn, device),
    }
    return row | limit_columns(fn, t, rate) | extra


def ns_suite(sizes, batched, dtypes, device, min_run_time, **options) -> list[dict]:
    rows = []
    methods: dict[str, Callable] = {
        "ns polar_express": lambda x, dt: sl.newton_schulz(x, "polar_express", compute_dtype=dt, check_finite=False),
        "ns jordan_ns5": lambda x, dt: sl.newton_schulz(x, "jordan_ns5", compute_dtype=dt, check_finite=False),
        "gram_ns polar_express": lambda x, dt: sl.gram_newton_schulz(x, compute_dtype=dt, check_finite=False),
        "soften s=0.3": lambda x, dt: sl.soften(x, 0.3, compute_dtype=dt, check_finite=False),
    }
    rates = _Rates(max(sizes), device, min_run_time)
    for dtype in dtypes:
        rate = rates(dtype)
        for shape in _shapes(sizes, batched):
            x = torch.randn(*shape, device=device).to(dtype)
            wide = _svd_polar(x if shape[-2] <= shape[-1] else x.mT).to(dtype)  # orthonormal rows: bounded chain
            t_chain = seconds(partial(_chain, wide, 5), min_run_time)
            t_gram_chain = seconds(partial(_gram_chain, wide, 5), min_run_time)
            t_svd = seconds(partial(_svd_polar, x), min_run_time)
            for name, fn in methods.items():
                row = _row(name, shape, dtype, partial(fn, x, dtype), min_run_time, device, rate)
                base = t_gram_chain if name.startswith("gram") else t_chain
                row["ours_over_chain"] = row["ms"] / 1e3 / base
                row["svd_over_ours"] = t_svd / (row["ms"] / 1e3)
                rows.append(row)
    return rows


def _spd(n: int, kappa: float, device: str) -> torch.Tensor:
    lam = torch.logspace(0, -math.log10(kappa), n, dtype=torch.float64)
    return torch_matrix_with_spectrum(n, n, lam, seed=0, dtype=torch.float32, device=device, symmetric=True)


def roots_suite(sizes, batched, dtypes, device, min_run_time, **options) -> list[dict]:
    rows = []
    rate = _Rates(max(sizes), device, min_run_time)(torch.float32)
    for n in sizes:
        a = _spd(n, 1e3, device)
        x = torch.randn(n, 4 * n, device=device)
        x0 = x / (torch.linalg.matrix_norm(x) + 1e-7)
        cases = [
            (
                "coupled_newton r=2, 25 steps",
                partial(sl.coupled_inverse_root, a, 2, steps=25, check_finite=False),
                partial(sl.inverse_root, a, 2),
                lambda r: r.root,
                (n, n),
            ),
            (
                "coupled_newton r=4, 25 steps",
                partial(sl.coupled_inverse_root, a, 4, steps=25, check_finite=False),
                partial(sl.inverse_root, a, 4),
                lambda r: r.root,
                (n, n),
            ),
            (
                "coupled_ns r=2, 25 steps",
                partial(sl.coupled_inverse_root, a, 2, method="newton_schulz", steps=25, check_finite=False),
                partial(sl.inverse_root, a, 2),
                lambda r: r.root,
                (n, n),
            ),
            (
                "muon_p p=1/3 bivariate",
                partial(sl.muon_p, x, 1 / 3, check_finite=False),
                partial(sl.fractional_power, x0, 1 / 3),
                lambda y: y,
                (n, 4 * n),
            ),
            (
                "muon_p p=0.5 coupled, 30 steps",
                partial(sl.muon_p, x, 0.5, method="coupled", steps=30, check_finite=False),
                partial(sl.fractional_power, x0, 0.5),
                lambda y: y,
                (n, 4 * n),
            ),
        ]
        for name, ours, exact, pick, shape in cases:
            row = _row(name, shape, torch.float32, ours, min_run_time, device, rate)
            t_exact = seconds(exact, min_run_time)
            row["exact_ms"] = t_exact * 1e3
            row["exact_over_ours"] = t_exact / (row["ms"] / 1e3)
            row["max_error_vs_exact"] = float((pick(ours()).double() - exact().double()).abs().max())
            rows.append(row)
    return rows


def exact_suite(sizes, batched, dtypes, device, min_run_time, **options) -> list[dict]:
    """SVD, QDWH and ZOLO-PD polar factors on a Gaussian matrix and on one with κ = 1e12 (fp32 rows: the
    Gaussian only), with iterations, backward error ‖X − UH‖_F/‖X‖_F and error against the float64 SVD."""
    rows = []
    rates = _Rates(max(sizes), device, min_run_time)
    for n in sizes:
        for dtype in (torch.float32, torch.float64):
            inputs = {"gaussian": torch.randn(n, n, device=device, dtype=dtype)}
            if dtype == torch.float64:
                lam = torch.logspace(0, -12, n, dtype=torch.float64)
                inputs["kappa=1e12"] = torch_matrix_with_spectrum(n, n, lam, seed=0, dtype=dtype, device=device)
            for label, x in inputs.items():
                u, _, vh = torch.linalg.svd(x.double(), full_matrices=False)
                ref = u @ vh
                cases = {
                    "polar svd": (partial(sl.polar, x), None),
                    "polar qdwh": (partial(sl.polar, x, "qdwh"), sl.qdwh),
                    "polar zolo": (partial(sl.polar, x, "zolo"), sl.zolo_pd),
                }
                for name, (fn, full) in cases.items():
                    extra = {"input": label, "max_error_vs_fp64_svd": float((fn().double() - ref).abs().max())}
                    if full is not None:
                        res = full(x)
                        extra["iterations"] = res.iterations
                        extra["backward_error"] = float(
                            torch.linalg.matrix_norm((x - res.u @ res.h).double())
                            / torch.linalg.matrix_norm(x.double())
                        )
                    rows.append(_row(name, (n, n), dtype, fn, min_run_time, device, rates(dtype), **extra))
            a = inputs["gaussian"] @ inputs["gaussian"].mT + torch.eye(n, device=device, dtype=dtype)
            rows.append(
                _row(
                    "inverse_root r=4 (eigh)",
                    (n, n),
                    dtype,
                    partial(sl.inverse_root, a, 4),
                    min_run_time,
                    device,
                    rates(dtype),
                )
            )
    return rows


def _peer_ns_rows(sizes, device, min_run_time, rates) -> list[dict]:
    """Our registered peer variants against the peers' own steps, same input and compute dtype.

    torch.optim.Muon is called as installed; Emerging-Optimizers and dion are not installable here,
    so their steps run as restated in :mod:`benchmarks.peer_formulas` (the same torch operations).
    The peers return their compute dtype (bf16); ours returns the input's (fp32): ``ratio_to_peer_cast``
    times the peer with that final cast, the like-for-like output. ``ratio_to_peer`` is the median of
    five alternated rounds and ``ratio_spread`` their range (the noise of this machine).
    """
    from torch.optim._muon import _zeropower_via_newtonschulz as torch_ns

    from spectral_la.benchmarks.peer_formulas import (
        DION_AOL_ROWS,
        EO_SETS,
        dion_aol_newton_schulz,
        eo_newton_schulz,
        unfused_newton_schulz,
    )

    bf16 = torch.bfloat16
    rows = []
    for n in sizes:
        x = torch.randn(n, 4 * n, device=device, generator=torch.Generator(device).manual_seed(0))
        xb = x.to(bf16)
        cases = [
            (
                "torch_muon vs torch.optim.Muon NS, bf16 in and out",
                "bfloat16",
                partial(sl.newton_schulz, xb, "torch_muon", compute_dtype=bf16, check_finite=False),
                partial(torch_ns, xb, (3.4445, -4.7750, 2.0315), 5, 1e-7),
            ),
            (
                "torch_muon vs torch.optim.Muon NS",
                "float32 in, bfloat16 compute",
                partial(sl.newton_schulz, x, "torch_muon", compute_dtype=bf16, check_finite=False),
                partial(torch_ns, x, (3.4445, -4.7750, 2.0315), 5, 1e-7),
            ),
            (
                "eo_quintic vs Emerging-Optimizers newton_schulz (restated)",
                "float32",
                partial(sl.newton_schulz, x, "eo_quintic", check_finite=False),
                partial(eo_newton_schulz, x, EO_SETS["eo_quintic"], 5, True),
            ),
            (
                "dion_ns5 vs dion zeropower_via_newtonschulz5 (restated, uncompiled)",
                "float32 in, bfloat16 compute",
                partial(sl.newton_schulz, x, "dion_ns5", compute_dtype=bf16, check_finite=False),
                partial(unfused_newton_schulz, x, sl.schedules["dion_ns5"].rows, eps=1e-7, scale=1.0, dtype=bf16),
            ),
            (
                "polar_express_modded vs modded-nanogpt polar_express (restated, uncompiled)",
                "float32 in, bfloat16 compute",
                partial(sl.newton_schulz, x, "polar_express_modded", compute_dtype=bf16, check_finite=False),
                partial(unfused_newton_schulz, x, sl.schedules["polar_express_modded"].rows, dtype=bf16),
            ),
            (
                "dion_aol vs dion newton_schulz_triton_fast (restated, no Triton)",
                "float32 in, bfloat16 compute",
                partial(sl.newton_schulz, x, "dion_aol", compute_dtype=bf16, check_finite=False),
                partial(dion_aol_newton_schulz, x, DION_AOL_ROWS),
            ),
        ]
        for method, dtype, ours, theirs in cases:
            t_ours, t_theirs, ratio, spread = paired_seconds(ours, theirs, min_run_time)
            compute = torch.bfloat16 if "bfloat16" in dtype else torch.float32
            got, ref = ours(), theirs()
            cast = partial(lambda fn, dt: fn().to(dt), theirs, got.dtype)
            ratio_cast = paired_seconds(ours, cast, min_run_time)[2] if ref.dtype != got.dtype else ratio
            ref = ref.to(got.dtype)
            rows.append(
                {
                    "method": method,
                    "shape": f"{n}x{4 * n}",
                    "dtype": dtype,
                    "ms": 1e3 * t_ours,
                    "peer_ms": 1e3 * t_theirs,
                    "ratio_to_peer": ratio,
                    "ratio_spread": f"{spread[0]:.2f}–{spread[1]:.2f}",
                    "ratio_to_peer_cast": ratio_cast,
                    "bit_identical": bool(torch.equal(got, ref)),
                    "max_abs_diff": float((got - ref).abs().max()),
                }
                | limit_columns(ours, t_ours, rates(compute))
            )
    return rows


def _ulps(got: torch.Tensor, ref64: torch.Tensor) -> float:
    """max |got − ref| in units of the spacing of got's dtype at 1 (the entries are at most about 1)."""
    return float((got.double() - ref64).abs().max()) / torch.finfo(got.dtype).eps


def _symmetric_rows(device: str, min_run_time: float, rates, shapes=None) -> list[dict]:
    """The symmetric-product effect: the same Newton–Schulz with symmetric vs general products, and vs the peers.

    ``shapes`` (``--symmetric-shapes``); by default 1024 × 4096 on the CPU (4096 × 4096 and
    4096 × 16384 on CUDA), in each dtype that has a symmetric route here (CPU: fp32, fp64 by
    BLAS ?syrk; CUDA: bf16, fp32 by the Triton kernel). Accuracy: max error against the same
    iteration in float64 with general products, in ulps of the dtype.
    """
    from torch.optim._muon import _zeropower_via_newtonschulz as torch_ns

    from spectral_la.benchmarks.peer_formulas import EO_SETS, eo_newton_schulz
    from spectral_la.symmetric_products import route as product_route
    from spectral_la.symmetric_products import symmetric_products

    cuda = device.startswith("cuda")
    shapes = shapes or ([(4096, 4096), (4096, 16384)] if cuda else [(1024, 4096)])
    dtypes = [torch.bfloat16, torch.float32] if cuda else [torch.float32, torch.float64]
    rows = []
    for m, n in shapes:
        x = torch.randn(m, n, device=device, generator=torch.Generator(device).manual_seed(0))
        for dtype in dtypes:
            xd = x.to(dtype)

            def ns(mode, xd=xd, dtype=dtype):
                with symmetric_products(mode):
                    return sl.newton_schulz(xd, "eo_quintic", compute_dtype=dtype, check_finite=False)

            with symmetric_products("off"):  # the float64 reference with general products throughout
                ref64 = sl.newton_schulz(x.double(), "eo_quintic", check_finite=False)
            peers = {"same iteration, general products (symmetric_products('off'))": partial(ns, "off")}
            if dtype == torch.float32:
                peers["Emerging-Optimizers newton_schulz (restated), fp32"] = partial(
                    eo_newton_schulz, xd, EO_SETS["eo_quintic"], 5, True
                )
            if dtype == torch.bfloat16:
                peers["torch.optim.Muon NS (bf16, its own quintic)"] = partial(
                    torch_ns, xd, (3.4445, -4.7750, 2.0315), 5, 1e-7
                )
            ours = partial(ns, "on")
            with symmetric_products("on"):
                route = product_route(dtype, xd.device)
            for peer, theirs in peers.items():
                t_ours, t_theirs, ratio, spread = paired_seconds(ours, theirs, min_run_time)
                rows.append(
                    {
                        "method": f"ns eo_quintic, symmetric products vs {peer}",
                        "shape": f"{m}x{n}",
                        "dtype": str(dtype).removeprefix("torch."),
                        "products": route,
                        "ms": 1e3 * t_ours,
                        "peer_ms": 1e3 * t_theirs,
                        "ratio_to_peer": ratio,
                        "ratio_spread": f"{spread[0]:.2f}–{spread[1]:.2f}",
                        "ulps_vs_fp64": _ulps(ours(), ref64),
                        "peer_ulps_vs_fp64": _ulps(theirs(), ref64),
                    }
                    | limit_columns(ours, t_ours, rates(dtype))
                )
    return rows


def peers_suite(sizes, batched, dtypes, device, min_run_time, **options) -> list[dict]:
    import numpy as np
    import scipy.linalg

    rates = _Rates(max(sizes), device, min_run_time)
    rows = _peer_ns_rows(sizes, device, min_run_time, rates)
    rows += _symmetric_rows(device, min_run_time, rates, options.get("symmetric_shapes"))
    try:
        import jax
        import jax.numpy as jnp
        from jax.scipy.linalg import polar as jax_polar

        jax.config.update("jax_enable_x64", True)
    except ImportError:
        jax_polar = None
    for n in sizes:
        x = torch.randn(n, n, dtype=torch.float64)
        xn = x.numpy()
        ref = scipy.linalg.polar(xn)[0]
        cases = [
            ("scipy.linalg.polar", lambda xn=xn: scipy.linalg.polar(xn)[0]),
            ("spectral_la.polar svd", lambda x=x: sl.polar(x).numpy()),
            ("spectral_la.polar qdwh", lambda x=x: sl.polar(x, "qdwh").numpy()),
        ]
        if jax_polar is not None:
            xj = jnp.asarray(xn)
            cases.append(("jax.scipy.linalg.polar qdwh", lambda xj=xj: np.asarray(jax_polar(xj, method="qdwh")[0])))
        for name, fn in cases:
            t = seconds(fn, min_run_time)
            row = {
                "method": name,
                "shape": f"{n}x{n}",
                "dtype": "float64",
                "ms": t * 1e3,
                "max_diff_vs_scipy": float(np.abs(fn() - ref).max()),
            }
            if name.startswith("spectral_la"):  # the peers' code runs outside torch: its FLOPs are not counted
                row |= limit_columns(fn, t, rates(torch.float64))
            rows.append(row)
    if jax_polar is None:
        rows.append(
            {
                "method": "jax.scipy.linalg.polar",
                "shape": "-",
                "dtype": "-",
                "ms": float("nan"),
                "max_diff_vs_scipy": float("nan"),
                "note": "jax not installed (pip install jax)",
            }
        )
    return rows


def _once(fn: Callable) -> tuple[float, Any]:
    """(seconds, result) of one call: the high-precision calls take 0.1–10 s, one run is the measurement."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _certified_polar_residuals(x, u) -> tuple[float, float]:
    """Upper bounds, in python-flint's ball arithmetic at the working precision, of ‖UᵀU − I‖_F and
    ‖X − U·sym(UᵀX)‖_F/‖X‖_F: the computed U is orthonormal and a polar factor of X to these residuals."""
    import flint
    import mpmath

    flint.ctx.prec = mpmath.mp.prec
    xa = flint.arb_mat([[flint.arb(str(v)) for v in row] for row in x.tolist()])
    ua = flint.arb_mat([[flint.arb(str(v)) for v in row] for row in u.tolist()])
    n = xa.ncols()
    eye = flint.arb_mat(n, n, [int(i == j) for i in range(n) for j in range(n)])
    h = ua.transpose() * xa
    h = (h + h.transpose()) * flint.arb(0.5)

    def fro(m):
        return float(sum((v * v for v in m.entries()), flint.arb(0)).abs_upper().sqrt().upper())

    size = fro(xa)
    return fro(ua.transpose() * ua - eye), fro(xa - ua * h) / (size if size > 0 else 1.0)


def _mp_max_diff(a, b) -> float:
    import mpmath

    a = a if isinstance(a, mpmath.matrix) else mpmath.matrix(a.tolist())
    b = b if isinstance(b, mpmath.matrix) else mpmath.matrix(b.tolist())
    return float(mpmath.mnorm(a - b, mpmath.inf))


def mp_suite(sizes, batched, dtypes, device, min_run_time, **options) -> list[dict]:
    """Rows: ours vs plain mpmath on the same matrix, with the ratio and the max difference."""
    import mpmath
    import numpy as np

    rng = np.random.default_rng(0)
    rows = []

    def rand(m: int, n: int) -> mpmath.matrix:
        return mpmath.matrix(rng.standard_normal((m, n)).tolist())

    with mpmath.workdps(50):
        a = rand(48, 48)
        t_ours, p = _once(lambda: sl.polar(a))
        t_ref, usv = _once(lambda: mpmath.svd_r(a))
        u, s, v = usv
        rows.append(
            {
                "method": "polar (mpmath path) vs mpmath.svd_r",
                "shape": "48x48",
                "digits": 50,
                "ms": 1e3 * t_ours,
                "reference_ms": 1e3 * t_ref,
                "speedup": t_ref / t_ours,
                "max_diff": _mp_max_diff(p, u * v),
            }
        )
        b = rand(64, 64)
        t_ours, _ = _once(lambda: sl.newton_schulz(b, "polar_express"))
        plain = np.array(b.tolist(), dtype=object)

        def matrix_products():  # mpmath.matrix's own product (fdot per entry): the faster plain route
            for _ in range(15):
                b * b

        def object_products():  # NumPy's @ on object arrays of mpf
            for _ in range(15):
                plain @ plain

        for label, fn in (("mpmath.matrix", matrix_products), ("NumPy object @", object_products)):
            t_ref, _ = _once(fn)
            rows.append(
                {
                    "method": f"newton_schulz polar_express vs 15 {label} products",
                    "shape": "64x64",
                    "digits": 50,
                    "ms": 1e3 * t_ours,
                    "reference_ms": 1e3 * t_ref,
                    "speedup": t_ref / t_ours,
                    "max_diff": float("nan"),
                }
            )
        g = rand(48, 48)
        spd = g * g.T + mpmath.eye(48)
        w, q = mpmath.eigsy(spd)
        for r in (2, 4):
            t_ours, root = _once(lambda r=r: sl.inverse_root(spd, r))
            exact = q * mpmath.diag([val ** (mpmath.mpf(-1) / r) for val in w]) * q.T
            rows.append(
                {
                    "method": f"inverse_root r={r} vs mpmath.eigsy",
                    "shape": "48x48",
                    "digits": 50,
                    "ms": 1e3 * t_ours,
                    "reference_ms": float("nan"),
                    "speedup": float("nan"),
                    "max_diff": _mp_max_diff(root, exact),
                }
            )
        third = mpmath.mpf(1) / 3
        t_ours, fp = _once(lambda: sl.fractional_power(a, third))
        exact = u * mpmath.diag([s[i] ** third for i in range(48)]) * v
        rows.append(
            {
                "method": "fractional_power p=1/3 vs mpmath.svd_r",
                "shape": "48x48",
                "digits": 50,
                "ms": 1e3 * t_ours,
                "reference_ms": float("nan"),
                "speedup": float("nan"),
                "max_diff": _mp_max_diff(fp, exact),
            }
        )
    with mpmath.workdps(50):
        big = rand(256, 256)
        t_ours, u_big = _once(lambda: sl.polar(big))
        orth, back = _certified_polar_residuals(big, u_big)
        rows.append(
            {
                "method": "polar (mpmath path); mpmath.svd_r unaffordable at this size",
                "shape": "256x256",
                "digits": 50,
                "ms": 1e3 * t_ours,
                "reference_ms": float("nan"),
                "speedup": float("nan"),
                "max_diff": float("nan"),
                "certified_orthogonality": orth,
                "certified_backward_error": back,
            }
        )
    return rows


def sweep_suite(sizes, batched, dtypes, device, min_run_time, **options) -> list[dict]:
    """The same stability grid serially and on a 2-worker local Dask cluster (startup included), one run."""
    import tempfile
    from pathlib import Path

    from spectral_la.analysis.sweeps import run_sweep

    grid = {
        "methods": ["ns:polar_express", "ns:jordan_ns5", "msign"],
        "dtypes": ["float32", "bfloat16"],
        "kappas": [1e2, 1e6, 1e10],
        "shapes": [f"{n}x{n}" for n in sizes],
    }
    with tempfile.TemporaryDirectory() as d:
        t_serial, _ = _once(lambda: run_sweep("stability", grid, Path(d) / "s.csv", workers=0, progress=False))
        t_dask, _ = _once(lambda: run_sweep("stability", grid, Path(d) / "d.csv", workers=2, progress=False))
    tasks = 3 * 2 * 3 * len(sizes)
    return [
        {"method": "stability sweep, serial", "tasks": tasks, "ms": 1e3 * t_serial, "ratio_to_serial": 1.0},
        {
            "method": "stability sweep, 2-worker LocalCluster",
            "tasks": tasks,
            "ms": 1e3 * t_dask,
            "ratio_to_serial": t_dask / t_serial,
        },
    ]


SUITES = {
    "ns": ns_suite,
    "roots": roots_suite,
    "exact": exact_suite,
    "peers": peers_suite,
    "mp": mp_suite,
    "sweep": sweep_suite,
}
