"""Minimax schedule design (Polar Express construction), with targets beyond the sign.

**Sign target, greedy (Amsel, Persson, Musco & Gower 2025, arXiv 2505.16932,
§4 and Algorithm 2).** Start from [ℓ₀, u₀] = [ℓ, 1]. At step k take the odd
polynomial of the given degree minimising max|1 − p| on
[max(ℓ_k, cushion·u_k), u_k] (:func:`spectral_la.remez.remez_odd`), rescale it
by s = 2/(min p + max p) over [ℓ_k, u_k] so that the image is centred on 1,
and set ℓ_{k+1} = s·min p, u_{k+1} = s·max p = 2 − ℓ_{k+1}. The composition is
optimal among compositions of such polynomials (their Thm 4.1); its worst
error on [ℓ, 1] is 1 − ℓ_T. The cushion (default 0.02407327424182761, the
paper's) keeps early polynomials from growing too steep. Once ℓ_k/u_k ≥ 1 −
5e-6 the Remez system is ill-conditioned and the optimum is numerically the
Padé (Newton–Schulz) polynomial x·Σ_j C(2j, j)/4^j (1 − x²)^j on x/u_k, used
there instead. Finally the safety factor s_f maps each row to p(x/s_f), except
optionally the last (the paper uses 1.01 for bf16).

**Other targets.** Targets that are not idempotent (softened
(1 − s) + sσ, fractional σ^p) cannot be approached by a greedy composition:
the composition of good single-step approximations of t is an approximation
of t∘t∘…, not of t. For them ``steps=1`` gives the minimax odd polynomial of
the degree (Remez), and ``steps > 1`` fits the whole composition by
minimising the max error on a log grid (scipy, a local optimum from a
single-step start: a heuristic whose result is then *certified* like any
schedule). The Muon^p paper (Dong & Sawin, arXiv 2606.13867) proves that
no fixed univariate odd polynomial *iteration* converges to σ^p, so a fixed
composition for σ^p has an error floor that more steps do not remove near
σ → 0 (σ^p has infinite slope at 0, every odd polynomial has finite slope).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mpmath

from spectral_la.atomic_files import atomic_write_text
from spectral_la.normalization import Normalization
from spectral_la.odd_polynomials import compose, critical_points, odd_polynomial
from spectral_la.remez import remez_odd
from spectral_la.schedules import Schedule, schedules, with_safety
from spectral_la.targets import Target, target
from spectral_la.validation import check_in_range, check_int

__all__ = [
    "DesignResult",
    "design_schedule",
    "load_schedule",
    "pade_row",
    "read_json",
    "save_schedule",
    "schedule_from_json",
    "schedule_to_json",
]

#: Bounds of :func:`design_schedule`: the Remez exchange at 50 digits loses alternation beyond
#: degree ~21–31 on the narrow late-step intervals (an ArithmeticError then), and no schedule
#: in use has more than ~10 steps.
MAX_DESIGN_DEGREE = 31
MAX_DESIGN_STEPS = 100

#: The Polar Express cushion (arXiv 2505.16932, released design script).
PE_CUSHION = 0.02407327424182761


def pade_row(degree: int) -> tuple:
    """Coefficients of the degree-(2k+1) Padé sign iteration x·Σ_{j≤k} C(2j, j)/4^j (1 − x²)^j."""
    k = (degree - 1) // 2
    coeffs = [mpmath.mpf(0)] * (k + 1)
    for j in range(k + 1):
        w = mpmath.binomial(2 * j, j) / mpmath.mpf(4) ** j
        for i in range(j + 1):  # (1 − x²)^j = Σ_i C(j, i)(−x²)^i
            coeffs[i] += w * mpmath.binomial(j, i) * (-1) ** i
    return tuple(coeffs)


def _extremes(coeffs, lo, hi) -> tuple:
    """min and max of the odd polynomial on [lo, hi] (end points and critical points inside)."""
    xs = [lo, hi] + [x for x, _ in critical_points(coeffs, dps=mpmath.mp.dps + 20) if lo < x < hi]
    vals = [odd_polynomial(coeffs, x) for x in xs]
    return min(vals), max(vals)


@dataclass(frozen=True)
class DesignResult:
    schedule: Schedule
    intervals: tuple  # (ℓ_k, u_k) before each step and after the last (sign target), mpf
    worst_error: Any  # sign: 1 − ℓ_T of the unscaled design; others: grid estimate
    rows_exact: tuple  # mpf rows before post-hoc safety scaling (with it where it is in the recurrence)


def _greedy_sign(degree, steps, ell, cushion, pade_threshold, recurrence_safety=None, exempt_last=True):
    """Greedy rows; with ``recurrence_safety`` s each row becomes p(x/s) *before* the next interval is formed."""
    lo_k, hi_k = mpmath.mpf(ell), mpmath.mpf(1)
    one, zero = target("sign").value, target("sign").derivative
    rows, intervals = [], [(lo_k, hi_k)]
    for k in range(steps):
        if lo_k / hi_k >= 1 - mpmath.mpf(pade_threshold):
            base = pade_row(degree)
            coeffs = tuple(c / hi_k ** (2 * j + 1) for j, c in enumerate(base))
        else:
            coeffs = remez_odd(one, zero, degree, max(lo_k, mpmath.mpf(cushion) * hi_k), hi_k).coefficients
        p_min, p_max = _extremes(coeffs, lo_k, hi_k)
        s = 2 / (p_min + p_max)
        row = tuple(s * c for c in coeffs)
        if recurrence_safety is None or (exempt_last and k == steps - 1):
            lo_k, hi_k = s * p_min, s * p_max
        else:
            sf = mpmath.mpf(recurrence_safety)
            row = tuple(c / sf ** (2 * j + 1) for j, c in enumerate(row))
            # the next interval is the image under the *safe* row: its minimum, and 2 − min, an upper
            # bound of its maximum (p(x/s) ≤ max p = 2 − s·p_min ≤ 2 − min p(x/s) on [ℓ_k, u_k])
            lo_k = _extremes(row, lo_k, hi_k)[0]
            hi_k = 2 - lo_k
        rows.append(row)
        intervals.append((lo_k, hi_k))
    return rows, intervals, max(1 - lo_k, hi_k - 1)


def _fit_composition(tgt: Target, degree, steps, ell, grid: int = 400):
    """Single-step Remez start, then minimise the max error of the T-step composition (float64)."""
    import numpy as np
    from scipy.optimize import minimize

    first = remez_odd(tgt.value, tgt.derivative, degree, mpmath.mpf(ell), mpmath.mpf(1)).coefficients
    if steps == 1:
        return [first]
    xs = np.geomspace(ell, 1.0, grid)
    ts = np.array([float(tgt.value(mpmath.mpf(x))) for x in xs])
    k1 = len(first)
    identity = [1.0] + [0.0] * (k1 - 1)
    start = np.array([float(c) for c in first] + identity * (steps - 1))

    def compose(theta):
        y = xs
        for k in range(steps):
            c = theta[k * k1 : (k + 1) * k1]
            y = y * np.polyval(c[::-1], y * y)
        return y

    def loss(theta, beta):
        e = np.abs(compose(theta) - ts)
        m = e.max()
        return m + np.log(np.exp(beta * (e - m)).sum()) / beta  # smooth max

    theta = start
    for beta in (50.0, 500.0, 5000.0):
        theta = minimize(
            loss,
            theta,
            args=(beta,),
            method="Nelder-Mead" if theta.size <= 4 else "Powell",
            options={"maxiter": 20000, "xtol": 1e-12, "ftol": 1e-14},
        ).x
    return [tuple(mpmath.mpf(float(v)) for v in theta[k * k1 : (k + 1) * k1]) for k in range(steps)]


def design_schedule(
    degree: int = 5,
    steps: int = 5,
    ell: float = 1e-3,
    *,
    target_map: str | Target = "sign",
    safety: float = 1.0,
    exempt_last: bool = True,
    safety_in_recurrence: bool = False,
    normalization: str = "scale_safe",
    cushion: float = PE_CUSHION,
    pade_threshold: float = 5e-6,
    name: str | None = None,
    dps: int = 50,
) -> DesignResult:
    """Design a per-step odd-polynomial schedule for [ℓ, 1] (module docstring).

    Parameters
    ----------
    degree : odd int ≥ 3
    steps : int ≥ 1
    ell : float in (0, 1)
        Lower end of the design interval (normalised singular values).
    target_map : "sign", "soft:<s>", "power:<p>" or Target
    safety : float ≥ 1
        Rows become p(x/safety); the last is exempt if ``exempt_last``.
    safety_in_recurrence : bool
        Sign target only. False (the paper's Algorithm 1): design for [ℓ, 1] in
        exact arithmetic, then scale every row. True (the released construction
        behind modded-nanogpt's and microsoft/dion's ``polar_express``): each
        row is scaled before the next interval is formed, so the later rows are
        designed for the lower bound the *safe* rows actually reach. With
        ``cushion=0.02, safety=1.02`` it reproduces that table
        (:data:`spectral_la.schedules` ``"polar_express_modded"``).
    normalization : "scale_safe" or "aol"
        How the schedule scales X before its first step (:class:`Normalization`,
        eps = 0, scale = ``safety``): X/(s‖X‖_F), or the AOL rescaling D X/s,
        which guarantees σ₁ ≤ 1/s and lifts σ_min (the design interval [ℓ, 1]
        then refers to the AOL-scaled singular values).
    cushion, pade_threshold
        Polar Express construction details (sign target only).
    name : str, optional
        Name of the returned Schedule (default derived from the parameters).
    dps : int
        mpmath working precision of the design.

    Returns
    -------
    DesignResult(schedule, intervals, worst_error, rows_exact)

    Examples
    --------
    The first Polar Express row (arXiv 2505.16932, Algorithm 1: 8.28721201814563,
    −23.595886519098837, 17.300387312530933):

    >>> res = design_schedule(5, 1, 1e-3)
    >>> [round(float(c), 9) for c in res.rows_exact[0]]
    [8.287212018, -23.595886519, 17.300387313]
    """
    degree = check_int(degree, "degree", 3, MAX_DESIGN_DEGREE)
    if degree % 2 == 0:
        raise ValueError(f"degree must be odd (an odd polynomial), got {degree}")
    steps = check_int(steps, "steps", 1, MAX_DESIGN_STEPS)
    dps = check_int(dps, "dps", 15, 2000)
    ell = float(check_in_range(ell, "ell", 0, 1, lo_open=True, hi_open=True))
    safety = float(check_in_range(safety, "safety", 1, 100))  # p(x/safety) for safety ≫ 1 loses every digit
    cushion = float(check_in_range(cushion, "cushion", 0, 1, hi_open=True))
    if normalization not in ("scale_safe", "aol"):
        raise ValueError(f"normalization must be 'scale_safe' or 'aol', got {normalization!r}")
    tgt = target(target_map)
    with mpmath.workdps(dps):
        if safety_in_recurrence and tgt.name != "sign":
            raise ValueError(f"safety_in_recurrence applies to the sign target, not {tgt.name!r}")
        if tgt.name == "sign":
            in_rec = safety if safety_in_recurrence else None
            rows, intervals, worst = _greedy_sign(degree, steps, ell, cushion, pade_threshold, in_rec, exempt_last)
        else:
            rows = _fit_composition(tgt, degree, steps, ell)
            intervals = ((mpmath.mpf(ell), mpmath.mpf(1)),)
            xs = [mpmath.mpf(ell) * (1 / mpmath.mpf(ell)) ** (mpmath.mpf(i) / 2000) for i in range(2001)]
            worst = max(abs(compose(rows, x) - tgt.value(x)) for x in xs)
        post_safety = 1.0 if safety_in_recurrence else safety  # in the recurrence: already in the rows
        effective = with_safety([[float(c) for c in r] for r in rows], post_safety, exempt_last=exempt_last)
    sched = Schedule(
        name=name
        or f"designed_d{degree}_t{steps}_l{ell:g}_{tgt.name}_s{safety:g}{'r' if safety_in_recurrence else ''}"
        + ("_aol" if normalization == "aol" else ""),
        rows=effective,
        steps=steps,
        repeat_last=tgt.name == "sign",
        interval=(float(ell), 1.0),
        normalization=Normalization(kind=normalization, scale=safety, eps=0.0, before_cast=True),
        target=tgt.name,
        safety=safety,
        source=f"spectral_la.design_schedule(degree={degree}, steps={steps}, ell={ell:g}, target={tgt.name!r}, "
        f"safety={safety:g}{', in the recurrence' if safety_in_recurrence else ''}, cushion={cushion:g})",
    )
    return DesignResult(sched, tuple(intervals), worst, tuple(rows))


def schedule_to_json(schedule: Schedule) -> dict:
    """The JSON object of a schedule (rows as exact decimal repr of the doubles, metadata)."""
    return {
        "name": schedule.name,
        "rows": [list(map(repr, r)) for r in schedule.rows],
        "steps": schedule.steps,
        "repeat_last": schedule.repeat_last,
        "interval": list(schedule.interval),
        "target": schedule.target,
        "safety": schedule.safety,
        "source": schedule.source,
        "cycle": schedule.cycle,
        "interval_stated": schedule.interval_stated,
        "normalization": normalization_to_json(schedule.normalization),
    }


def normalization_to_json(norm: Normalization) -> dict:
    """The JSON object of a :class:`Normalization` (every field)."""
    return {
        "kind": norm.kind,
        "scale": norm.scale,
        "eps": norm.eps,
        "squarings": norm.squarings,
        "in_float64": norm.in_float64,
        "before_cast": norm.before_cast,
    }


def save_schedule(schedule: Schedule, path: str | Path) -> Path:
    """Write a schedule (:func:`schedule_to_json`) to a JSON file."""
    path = Path(path)
    atomic_write_text(path, json.dumps(schedule_to_json(schedule), indent=1) + "\n")
    return path


def load_schedule(path: str | Path, *, register: bool = False, overwrite: bool = False) -> Schedule:
    """Read a schedule written by :func:`save_schedule`; optionally register it.

    Every field is validated (:func:`schedule_from_json`); an error names the file and the field.
    A file whose name is a registered schedule with other rows is refused unless ``overwrite``
    (it would silently relabel the registered one).
    """
    path = Path(path)
    sched = schedule_from_json(read_json(path), str(path))
    if register:
        if sched.name in schedules and schedules[sched.name] != sched and not overwrite:
            raise ValueError(
                f"{path}: names its schedule {sched.name!r}, which is registered with other rows or settings; "
                "rename it in the file (field 'name') or pass overwrite=True"
            )
        schedules.register(sched, overwrite=True)
    return sched


#: Bounds on what a JSON input may hold before it is parsed into numbers (robustness: no deep
#: recursion, no 400-digit integers, no gigabyte files).
MAX_JSON_BYTES = 1 << 20
MAX_JSON_DEPTH = 8


def read_json(path: str | Path) -> Any:
    """Parse a small JSON file: size, nesting depth and number length bounded, errors naming the file."""
    import os
    import stat

    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    if stat.S_ISDIR(info.st_mode):
        raise ValueError(f"{path}: is a directory, not a schedule or spec file")
    if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
        raise ValueError(f"{path}: not a regular file (a pipe, socket or device); write the JSON to a file")
    if info.st_size > MAX_JSON_BYTES:
        raise ValueError(
            f"{path}: {info.st_size} bytes, more than the {MAX_JSON_BYTES} a schedule or spec file may hold"
        )
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise ValueError(f"{path}: more than the {MAX_JSON_BYTES} bytes a schedule or spec file may hold")
    return parse_json_text(_decode(raw, path), str(path))


def _decode(raw: bytes, path: Path) -> str:
    """JSON is UTF-8 (RFC 8259); a UTF-8 BOM is dropped, UTF-16/32 (by their BOM) decoded, else refused."""
    import codecs

    for bom, enc in (
        (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
    ):  # fmt: skip
        if raw.startswith(bom):
            try:
                return raw.decode(enc)
            except UnicodeDecodeError as exc:
                raise ValueError(
                    f"{path}: starts with a {enc} byte-order mark but is not valid {enc} ({exc})"
                ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); "
                         "save the JSON as UTF-8") from None  # fmt: skip


def parse_json_text(text: str, where: str) -> Any:
    """``json.loads`` with the bounds of :func:`read_json`; errors name ``where``."""

    def bounded_int(raw: str) -> int:
        if len(raw.lstrip("-")) > 30:
            raise ValueError(f"{where}: integer with {len(raw)} digits is not a valid field value")
        return int(raw)

    too_deep = ValueError(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(text, parse_int=bounded_int)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc})") from None
    except RecursionError:  # nested beyond the interpreter's limit: far beyond ours
        raise too_deep from None
    level = [data]
    for _ in range(MAX_JSON_DEPTH):  # breadth-first, one nesting level a pass
        level = [v for c in level if isinstance(c, (list, dict)) for v in (c.values() if isinstance(c, dict) else c)]
    if any(isinstance(c, (list, dict)) for c in level):
        raise too_deep
    return data


def _pair(values: list[float], where: str) -> tuple[float, float]:
    if len(values) != 2:
        raise ValueError(f"{where}: field 'interval' must be [ell, u], got {len(values)} values")
    return values[0], values[1]


def schedule_from_json(data: Any, where: str = "schedule") -> Schedule:
    """The :class:`Schedule` of a JSON object written by :func:`schedule_to_json`, every field validated.

    Booleans must be JSON booleans (``"false"`` is rejected, not read as True), numbers must be
    JSON numbers or numeric strings (rows are stored as exact decimal strings), and the target
    must parse (:func:`target`). An error names ``where`` and the field.
    """
    path = where
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    missing = [k for k in _SCHEDULE_FIELDS if k not in data and k not in _OPTIONAL_FIELDS]
    if missing:
        raise ValueError(f"{path}: missing field(s) {missing}")
    unknown = sorted(set(data) - set(_SCHEDULE_FIELDS))
    if unknown:
        raise ValueError(f"{path}: unknown field(s) {unknown}")

    def number(value: Any, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"{path}: field {field!r} must be a number, got {value!r}")
        try:
            out = float(value)
        except (ValueError, OverflowError):
            raise ValueError(f"{path}: field {field!r} must be a number, got {value!r}") from None
        if not math.isfinite(out):
            raise ValueError(f"{path}: field {field!r} must be finite, got {value!r}")
        return out

    for flag in ("repeat_last", "cycle", "interval_stated"):
        if not isinstance(data.get(flag, False), bool):
            raise ValueError(f"{path}: field {flag!r} must be a JSON boolean, got {data[flag]!r}")
    rows = data["rows"]
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise ValueError(f"{path}: field 'rows' must be a list of lists of numbers")
    if not isinstance(data["interval"], list):
        raise ValueError(f"{path}: field 'interval' must be a list [ell, u]")
    norm = data["normalization"]
    if not isinstance(norm, dict):
        raise ValueError(f"{path}: field 'normalization' must be an object")
    try:
        target(data["target"])
        sched = Schedule(
            name=data["name"],
            rows=tuple(tuple(number(c, f"rows[{k}][{j}]") for j, c in enumerate(r)) for k, r in enumerate(rows)),
            steps=data["steps"],
            repeat_last=data["repeat_last"],
            interval=_pair([number(v, "interval") for v in data["interval"]], path),
            target=data["target"],
            safety=number(data["safety"], "safety"),
            source=data["source"],
            normalization=Normalization(**norm),
            cycle=data.get("cycle", False),
            interval_stated=data.get("interval_stated", True),
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    return sched


_SCHEDULE_FIELDS = (
    "name",
    "rows",
    "steps",
    "repeat_last",
    "interval",
    "target",
    "safety",
    "source",
    "normalization",
    "cycle",
    "interval_stated",
)
_OPTIONAL_FIELDS = ("cycle", "interval_stated")
