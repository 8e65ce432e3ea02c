"""A CSV of result rows keyed by their parameters, safe to resume, to kill and to share.

Every sweep writes one row per task. The file must never lie:

* **Kill or full disk mid-write.** A row is appended with one ``write`` of a
  complete line and flushed; a reader drops a last line that lacks its
  newline (cut off) and every line that does not parse as a full row of the
  header's fields, so a damaged row is recomputed, never read as data
  (``6.3e-08`` cut to ``6.3`` is not a parse: the newline is missing).
* **Damaged values.** With a ``valid`` predicate, a complete line whose values do not parse
  (``finite`` = "maybe") is ignored like a cut-off one, and its key is computed again.
* **Two writers on one file.** Appends take an exclusive ``flock`` on a lock
  file beside the CSV and re-read the keys under it: a key already written by
  another writer is not written again, so rows are never duplicated and the
  header is written once.

Values are stored as text; :meth:`ResultStore.rows` returns them as written
(dicts of str), callers convert.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

try:  # POSIX; elsewhere the store is single-writer
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

__all__ = ["ResultStore"]


class ResultStore:
    """Rows with ``fields`` (the first ``len(key_fields)`` of which form the key) in a CSV file."""

    def __init__(
        self, path: str | Path, fields: Sequence[str], key_fields: Sequence[str], valid: Callable | None = None
    ) -> None:
        self.path = Path(path)
        self.valid = valid  # row → bool: a row that fails it is ignored (and recomputed by its writer)
        self.fields = tuple(fields)
        self.key_fields = tuple(key_fields)
        if not set(self.key_fields) <= set(self.fields):
            raise ValueError("key_fields must be a subset of fields")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def key(self, row: dict) -> tuple[str, ...]:
        return tuple(str(row[f]) for f in self.key_fields)

    def rows(self) -> dict[tuple[str, ...], dict[str, str]]:
        """Every complete, well-formed row by key (a later duplicate key wins)."""
        if not self.path.exists():
            return {}
        text = self.path.read_bytes().decode("utf-8", errors="replace")
        if not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]  # a cut-off last line is never parsed
        out: dict[tuple[str, ...], dict[str, str]] = {}
        header = list(self.fields)
        for values in csv.reader(io.StringIO(text)):
            if values == header or len(values) != len(header):
                continue
            row = dict(zip(header, values, strict=True))
            if self.valid is None or self.valid(row):
                out[self.key(row)] = row
        return out

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if fcntl is None:  # pragma: no cover
            yield
            return
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def append(self, row: dict) -> bool:
        """Append ``row`` unless its key is already stored; True if it was written."""
        line = io.StringIO()
        csv.writer(line, lineterminator="\n").writerow([_text(row[f]) for f in self.fields])
        with self._locked():
            if self.key(row) in self.rows():
                return False
            self._repair_tail()
            with open(self.path, "a", encoding="utf-8", newline="") as fh:
                if fh.tell() == 0:
                    fh.write(",".join(self.fields) + "\n")
                fh.write(line.getvalue())
                fh.flush()
                os.fsync(fh.fileno())
        return True

    def _repair_tail(self) -> None:
        """Truncate a cut-off last line (no newline) so the next append starts on a fresh line."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)


def _text(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)
