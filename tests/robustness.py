"""One checker for the whole-range robustness fuzz: every public function, any scale, dtype, shape and rank.

A case is a base matrix B (float64, max|B| ∈ [1/2, 1), a given rank) and a
power of two 2^k; the input is X = round_dtype(B·2^k), which every float dtype
represents for k inside its exponent range. Each function must either raise a
clear error (``ValueError``/``TypeError`` naming an argument, or a
``LinAlgError`` subclass), flag non-convergence, or return a result that
matches a reference computed here **without spectral_la**: NumPy's float64
SVD/eigh, or a plain float64 NumPy run of the iteration, on the exactly
rescaled rounded input X·2^-k (a power of two: no rounding).

Tolerances (argued once here):

* u_c is the unit roundoff of the compute dtype (float64 for float64 input,
  float32 for the rest: half types compute in float32), u_o that of the
  output dtype (the result is rounded once to it).
* Exact maps (polar, msign, fractional power, inverse root) are backward
  stable: error ≤ C·n·u_c·κ + 2·u_o·(result scale), κ the condition number of
  the *rounded* input (Higham 2008, Thm 8.9; Daleckii–Krein bound for powers
  and roots), C = 20 for the LAPACK constants.
* Matmul-only iterations: each of T steps amplifies the previous rounding by
  at most the polynomial's slope on [0, 1.2] (≤ 1e3 for the steepest Polar
  Express row) and adds n·u_c: ≤ 10·n·u_c·T·1e3 + 2·u_o, as in
  ``test_newton_schulz``.

Outcomes: "correct", "error" (a clear raise), "flagged" (converged=False),
"skip" (the case is outside the function's domain by construction); a silent
wrong answer fails with an ``AssertionError`` that prints the case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

import spectral_la as sl
from spectral_la.schedules import schedules

DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

#: Functions the fuzz covers (every public function of spectral_la that takes a matrix).
FUNCTIONS = (
    "polar_svd",
    "polar_qdwh",
    "polar_zolo",
    "qdwh",
    "msign",
    "fractional_power",
    "inverse_root",
    "coupled_inverse_root",
    "coupled_sqrt",
    "newton_schulz",
    "newton_schulz_aol",
    "gram_newton_schulz",
    "soften",
    "muon_p",
    "muon_p_coupled",
    "isotropic_inverse_root",
    "partner_gram_roots",
    "eigenbasis",
    "whitened_direction",
)

CLEAR_ERRORS = (ValueError, TypeError, sl.LinAlgError)


@dataclass(frozen=True)
class Case:
    function: str
    dtype: str
    exponent: int  # k: X = round(B·2^k)
    m: int
    n: int
    batch: int  # 0: unbatched
    rank: int  # rank of B (≤ min(m, n)); square SPD for the root functions
    seed: int


def exponent_range(dtype: str) -> tuple[int, int]:
    """k such that B·2^k, max|B| < 1, stays within [smallest normal, largest finite] (with margin for n)."""
    info = torch.finfo(DTYPES[dtype])
    lo = int(math.log2(info.tiny)) + 1
    hi = int(math.log2(info.max)) - 1
    return lo, hi


def _unit(dtype: torch.dtype) -> float:
    return float(torch.finfo(dtype).eps) / 2


def base_matrix(case: Case) -> np.ndarray:
    """B with max|B| ∈ [1/2, 1) and the case's rank; symmetric positive definite for root functions."""
    rng = np.random.default_rng(case.seed)
    shape = (case.batch,) if case.batch else ()
    if case.function in ROOT_FUNCTIONS:
        g = rng.standard_normal((*shape, case.n, case.n))
        b = g @ np.swapaxes(g, -1, -2) / case.n + np.eye(case.n)  # κ ≤ ~10 for n ≤ 12
    else:
        left = rng.standard_normal((*shape, case.m, case.rank))
        right = rng.standard_normal((*shape, case.rank, case.n))
        b = left @ right
    scale = np.max(np.abs(b), axis=(-2, -1), keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    return b / scale * 0.75


ROOT_FUNCTIONS = ("inverse_root", "coupled_inverse_root", "coupled_sqrt")


def make_input(case: Case) -> tuple[torch.Tensor, np.ndarray]:
    """(X in the case's dtype, X·2^-k exactly in float64)."""
    x = torch.from_numpy(np.ldexp(base_matrix(case), case.exponent)).to(DTYPES[case.dtype])
    return x, _ldexp_t(x.double(), -case.exponent).numpy()


def _ldexp_t(t: torch.Tensor, k: int) -> torch.Tensor:
    return torch.from_numpy(np.ldexp(t.numpy(), k))


def _svd(a: np.ndarray):
    return np.linalg.svd(a, full_matrices=False)


def _kappa(a: np.ndarray) -> float:
    s = np.linalg.svd(a, compute_uv=False)
    smin = s[..., -1].min()
    return float(np.inf if smin == 0 else (s[..., 0] / s[..., -1]).max())


def _polar_props(xr: np.ndarray, u: np.ndarray, tol: float) -> str:
    """u is a polar factor of xr: orthonormal (tall orientation), xr = u·sym(uᵀxr), H PSD."""
    tall = xr.shape[-2] >= xr.shape[-1]
    xt = xr if tall else np.swapaxes(xr, -1, -2)
    ut = u if tall else np.swapaxes(u, -1, -2)
    n = xt.shape[-1]
    orth = np.linalg.norm(np.swapaxes(ut, -1, -2) @ ut - np.eye(n), axis=(-2, -1)).max()
    h = np.swapaxes(ut, -1, -2) @ xt
    h = (h + np.swapaxes(h, -1, -2)) / 2
    scale = max(np.linalg.norm(xt, axis=(-2, -1)).max(), np.finfo(float).tiny)
    back = np.linalg.norm(xt - ut @ h, axis=(-2, -1)).max() / scale
    psd = np.linalg.eigvalsh(h)[..., 0].min() / scale
    assert orth <= tol and back <= tol and psd >= -tol, f"not a polar factor: orth {orth}, back {back}, psd {psd}"
    return "correct"


def _ns_reference(xr: np.ndarray, k: int, schedule: str, steps: int | None = None) -> np.ndarray:
    """A plain float64 NumPy Newton–Schulz run with the schedule's own normalisation, on X = xr·2^k."""
    sched = schedules[schedule]
    norm = sched.normalization
    wide = xr.shape[-2] <= xr.shape[-1]
    if norm.kind == "aol":  # D X, D = diag(Σⱼ|(XXᵀ)ᵢⱼ|)^(-1/2) floored at eps: in xr's terms eps·4^-k
        w = xr if wide else np.swapaxes(xr, -1, -2)
        r = np.abs(w @ np.swapaxes(w, -1, -2)).sum(axis=-1, keepdims=True)
        with np.errstate(over="ignore"):
            floor = np.ldexp(norm.eps, -2 * k)
        r = np.maximum(r, floor) if norm.eps else np.where(r > 0, r, 1.0)
        x = w / np.sqrt(r)
    else:
        fro = np.linalg.norm(xr, axis=(-2, -1), keepdims=True)
        eps_r = np.ldexp(norm.eps, -k) if norm.eps else 0.0  # eps·2^-k (inf when far below eps: then X₀ = 0)
        with np.errstate(over="ignore"):
            denom = norm.scale * fro + eps_r
        x = np.where(denom > 0, xr / np.where(denom > 0, denom, 1.0), 0.0)
        x = x if wide else np.swapaxes(x, -1, -2)
    for row in sched.coefficients(steps):
        a = x @ np.swapaxes(x, -1, -2)
        s = np.zeros_like(a)
        power = np.broadcast_to(np.eye(a.shape[-1]), a.shape).copy()
        for c in row[1:]:
            power = power @ a
            s = s + c * power
        x = row[0] * x + s @ x
    return x if wide else np.swapaxes(x, -1, -2)


def check(case: Case) -> str:
    """Run one case; return its outcome or raise AssertionError on a silent wrong answer."""
    x, xr = make_input(case)
    dtype = DTYPES[case.dtype]
    u_c = _unit(torch.float64 if dtype == torch.float64 else torch.float32)
    u_o = _unit(dtype)
    size = max(case.m, case.n)
    k = case.exponent
    f = case.function
    full_rank = case.rank == min(case.m, case.n)
    try:
        out = _call(f, x)
    except CLEAR_ERRORS as exc:
        assert str(exc), f"{case}: an error without a message"
        return "error"
    if isinstance(out, sl.QDWHResult):
        if not out.converged:
            return "flagged"
        u = out.u.double().numpy()
        _polar_props(xr, u, 20 * size * (u_c + u_o))
        h = _ldexp_t(out.h.double(), -k).numpy()
        h_ref = np.swapaxes(u, -1, -2) @ xr
        h_ref = (h_ref + np.swapaxes(h_ref, -1, -2)) / 2
        err = np.abs(h - h_ref).max() / max(np.abs(xr).max(), 1e-300)
        assert err <= 20 * size * (u_c + u_o), f"{case}: H off by {err}"
        return "correct"
    if isinstance(out, sl.RootResult):
        if not out.converged:
            return "flagged"
        out = out.root
    if f == "eigenbasis":  # Q of C = X Xᵀ (smaller side) after one update: orthonormal, QᵀCQ diagonal
        q = out.double().numpy()
        wide = case.m <= case.n
        c = xr @ np.swapaxes(xr, -1, -2) if wide else np.swapaxes(xr, -1, -2) @ xr
        d = np.swapaxes(q, -1, -2) @ c @ q
        off = np.abs(d - np.einsum("...ii->...i", d)[..., None] * np.eye(d.shape[-1])).max()
        tol = 20 * size * (u_c + u_o)
        assert np.abs(np.swapaxes(q, -1, -2) @ q - np.eye(q.shape[-1])).max() <= tol, f"{case}: basis not orthonormal"
        assert off <= tol * max(np.abs(c).max(), 1e-300), f"{case}: basis not an eigenbasis (off-diagonal {off})"
        return "correct"
    if isinstance(out, tuple):  # partner_gram_roots: (C, C⁻¹); coupled_sqrt: (sqrt, inv, info)
        out = out[1]
    y = out.double()
    assert y.dtype == torch.float64 and out.dtype == dtype and out.shape[-2:] in ((case.m, case.n), (case.n, case.n))
    assert bool(torch.isfinite(y).all()), f"{case}: non-finite output"
    kappa = _kappa(xr) if f not in ("isotropic_inverse_root",) else 1.0
    if f in ("polar_svd", "polar_qdwh", "polar_zolo"):
        y = y.numpy()
        if full_rank and kappa < 1 / (100 * u_c):
            w, _, vh = _svd(xr)
            err = np.abs(y - w @ vh).max()
            assert err <= 20 * size * u_c * kappa + 2 * u_o, f"{case}: polar off by {err} (κ {kappa:.3g})"
        return _polar_props(xr, y, 20 * size * (u_c * max(1.0, min(kappa, 1e3)) + u_o))
    if f == "whitened_direction":  # partner W = I (n × n), λ = 1e-3: C⁻¹ = I/√(1 + λ), so msign(G)/√(1 + λ)
        if not (full_rank and kappa < 1 / (100 * u_c)):
            return "skip"  # msign of rounding-level σ: the rank decision (as for msign)
        w, _, vh = _svd(xr)
        ref = (w @ vh) / math.sqrt(1 + 1e-3)
        err = np.abs(y.numpy() - ref).max()
        assert err <= 20 * size * u_c * kappa + 4 * u_o, f"{case}: whitened direction off by {err}"
        return "correct"
    if f == "msign" and not full_rank:
        # Whether rounding-level σ count as rank is the rtol's decision; what must hold whatever
        # it decides: msign is a partial isometry (σ ∈ {0, 1}) equal to U_r V_rᵀ on the leading
        # r-dimensional range, which the rounding noise (≤ n·u_o·‖B‖) moves by noise/σ_r.
        w, s_vals, vh = _svd(xr)
        r = case.rank
        kappa_r = float((s_vals[..., 0] / s_vals[..., r - 1]).max())
        tol = 20 * size * (u_c + u_o) * kappa_r
        if tol > 0.05:
            return "skip"
        err = np.abs(y.numpy() @ np.swapaxes(vh[..., :r, :], -1, -2) - w[..., :, :r]).max()
        sv = np.linalg.svd(y.numpy(), compute_uv=False)
        assert err <= tol, f"{case}: msign off the leading range by {err}"
        assert np.minimum(np.abs(sv), np.abs(sv - 1)).max() <= tol, f"{case}: not a partial isometry: {sv}"
        return "correct"
    if f in ("msign", "fractional_power"):
        p = 0.0 if f == "msign" else 0.5
        if not (full_rank and kappa < 1 / (100 * u_c)):
            return "skip"  # σ^p of rounding-level σ is not small: no bound without knowing the noise
        w, s, vh = _svd(xr)
        ref = (w * s[..., None, :] ** p) @ vh
        got = y.numpy() * 2.0 ** (-k * p)
        err = np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-300)
        assert err <= 20 * size * u_c * kappa + 2 * u_o, f"{case}: off by {err} (κ {kappa:.3g})"
        return "correct"
    if f == "partner_gram_roots":  # (WᵀW)^{-1/2}, λ = 0; C⁻¹(2^k W) = 2^-k C⁻¹(W)
        if not (case.m >= case.n and full_rank and kappa < 1 / (100 * u_c) ** 0.5):
            return "skip"
        lam, q = np.linalg.eigh(np.swapaxes(xr, -1, -2) @ xr)
        ref = (q * lam[..., None, :] ** -0.5) @ np.swapaxes(q, -1, -2)
        err = np.abs(np.ldexp(y.numpy(), k) - ref).max() / np.abs(ref).max()
        assert err <= 20 * size * u_c * kappa**2 + 4 * u_o, f"{case}: partner root off by {err}"
        return "correct"
    if f in ROOT_FUNCTIONS:
        lam, q = np.linalg.eigh((xr + np.swapaxes(xr, -1, -2)) / 2)
        ref = (q * lam[..., None, :] ** -0.5) @ np.swapaxes(q, -1, -2)
        got = y.numpy() * 2.0 ** (k / 2)
        err = np.abs(got - ref).max() / np.abs(ref).max()
        assert err <= 20 * size * u_c * kappa + 4 * u_o, f"{case}: root off by {err} (κ {kappa:.3g})"
        return "correct"
    if f == "isotropic_inverse_root":  # λ = 0: c⁻¹I with c = ‖W‖_F/√n, and c⁻¹(2^k B) = 2^-k c⁻¹(B)
        fro = np.linalg.norm(xr, axis=(-2, -1), keepdims=True)
        ref_scaled = np.broadcast_to(np.eye(case.n), fro.shape[:-2] + (case.n, case.n)) / (fro / math.sqrt(case.n))
        got = np.ldexp(y.numpy(), k)
        err = np.abs(got - ref_scaled).max() / np.abs(ref_scaled).max()
        assert err <= 20 * size * u_c + 4 * u_o, f"{case}: isotropic root off by {err}"
        return "correct"
    if f in ("newton_schulz", "newton_schulz_aol", "gram_newton_schulz", "soften"):
        ref = _ns_reference(xr, k, "dion_aol" if f == "newton_schulz_aol" else "polar_express")
        if f == "soften":
            fro = np.linalg.norm(xr, axis=(-2, -1), keepdims=True)
            eps_r = np.ldexp(1e-7, -k)
            with np.errstate(over="ignore"):
                direct = xr / (fro + eps_r)
            ref = 0.7 * ref + 0.3 * direct
        err = np.abs(y.numpy() - ref).max()
        tol = 10 * size * u_c * 5 * 1e3 + 2 * u_o
        if f == "gram_newton_schulz":
            tol *= 10  # the Gram recurrence rounds R for two steps before its restart (its module docstring)
        assert err <= tol, f"{case}: NS-family output off by {err}"
        assert not (np.abs(ref).max() > 0.1 and np.abs(y.numpy()).max() == 0), f"{case}: zero output"
        return "correct"
    if f in ("muon_p", "muon_p_coupled"):
        fro = np.linalg.norm(xr, axis=(-2, -1), keepdims=True)
        eps_r = np.ldexp(1e-7, -k)
        with np.errstate(over="ignore"):
            x0 = xr / (fro + eps_r)
        if f == "muon_p":
            wide = x0.shape[-2] <= x0.shape[-1]
            w0 = x0 if wide else np.swapaxes(x0, -1, -2)
            yb = w0.copy()
            for _ in range(6):  # princeton-pli/muon-p's p = 1/3 recurrence, Y ← Y − 0.66(Y³ − X)
                yb = yb - 0.66 * ((yb @ np.swapaxes(yb, -1, -2)) @ yb - w0)
            ref = yb if wide else np.swapaxes(yb, -1, -2)
            tol = 10 * size * u_c * 6 * 1e3 + 2 * u_o
        else:
            if not (full_rank and kappa < 1e3):
                return "skip"
            w, s, vh = _svd(x0)
            ref = (w * s[..., None, :] ** 0.5) @ vh
            tol = 20 * size * u_c * kappa**2 + 4 * u_o  # through the Gram matrix: κ² (its docstring)
            if tol > 0.05:
                return "skip"  # κ² too large for this dtype to say anything
        err = np.abs(y.numpy() - ref).max()
        assert err <= tol, f"{case}: Muon^p off by {err}"
        return "correct"
    raise AssertionError(f"no reference for {f}")


