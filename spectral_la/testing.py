"""Accuracy assertions for users' own regression tests: pin a recurrence against a high-precision reference.

Three uses, each with a failure message that says where and by how much accuracy was lost:

* :func:`assert_map_accuracy` -- a scalar map (σ ↦ f(σ), evaluated by your code in float64)
  against an mpmath reference evaluated at ``dps`` digits (a callable or stored values).
* :func:`assert_matrix_accuracy` -- a matrix routine against a reference map run on the
  mpmath path of spectral_la (or any callable that accepts mpmath numbers) at ``dps`` digits.
* :func:`write_golden` / :func:`check_golden` -- a JSON table of σ and reference values made
  once by an independent high-precision run (your recurrence written in mpmath), and the
  check of your fast implementation against it, as this project pins its own recurrences
  (``tests/golden``).

Example (pytest)::

    import mpmath, spectral_la as sl
    from spectral_la.testing import assert_map_accuracy

    def test_my_schedule_stays_in_its_band():
        assert_map_accuracy(lambda s: sl.scalar_map("polar_express", s), lambda s: mpmath.mpf(1),
                            [10 ** (-3 + 3 * i / 100) for i in range(101)], tol=0.125)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import torch

from spectral_la.atomic_files import atomic_write_text
from spectral_la.validation import check_int

__all__ = ["assert_map_accuracy", "assert_matrix_accuracy", "check_golden", "write_golden"]

GOLDEN_FORMAT = "spectral_la-golden-1"


def _floats(values: Any) -> list[float]:
    if isinstance(values, torch.Tensor):
        return [float(v) for v in values.detach().double().cpu().reshape(-1)]
    if isinstance(values, np.ndarray):
        return [float(v) for v in values.reshape(-1)]
    return [float(v) for v in values]


def _report(what: str, where: list, got: list, expected: list, errors: list, tols: list, label: str) -> None:
    bad = [i for i, (e, t) in enumerate(zip(errors, tols, strict=True)) if not e <= t]
    if not bad:
        return
    worst = max(bad, key=lambda i: errors[i] / tols[i] if tols[i] > 0 else float("inf"))
    lines = [
        f"{what}: {len(bad)} of {len(errors)} points exceed the tolerance; worst at {label} = {where[worst]}: "
        f"got {got[worst]!r}, expected {mpmath.nstr(expected[worst], 17)}, error {float(errors[worst]):.3g} "
        f"= {float(errors[worst]) / tols[worst]:.3g} × tol ({tols[worst]:.3g})"
    ]
    for i in sorted(bad, key=lambda i: -float(errors[i]))[1:4]:
        lines.append(f"  also {label} = {where[i]}: error {float(errors[i]):.3g} (tol {tols[i]:.3g})")
    raise AssertionError("\n".join(lines))


def assert_map_accuracy(
    fn: Callable[[torch.Tensor], Any],
    target: Callable[[mpmath.mpf], Any] | Sequence,
    sigmas: Sequence,
    tol: float | Sequence[float],
    *,
    dps: int = 50,
    relative: bool = False,
    name: str | None = None,
) -> None:
    """Assert |fn(σ) − target(σ)| ≤ tol at every σ (relative to |target| if ``relative``).

    ``fn`` receives the σ as one float64 torch tensor (any scalar map of
    spectral_la, or yours) and returns values of any array kind. ``target`` is
    an mpmath callable evaluated at ``dps`` digits, or the reference values
    themselves (numbers or decimal strings). ``tol`` is one number or one per σ.
    """
    dps = check_int(dps, "dps", 15, 2000)
    where = [str(s) for s in sigmas]
    got = _floats(fn(torch.tensor([float(s) for s in sigmas], dtype=torch.float64)))
    if len(got) != len(where):
        raise ValueError(f"fn returned {len(got)} values for {len(where)} sigmas")
    tols = [float(tol)] * len(where) if np.ndim(tol) == 0 else [float(t) for t in tol]
    with mpmath.workdps(dps):
        if callable(target):
            expected = [mpmath.mpf(target(mpmath.mpf(s))) for s in where]
        else:
            expected = [mpmath.mpf(v) for v in target]
        errors = [abs(mpmath.mpf(g) - e) for g, e in zip(got, expected, strict=True)]
        if relative:
            errors = [err / max(abs(e), mpmath.mpf(2) ** -1000) for err, e in zip(errors, expected, strict=True)]
    _report(name or getattr(fn, "__name__", "map"), where, got, expected, errors, tols, "σ")


def assert_matrix_accuracy(
    fn: Callable[[Any], Any],
    reference: Callable[[Any], Any],
    X: Any,
    tol: float,
    *,
    dps: int = 50,
    relative: bool = True,
    name: str | None = None,
) -> None:
    """Assert max |fn(X) − reference(X)| ≤ tol (relative to max |reference(X)| if ``relative``).

    ``reference`` runs on X converted to an object array of mpmath numbers at
    ``dps`` digits: every spectral_la routine does (e.g. ``spectral_la.polar``),
    so ``assert_matrix_accuracy(my_orthogonaliser, sl.msign, G, 1e-2)`` checks a
    fast routine against the exact map of the same rounded input.
    """
    dps = check_int(dps, "dps", 15, 2000)
    x64 = np.asarray(X.detach().double().cpu() if isinstance(X, torch.Tensor) else X, dtype=float)
    got_raw = fn(X)
    got = np.asarray(got_raw.detach().double().cpu() if isinstance(got_raw, torch.Tensor) else got_raw, dtype=float)
    with mpmath.workdps(dps):
        ref = reference(np.vectorize(mpmath.mpf, otypes=[object])(x64))
        ref = np.asarray(ref.tolist() if isinstance(ref, mpmath.matrix) else ref, dtype=object)
        if ref.shape != got.shape:
            raise ValueError(f"fn(X) has shape {got.shape}, reference(X) {ref.shape}")
        diff = np.vectorize(lambda g, r: abs(mpmath.mpf(g) - r), otypes=[object])(got, ref)
        scale = max(max(abs(v) for v in ref.reshape(-1)), mpmath.mpf(2) ** -1000) if relative else mpmath.mpf(1)
        errors = [d / scale for d in diff.reshape(-1)]
    where = [str(idx) for idx in np.ndindex(*got.shape)]
    _report(
        name or getattr(fn, "__name__", "routine"),
        where,
        list(got.reshape(-1)),
        list(ref.reshape(-1)),
        errors,
        [float(tol)] * len(errors),
        "entry",
    )


def write_golden(
    path: str | Path, fn: Callable[[mpmath.mpf], Any], sigmas: Sequence, *, dps: int = 50, meta: dict | None = None
) -> Path:
    """Evaluate the mpmath callable ``fn`` at ``dps`` digits on ``sigmas`` and store the table as JSON.

    ``fn`` should be an *independent* high-precision implementation (your
    recurrence written directly in mpmath), not the code the table will check.
    """
    dps = check_int(dps, "dps", 15, 2000)
    with mpmath.workdps(dps):
        sig = [mpmath.mpf(s) for s in sigmas]
        values = [mpmath.nstr(mpmath.mpf(fn(s)), dps) for s in sig]
        table = {
            "format": GOLDEN_FORMAT,
            "dps": dps,
            "meta": meta or {},
            "sigma": [mpmath.nstr(s, dps) for s in sig],
            "value": values,
        }
    return atomic_write_text(path, json.dumps(table, indent=1) + "\n")


def check_golden(path: str | Path, fn: Callable[[torch.Tensor], Any], tol: float, *, relative: bool = False) -> None:
    """Assert that ``fn`` (called on the table's σ as a float64 tensor) reproduces the golden values."""
    path = Path(path)
    try:
        table = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"golden table {path} does not exist (write it with write_golden)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"golden table {path} is not valid JSON: {exc}") from None
    if not isinstance(table, dict) or table.get("format") != GOLDEN_FORMAT:
        raise ValueError(f"golden table {path}: not a {GOLDEN_FORMAT} table")
    assert_map_accuracy(
        fn, table["value"], table["sigma"], tol, dps=table["dps"], relative=relative, name=f"{path.name}"
    )
