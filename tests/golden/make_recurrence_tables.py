"""Write tests/golden/recurrences.json: scalar maps of the matmul-only recurrences, from mpmath.

This script does NOT import spectral_la: it re-derives every recurrence from
its published formula (module docstrings of spectral_la.muon_p and
spectral_la.coupled_inverse_root, and their papers) and evaluates it on the
eigen/singular values at 60 digits. The regression tests then check that the
package reproduces these maps; a change that loses accuracy fails them.

Contents
--------
muon_p      p ∈ published set, steps ∈ {2, 6, 10}: for σ̂ on a log grid
            [1e-8, 1], the value y_T(σ̂) of the bivariate recurrence, its error
            y_T − σ̂^p, and the rounding amplification
            max_k Π_{j>k} |∂y_{j+1}/∂y_j| along the trajectory.
newton      coupled Newton for B^{-1/r}, r ∈ {1, 2, 4, 5, 10, 20}, on the n = 8 diagonal
            spectrum λ geometric from 1 to 1/κ, κ ∈ {1e1, 1e4, 1e8}, steps
            ∈ {5, 10, 20, 40}: x_T(λᵢ) and the relative error x_T λ^{1/r} − 1.
newton_schulz  coupled NS for B^{-1/2} (Z iterate) on the same spectra.

Run: ``python tests/golden/make_recurrence_tables.py`` (about 10 s).
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import mpmath

mpmath.mp.dps = 60

MUON_P = {  # p: (form, c, d) -- princeton-pli/muon-p utils.py defaults
    "1/2": ("half", "3.0", "-0.795918"),
    "1/3": ("odd", "0.66", None),
    "1/5": ("odd", "0.2", None),
    "1/7": ("odd", str(mpmath.mpf(1) / 7), None),
    "3/5": ("odd", "0.2", None),
    "1/15": ("odd", str(mpmath.mpf(1) / 15), None),
    "13/15": ("odd", str(mpmath.mpf(1) / 15), None),
}
SIGMAS = [mpmath.mpf(10) ** (-mpmath.mpf(k) / 2) for k in range(17)]  # 1 … 1e-8


def _float_c(text: str) -> mpmath.mpf:
    # The package uses the binary double of each coefficient: so does the reference.
    return mpmath.mpf(float(text))


def muon_p_step(p: Fraction, form: str, c, d, x, y):
    """One step and its derivative ∂y'/∂y."""
    if form == "half":
        g = (y**4 - x**2) * (c * x + d * y)
        dg = 4 * y**3 * (c * x + d * y) + (y**4 - x**2) * d
        return y - g, 1 - dg
    a, b = p.numerator, p.denominator
    return y - c * (y**b - x**a), 1 - c * b * y ** (b - 1)


def muon_p_tables() -> list[dict]:
    rows = []
    for key, (form, c_text, d_text) in MUON_P.items():
        p = Fraction(key)
        c = _float_c(c_text)
        d = _float_c(d_text) if d_text else None
        for steps in (2, 6, 10):
            values, errors, amps = [], [], []
            for x in SIGMAS:
                y, derivs = x, []
                for _ in range(steps):
                    y, dy = muon_p_step(p, form, c, d, x, y)
                    derivs.append(dy)
                amp, tail = mpmath.mpf(1), mpmath.mpf(1)
                for dy in reversed(derivs[1:]):
                    tail *= abs(dy)
                    amp = max(amp, tail)
                values.append(y)
                errors.append(y - x ** (mpmath.mpf(p.numerator) / p.denominator))
                amps.append(amp)
            rows.append(
                {
                    "p": key,
                    "steps": steps,
                    "sigma": [mpmath.nstr(s, 40) for s in SIGMAS],
                    "value": [mpmath.nstr(v, 40) for v in values],
                    "error": [mpmath.nstr(e, 6) for e in errors],
                    "amplification": [mpmath.nstr(a, 6) for a in amps],
                }
            )
    return rows


def spectrum(kappa) -> list:
    n = 8
    return [mpmath.mpf(kappa) ** (-mpmath.mpf(i) / (n - 1)) for i in range(n)]


def newton_tables() -> list[dict]:
    rows = []
    for r in (1, 2, 4, 5, 10, 20):  # 5, 10, 20: the roots Muon^p's coupled route uses for p = 0.1 … 0.9
        for kappa in ("1e1", "1e4", "1e8"):
            lam = spectrum(mpmath.mpf(kappa))
            fro = mpmath.sqrt(mpmath.fsum(v * v for v in lam))
            z = (r + 1) / (2 * fro)
            for steps in (5, 10, 20, 40):
                out = []
                for v in lam:
                    x, m = z ** (mpmath.mpf(1) / r), z * v
                    for _ in range(steps):
                        t = (r + 1 - m) / r
                        x, m = x * t, t**r * m
                    out.append(x)
                rel = [x * v ** (mpmath.mpf(1) / r) - 1 for x, v in zip(out, lam, strict=True)]
                rows.append(
                    {
                        "r": r,
                        "kappa": kappa,
                        "steps": steps,
                        "lambda": [mpmath.nstr(v, 40) for v in lam],
                        "value": [mpmath.nstr(x, 40) for x in out],
                        "rel_error": [mpmath.nstr(e, 6) for e in rel],
                    }
                )
    return rows


def newton_schulz_tables() -> list[dict]:
    rows = []
    for kappa in ("1e1", "1e4", "1e8"):
        lam = spectrum(mpmath.mpf(kappa))
        c = mpmath.sqrt(mpmath.fsum(v * v for v in lam))
        for steps in (5, 10, 20, 40):
            out = []
            for v in lam:
                y, zz = v / c, mpmath.mpf(1)
                for _ in range(steps):
                    t = (3 - zz * y) / 2
                    y, zz = y * t, t * zz
                out.append(zz / mpmath.sqrt(c))
            rel = [x * mpmath.sqrt(v) - 1 for x, v in zip(out, lam, strict=True)]
            rows.append(
                {
                    "r": 2,
                    "kappa": kappa,
                    "steps": steps,
                    "lambda": [mpmath.nstr(v, 40) for v in lam],
                    "value": [mpmath.nstr(x, 40) for x in out],
                    "rel_error": [mpmath.nstr(e, 6) for e in rel],
                }
            )
    return rows


def main() -> None:
    tables = {
        "muon_p": muon_p_tables(),
        "newton": newton_tables(),
        "newton_schulz": newton_schulz_tables(),
        "generated_by": "tests/golden/make_recurrence_tables.py (mpmath, 60 digits)",
    }
    path = Path(__file__).with_name("recurrences.json")
    path.write_text(json.dumps(tables, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
