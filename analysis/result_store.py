"""A CSV of result rows keyed by their parameters, safe to resume, to kill and to share.

Every sweep writes one row per task. The file must never lie:

* **One row, one line, one checksum.** Every row is one physical line: line breaks inside a
  value (a multi-line error message) are escaped (``\\n``), and the line ends with the CRC-32
  of its text. A reader parses each line on its own and keeps it only if its checksum
  matches, so a line cut anywhere (a kill, a full disk), a value damaged on disk (``True``
  to ``Tru``, ``0.1`` to ``0.``) or a stray line is recomputed, never read as data, and
  never hides the rows after it (an unterminated quoted field used to swallow them all).
* **Damaged values.** With a ``valid`` predicate, a complete line whose values do not parse
  (``finite`` = "maybe") is ignored like a damaged one, and its key is computed again.
* **Two writers on one file.** Appends take an exclusive ``flock`` on a lock
  file beside the CSV and re-read the keys under it: a key already written by
  another writer is not written again, so rows are never duplicated and the
  header is written once.
* **Only its own files.** An existing file whose first line is not this store's header
  (another CSV, another sweep's results, an older format) is refused with an error naming
  it, and neither the file nor its lock file is followed through a symbolic link.

Values are stored as text; :meth:`ResultStore.rows` returns them as written
(dicts of str), callers convert.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

try:  # POSIX; elsewhere the store is single-writer
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

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
        if CRC_FIELD in self.fields:
            raise ValueError(f"{CRC_FIELD!r} is the store's own column")
        self.header = ",".join((*self.fields, CRC_FIELD))
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        for p in (self.path, self._lock_path):
            if p.is_symlink():
                raise ValueError(f"{p} is a symbolic link; a results file must be a plain file")
            if p.exists() and not p.is_file():
                raise ValueError(f"{p} exists and is not a file")
        self._check_header()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _check_header(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            first = fh.readline(len(self.header) + 2).decode("utf-8", errors="replace")
        if not first:
            return
        complete = first.endswith("\n")
        line = first.rstrip("\n")
        if (complete and line != self.header) or (not complete and not self.header.startswith(line)):
            raise ValueError(
                f"{self.path} is not a results file of this kind (its first line is {line[:80]!r}, expected "
                f"{self.header[:80]!r}…); choose another output file or move this one away"
            )

    def key(self, row: dict) -> tuple[str, ...]:
        return tuple(_text(row[f]) for f in self.key_fields)

    def rows(self) -> dict[tuple[str, ...], dict[str, str]]:
        """Every complete row whose checksum matches, by key (a later duplicate key wins)."""
        if not self.path.exists():
            return {}
        text = self.path.read_bytes().decode("utf-8", errors="replace")
        lines = text.split("\n")[:-1]  # the part after the last newline is cut off: never parsed
        out: dict[tuple[str, ...], dict[str, str]] = {}
        for line in lines[1:] if lines and lines[0] == self.header else lines:
            row = self._parse(line)
            if row is not None and (self.valid is None or self.valid(row)):
                out[self.key(row)] = row
        return out

    def _parse(self, line: str) -> dict[str, str] | None:
        body, sep, crc = line.rpartition(",")
        if not sep or crc != _crc(body):
            return None
        try:
            values = next(csv.reader([body], strict=True))
        except (csv.Error, StopIteration):
            return None
        if len(values) != len(self.fields):
            return None
        return {f: _unescape(v) for f, v in zip(self.fields, values, strict=True)}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if fcntl is None:  # pragma: no cover
            yield
            return
        fd = os.open(self._lock_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | _NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def append(self, row: dict, *, replace_failed: bool = False) -> bool:
        """Append ``row`` unless its key is already stored; True if it was written.

        ``replace_failed``: a stored row with a non-empty ``error`` does not block the key; the new
        row is appended after it and wins (:meth:`rows` keeps the later of duplicate keys).
        """
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow([_escape(_text(row[f])) for f in self.fields])
        body = buf.getvalue()
        line = f"{body},{_crc(body)}\n"
        with self._locked():
            self._check_header()
            stored = self.rows().get(self.key(row))
            if stored is not None and not (replace_failed and stored.get("error")):
                return False
            self._repair_tail()
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | _NOFOLLOW, 0o644)
            with os.fdopen(fd, "a", encoding="utf-8", newline="") as fh:
                if fh.tell() == 0:
                    fh.write(self.header + "\n")
                fh.write(line)
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


#: The store's own last column: CRC-32 of the rest of the line, 8 hex digits.
CRC_FIELD = "crc32"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _crc(body: str) -> str:
    return f"{zlib.crc32(body.encode('utf-8')):08x}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def _unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            out.append({"n": "\n", "r": "\r"}.get(value[i + 1], value[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _text(value: object) -> str:
    """A value as the store writes it and keys it: numbers (NumPy scalars included) as plain Python
    numbers (``0.1``, never ``np.float64(0.1)``), so that a key written once is found again."""
    import numbers

    if isinstance(value, bool) or value is None or isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # a 0-d array or tensor
        return _text(value.item())
    return str(value)
