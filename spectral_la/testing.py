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
                            [10 ** (-3 + 3 * i / 100) for i in range(101)], tol=0.16)

(Polar Express's certified worst error on [1e-3, 1] is 0.154, at σ = 1e-3.)

Every helper refuses what would let it pass vacuously: an empty σ list, a NaN or infinite
reference, a negative, NaN or wrongly sized tolerance raise ``ValueError``.
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


def _sigmas(sigmas: Any) -> list[float]:
    """σ as a list of floats from a list, a NumPy array or a torch tensor; never empty, all finite."""
    if isinstance(sigmas, (str, bytes)) or not hasattr(sigmas, "__len__"):
        raise TypeError(f"sigmas must be a sequence, array or tensor of numbers, got {type(sigmas).__name__}")
    try:
        values = _floats(sigmas)
    except (TypeError, ValueError):
        raise TypeError("sigmas must hold real numbers") from None
    if not values:
        raise ValueError("sigmas is empty: an accuracy check on no points would pass whatever the map")
    if not all(np.isfinite(values)):
        raise ValueError("sigmas must be finite")
    return values


def _tolerances(tol: Any, n: int) -> list[float]:
    if isinstance(tol, (str, bytes)):
        raise TypeError(f"tol must be a number or one per point, got {tol!r}")
    tols = [float(tol)] * n if np.ndim(tol) == 0 else [float(t) for t in np.asarray(tol, dtype=float).reshape(-1)]
    if len(tols) != n:
        raise ValueError(f"tol has {len(tols)} entries for {n} points")
    if not all(np.isfinite(t) and t >= 0 for t in tols):
        raise ValueError("tol must be finite and ≥ 0")
    return tols


def _finite_references(values: list, what: str) -> None:
    if not all(mpmath.isfinite(v) for v in values):
        raise ValueError(f"{what}: the reference holds NaN or Inf values, against which nothing can be checked")


def _report(what: str, where: list, got: list, expected: list, errors: list, tols: list, label: str) -> None:
    bad = [i for i, (e, t) in enumerate(zip(errors, tols, strict=True)) if not e <= t]
    if not bad:
        return
    worst = max(bad, key=lambda i: errors[i] / tols[i] if tols[i] > 0 else float("inf"))
    ratio = f"{float(errors[worst]) / tols[worst]:.3g} × tol" if tols[worst] > 0 else "tol is 0"
    lines = [
        f"{what}: {len(bad)} of {len(errors)} points exceed the tolerance; worst at {label} = {where[worst]}: "
        f"got {got[worst]!r}, expected {mpmath.nstr(expected[worst], 17)}, error {float(errors[worst]):.3g} "
        f"= {ratio} ({tols[worst]:.3g})"
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
    """Assert ``|fn(σ) − target(σ)|`` ≤ tol at every σ (relative to ``|target|`` if ``relative``).

    ``fn`` receives the σ as one float64 torch tensor (any scalar map of
    spectral_la, or yours) and returns values of any array kind. ``sigmas``: a list, a NumPy
    array or a torch tensor. ``target`` is an mpmath callable, evaluated at ``dps`` digits at
    exactly the binary float64 σ that ``fn`` sees (so an exact map has error 0), or the
    reference values themselves (numbers or decimal strings, one per σ). ``tol`` is one
    number ≥ 0 or one per σ.
    """
    dps = check_int(dps, "dps", 15, 2000)
    sig = _sigmas(sigmas)
    where = [repr(s) for s in sig]
    got = _floats(fn(torch.tensor(sig, dtype=torch.float64)))
    if len(got) != len(where):
        raise ValueError(f"fn returned {len(got)} values for {len(where)} sigmas")
    tols = _tolerances(tol, len(where))
    with mpmath.workdps(dps):
        if callable(target):
            expected = [mpmath.mpf(target(mpmath.mpf(s))) for s in sig]  # mpf(float) is exact
        else:
            expected = [mpmath.mpf(v) for v in target]
            if len(expected) != len(where):
                raise ValueError(f"target holds {len(expected)} values for {len(where)} sigmas")
        _finite_references(expected, "target")
        errors = [abs(mpmath.mpf(g) - e) for g, e in zip(got, expected, strict=True)]
        if relative:
            errors = [err / max(abs(e), mpmath.mpf(2) ** -1000) for err, e in zip(errors, expected, strict=True)]
    _report(str(name or getattr(fn, "__name__", "map")), where, got, expected, errors, tols, "σ")


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
    """Assert max ``|fn(X) − reference(X)|`` ≤ tol (relative to max ``|reference(X)|`` if ``relative``).

    ``reference`` runs on X converted to an object array of mpmath numbers at
    ``dps`` digits: every spectral_la routine does (e.g. ``spectral_la.polar``),
    so ``assert_matrix_accuracy(my_orthogonaliser, sl.msign, G, 1e-2)`` checks a
    fast routine against the exact map of the same rounded input.

    Result objects are compared by their matrix: a :class:`~spectral_la.RootResult` by its
    ``root``, a :class:`~spectral_la.QDWHResult` by its ``u`` (from ``fn`` and ``reference``).
    """
    dps = check_int(dps, "dps", 15, 2000)
    tol = _tolerances(tol, 1)[0]
    x64 = np.asarray(X.detach().double().cpu() if isinstance(X, torch.Tensor) else X, dtype=float)
    got_raw = _matrix_of(fn(X))
    got = np.asarray(got_raw.detach().double().cpu() if isinstance(got_raw, torch.Tensor) else got_raw, dtype=float)
    with mpmath.workdps(dps):
        try:
            ref = _matrix_of(reference(np.vectorize(mpmath.mpf, otypes=[object])(x64)))
        except ValueError as exc:
            if "symmetric" not in str(exc):
                raise
            raise ValueError(
                f"{exc}. At {dps} digits the reference sees X's float64 rounding: a product such as G @ G.T is "
                "symmetric only to rounding there; pass (A + A.T) / 2"
            ) from None
        ref = np.asarray(ref.tolist() if isinstance(ref, mpmath.matrix) else ref, dtype=object)
        _finite_references(list(ref.reshape(-1)), "reference(X)")
        if ref.shape != got.shape:
            raise ValueError(f"fn(X) has shape {got.shape}, reference(X) {ref.shape}")
        diff = np.vectorize(lambda g, r: abs(mpmath.mpf(g) - r), otypes=[object])(got, ref)
        scale = max(max(abs(v) for v in ref.reshape(-1)), mpmath.mpf(2) ** -1000) if relative else mpmath.mpf(1)
        errors = [d / scale for d in diff.reshape(-1)]
    where = [str(idx) for idx in np.ndindex(*got.shape)]
    _report(
        str(name or getattr(fn, "__name__", "routine")),
        where,
        list(got.reshape(-1)),
        list(ref.reshape(-1)),
        errors,
        [float(tol)] * len(errors),
        "entry",
    )


def _matrix_of(result: Any) -> Any:
    """The matrix a routine's result object stands for (RootResult.root, QDWHResult.u), else the result."""
    for field in ("root", "u"):
        if hasattr(result, field) and hasattr(result, "_fields"):
            return getattr(result, field)
    return result


def write_golden(
    path: str | Path, fn: Callable[[mpmath.mpf], Any], sigmas: Sequence, *, dps: int = 50, meta: dict | None = None
) -> Path:
    """Evaluate the mpmath callable ``fn`` at ``dps`` digits on ``sigmas`` and store the table as JSON.

    ``fn`` should be an *independent* high-precision implementation (your
    recurrence written directly in mpmath), not the code the table will check.
    """
    dps = check_int(dps, "dps", 15, 2000)
    with mpmath.workdps(dps):
        sig = [mpmath.mpf(s) for s in _sigmas(sigmas)]
        raw = [mpmath.mpf(fn(s)) for s in sig]
        _finite_references(raw, f"write_golden({path})")
        values = [mpmath.nstr(v, dps) for v in raw]
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
    from spectral_la.schedule_files import read_json

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"golden table {path} does not exist (write it with write_golden)")
    try:
        table = read_json(path)
    except UnicodeDecodeError:
        raise ValueError(f"golden table {path} is not a text (JSON) file") from None
    if not isinstance(table, dict) or table.get("format") != GOLDEN_FORMAT:
        raise ValueError(f"golden table {path}: not a {GOLDEN_FORMAT} table")
    for field in ("sigma", "value"):
        if not isinstance(table.get(field), list) or not all(isinstance(v, (str, int, float)) for v in table[field]):
            raise ValueError(f"golden table {path}: field {field!r} must be a list of numbers or decimal strings")
    if not isinstance(table.get("dps"), int):
        raise ValueError(f"golden table {path}: field 'dps' must be an integer")
    assert_map_accuracy(
        fn, table["value"], table["sigma"], tol, dps=table["dps"], relative=relative, name=f"{path.name}"
    )
