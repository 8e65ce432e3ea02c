"""Schedule and spec files: reading, validating and writing the JSON form of a :class:`Schedule`.

A designed schedule travels as a JSON file (:func:`save_schedule`): its rows as exact decimal
strings of the doubles, its interval, target, safety, source and normalisation. Every input is
bounded before it is parsed (size, nesting depth, digits of an integer) and every field is
validated, so a damaged or hostile file is refused with the file and the field named, never
read forever or turned into a silent schedule. Spec files (:func:`spectral_la.parse_spec`)
are read by :func:`read_json` too.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from spectral_la.atomic_files import atomic_write_text
from spectral_la.normalization import Normalization
from spectral_la.schedules import Schedule, schedules
from spectral_la.targets import target

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "load_schedule",
    "normalization_to_json",
    "parse_json_text",
    "read_json",
    "save_schedule",
    "schedule_from_json",
    "schedule_to_json",
]


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
