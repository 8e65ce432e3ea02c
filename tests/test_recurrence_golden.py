"""Regression tests: the package reproduces the golden recurrence maps of tests/golden/recurrences.json.

The golden file is written by tests/golden/make_recurrence_tables.py from the
published formulas in mpmath at 60 digits, without importing spectral_la.
Tolerances:

* mpmath path (30 digits + guard bits): the same arithmetic, so agreement to
  ~1e-30 times the rounding amplification A of the recurrence (stored in the
  table) — asserted at 1e-24·A·(1 + |value|).
* float64, scalar maps: each step commits a relative rounding of a few u; the
  remaining steps magnify it by at most A: |Δ| ≤ 10·T·u·A·(1 + |value|).
* float64, coupled roots on B = Q diag(λ) Qᵀ: both iterations are stable
  (Guo & Higham 2006; Higham 2008, §6.7) and their eigen-response is as
  accurate as the matrix is conditioned: relative error ≤ 10·n·T·u·κ.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import mpmath
import pytest
import torch

from spectral_la import coupled_inverse_root, muon_p_scalar_map
from spectral_la.testing import assert_map_accuracy
from tests.mp_reference import unit_roundoff

GOLDEN = json.loads((Path(__file__).parent / "golden" / "recurrences.json").read_text())
U64 = unit_roundoff(torch.float64)


def _case_id(row, *keys):
    return "-".join(f"{k}{row[k]}" for k in keys)


@pytest.mark.parametrize("row", GOLDEN["muon_p"], ids=lambda r: _case_id(r, "p", "steps"))
def test_muon_p_scalar_map_mpmath(row):
    mpmath.mp.dps = 30
    p = float(Fraction(row["p"]))
    got = muon_p_scalar_map(p, [mpmath.mpf(s) for s in row["sigma"]], steps=row["steps"], check_range=False)
    for g, v, a in zip(got, row["value"], row["amplification"], strict=True):
        v, a = mpmath.mpf(v), mpmath.mpf(a)
        assert abs(g - v) <= mpmath.mpf("1e-24") * a * (1 + abs(v))


@pytest.mark.parametrize("row", GOLDEN["muon_p"], ids=lambda r: _case_id(r, "p", "steps"))
def test_muon_p_scalar_map_float64(row):
    # Through the users' helper (spectral_la.testing): the golden values are the reference.
    p = float(Fraction(row["p"]))
    tol = [
        10 * row["steps"] * U64 * float(a) * (1 + abs(float(v)))
        for v, a in zip(row["value"], row["amplification"], strict=True)
    ]
    assert_map_accuracy(
        lambda s: muon_p_scalar_map(p, s, steps=row["steps"], check_range=False),
        row["value"],
        row["sigma"],
        tol,
        name=f"muon_p {p}",
    )


def _spd(lams, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(lams), len(lams), dtype=torch.float64, generator=g))
    return (q * torch.tensor(lams, dtype=torch.float64)) @ q.T, q


@pytest.mark.parametrize(
    ("method", "row"),
    [("newton", r) for r in GOLDEN["newton"]] + [("newton_schulz", r) for r in GOLDEN["newton_schulz"]],
    ids=lambda v: v if isinstance(v, str) else _case_id(v, "r", "kappa", "steps"),
)
def test_coupled_roots_float64_reproduce_golden_maps(method, row):
    lams = [float(v) for v in row["lambda"]]
    b, q = _spd(lams)
    res = coupled_inverse_root(b, row["r"], method=method, steps=row["steps"])
    response = torch.diagonal(q.T @ res.root @ q)
    kappa = float(row["kappa"])
    for got, v in zip(response.tolist(), row["value"], strict=True):
        v = float(v)
        assert abs(got - v) <= 10 * len(lams) * row["steps"] * U64 * kappa * abs(v)


@pytest.mark.parametrize(
    "row", [r for r in GOLDEN["newton"] if r["steps"] in (10, 40)], ids=lambda r: _case_id(r, "r", "kappa", "steps")
)
def test_coupled_newton_mpmath_reproduces_golden_map(row):
    mpmath.mp.dps = 30
    lams = [mpmath.mpf(v) for v in row["lambda"]]
    res = coupled_inverse_root(mpmath.diag(lams), row["r"], steps=row["steps"])
    for i, v in enumerate(row["value"]):
        v = mpmath.mpf(v)
        assert abs(res.root[i, i] - v) <= mpmath.mpf("1e-24") * mpmath.mpf(row["kappa"]) * abs(v)


def test_golden_tables_show_the_documented_behaviour():
    # Readable facts pinned from the tables (independent of the package):
    # coupled Newton needs > 20 steps at κ = 1e8 and is converged at 40.
    worst = {(r["r"], r["kappa"], r["steps"]): max(abs(float(e)) for e in r["rel_error"]) for r in GOLDEN["newton"]}
    assert worst[(2, "1e8", 20)] > 0.1 and worst[(2, "1e8", 40)] < 1e-50
    # The published p = 1/2 recurrence is unstable near σ̂ = 1 (amplification ≫ 1).
    half = next(r for r in GOLDEN["muon_p"] if r["p"] == "1/2" and r["steps"] == 6)
    assert max(float(a) for a in half["amplification"]) > 1e3
