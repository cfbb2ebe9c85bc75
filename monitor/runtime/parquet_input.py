"""Parquet input for `monitor run` and `monitor produce`: each row becomes the JSON line it stands for.

Departments often export Parquet (contract §5: "JSONL; Parquet welcome").  A file whose name ends in
`.parquet` is turned, row by row, into one JSON object per line in a private spool file, and the run
reads that file exactly as it reads JSONL: the same validation, the same two passes over byte offsets,
the same dead letters, which cite the Parquet file and the row (`{"file": "events.parquet", "line": 7}`,
rows counted from 1 like lines: the spool file keeps the input's name; their `raw_sha256` is that of the
row's JSON line).

- A null is an absent field: Parquet cannot tell the two apart, and every nullable field of the formats
  (contract §3) defaults to null.  So nulls are left out of objects, at any depth (not out of lists).
- Decimals (money is often exported as DECIMAL) are written as JSON numbers.
- Dates and times are written in RFC 3339 (a timestamp column needs its time zone, as `occurred_at` needs
  its offset; a naive one makes the event a `bad_type` dead letter, like a JSONL line without offset).
- A `payload` column of strings is read as JSON text, so that one file can carry every category's
  payload; text that is not JSON stays a string, and the event is dead-lettered (`bad_type`).

The spool lives in a private temporary directory (it holds the same personal data as the input) and is
removed when the run ends.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec
import polars as pl

from monitor.errors import InputFileError

__all__ = ["ParquetSpool", "is_parquet"]

_BATCH_ROWS = 50_000  # rows converted at a time: the spool is written as it goes, never held whole
_encoder = msgspec.json.Encoder(decimal_format="number")  # money exported as DECIMAL stays a number


def is_parquet(path: Path) -> bool:
    """Whether a file is read as Parquet (by its name, as a department's export is named)."""
    return path.suffix.lower() == ".parquet"


class ParquetSpool(AbstractContextManager["ParquetSpool"]):
    """Parquet inputs as JSON-lines files for the length of a run."""

    def __init__(self) -> None:
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._count = 0

    def as_lines(self, path: Path) -> Path:
        """The file to read: `path` itself, or, for Parquet, its rows as JSON lines in the spool."""
        if not is_parquet(path):
            return path
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="monitor-parquet-")
        self._count += 1
        # Under the input's own name (in a directory of its own): whatever cites a file by name, a dead
        # letter or a progress bar, then names the file the user gave.
        spooled = Path(self._dir.name) / str(self._count) / path.name
        spooled.parent.mkdir()
        with spooled.open("wb") as handle:
            for line in _json_lines(path):
                handle.write(line)
        return spooled

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


def _json_lines(path: Path) -> Iterator[bytes]:
    try:
        rows = pl.scan_parquet(path)
        total = rows.select(pl.len()).collect().item()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputFileError(path, f"is not a readable Parquet file ({type(exc).__name__})") from None
    for start in range(0, total, _BATCH_ROWS):
        batch = rows.slice(start, _BATCH_ROWS).collect()
        payload_text = batch.schema.get("payload") == pl.String
        for row in batch.iter_rows(named=True):
            if payload_text and isinstance(row["payload"], str):
                row["payload"] = _object_or_text(row["payload"])
            yield _encoder.encode(_without_nulls(row)) + b"\n"


def _object_or_text(text: str) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value
