"""Markdown tables of tidy rows (lists of dicts), for the report and the benchmarks."""

from __future__ import annotations

__all__ = ["markdown_table"]


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def markdown_table(rows: list[dict]) -> str:
    """One column per key seen in any row (first-seen order); a missing cell is left empty."""
    if not rows:
        return "(no rows)\n"
    keys = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_fmt(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"