def _call(f: str, x: torch.Tensor):
    match f:
        case "polar_svd":
            return sl.polar(x)
        case "polar_qdwh":
            return sl.polar(x, "qdwh")
        case "polar_zolo":
            return sl.polar(x, "zolo")
        case "qdwh":
            return sl.qdwh(x)
        case "msign":
            return sl.msign(x)
        case "fractional_power":
            return sl.fractional_power(x, 0.5)
        case "inverse_root":
            return sl.inverse_root(x, 2)
        case "coupled_inverse_root":
            return sl.coupled_inverse_root(x, 2)
        case "coupled_sqrt":
            return sl.coupled_sqrt(x)
        case "newton_schulz":
            return sl.newton_schulz(x, "polar_express")
        case "newton_schulz_aol":
            return sl.newton_schulz(x, "dion_aol")
        case "gram_newton_schulz":
            return sl.gram_newton_schulz(x, "polar_express")
        case "soften":
            return sl.soften(x, 0.3, "polar_express")
        case "muon_p":
            return sl.muon_p(x, 1 / 3)
        case "muon_p_coupled":
            return sl.muon_p(x, 0.5, method="coupled")
        case "isotropic_inverse_root":
            return sl.isotropic_inverse_root(x, 0.0)
        case "partner_gram_roots":
            return sl.partner_gram_roots(x, 0.0)
        case "eigenbasis":
            return sl.EigenbasisTracker(0.9).update(x)
        case "whitened_direction":
            return sl.whitened_direction(x, torch.eye(x.shape[-1], dtype=x.dtype), 1e-3)
    raise ValueError(f)
