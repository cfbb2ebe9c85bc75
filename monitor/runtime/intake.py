"""The embedded runner's first pass: read every line once, keep an index of where the good ones are.

Routing needs every membership change in the input, whatever its position, so nothing can be applied
until all lines are read.  Holding every decoded event until then costs about 3 KB an event (12 GB
before a million households' input was read), so this pass keeps, for each valid line, only a row
of a columnar index (file, byte offset, length, event id, digest, household or person, time) in polars
frames, and the registry as byte locations.  `triage` then routes the person-only rows, dead-letters
the unroutable and the conflicting, counts the exact duplicates, and leaves the rows to apply sorted by
household: the second pass (`monitor.runtime.embedded`) decodes them again, household by household.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from monitor.errors import InvalidEventError, RejectReason
from monitor.payloads import HouseholdRecord
from monitor.pipeline.anomalies import Anomaly, person_in_two_households
from monitor.pipeline.route import Directory
from monitor.pipeline.validate import decode_household, validate_event
from monitor.privacy import Pseudonymiser, Purpose
from monitor.records import dead_letter

__all__ = ["REGISTRY_FILE", "Intake", "Location", "LineReader", "iter_lines", "read_inputs", "triage"]

REGISTRY_FILE = 0  # index of the registry in `Intake.files`; event files follow it
_CHUNK_ROWS = 100_000  # rows handled as Python lists at a time (index chunks, routing slices)
_INDEX_SCHEMA = {"seq": pl.UInt32, "file": pl.UInt16, "offset": pl.UInt64, "length": pl.UInt32,
                 "line": pl.UInt32, "event_id": pl.String, "digest": pl.String, "household_id": pl.String,
                 "person_id": pl.String, "t": pl.Int64}

Location = tuple[int, int, int]  # (file index, byte offset, length) of one line


def iter_lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(1-based line number, byte offset, raw bytes without the newline), skipping blank lines."""
    offset = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            raw = line.rstrip(b"\r\n")
            if raw.strip():
                yield number, offset, raw
            offset += len(line)


@dataclass
class Intake:
    """What the first pass learnt: dead letters, the registry's locations, routing, and the event index."""

    files: list[Path]
    received_at: str
    records: dict[str, Location] = field(default_factory=dict)
    directory: Directory = field(default_factory=Directory)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    events_read: int = 0
    duplicates: int = 0
    index: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=_INDEX_SCHEMA))
    _chunks: list[pl.DataFrame] = field(default_factory=list)
    _rows: dict[str, list[Any]] = field(default_factory=lambda: {name: [] for name in _INDEX_SCHEMA})

    def source(self, file: int, line: int) -> dict[str, Any]:
        """Where a line came from, as dead letters cite it."""
        return {"file": self.files[file].name, "line": line}

    def reject(self, error: InvalidEventError | RejectReason, raw: bytes, file: int, line: int,
               **extra: Any) -> None:
        """Dead-letter one line."""
        self.dead_letters.append(dead_letter(error, raw, self.source(file, line), self.received_at, **extra))

    def _add_row(self, *values: Any) -> None:
        for column, value in zip(self._rows.values(), values, strict=True):
            column.append(value)
        if len(self._rows["seq"]) >= _CHUNK_ROWS:
            self._flush_rows()

    def _flush_rows(self) -> None:
        if self._rows["seq"]:
            self._chunks.append(pl.DataFrame(self._rows, schema=_INDEX_SCHEMA))
            self._rows = {name: [] for name in _INDEX_SCHEMA}


def read_inputs(households: Path, event_files: Sequence[Path], pseudonymiser: Pseudonymiser, *,
                now: dt.datetime, received_at: str, progress: Callable[[int], None] | None = None) -> Intake:
    """First pass over the registry and every event file (validated, indexed, nothing applied)."""
    intake = Intake(files=[households, *event_files], received_at=received_at)
    registered_in: dict[str, str] = {}
    for number, offset, raw in iter_lines(households):
        try:
            record = decode_household(raw)
        except InvalidEventError as exc:
            intake.reject(exc, raw, REGISTRY_FILE, number)
            continue
        if record.household_id in intake.records:
            intake.reject(RejectReason.DUPLICATE_ID_CONFLICT, raw, REGISTRY_FILE, number,
                          detail="household_id appears twice in the registry; the first record is kept")
            continue
        intake.records[record.household_id] = (REGISTRY_FILE, offset, len(raw))
        for member in record.members:
            other = registered_in.setdefault(member.person_id, record.household_id)
            if other != record.household_id:
                intake.anomalies.append(person_in_two_households(
                    other, record.household_id, pseudonymiser.pseudonym(member.person_id, Purpose.ALERT)))
        intake.directory.register(record)
    del registered_in

    seq = 0
    for file, path in enumerate(event_files, start=1):
        for number, offset, raw in iter_lines(path):
            intake.events_read += 1
            try:
                _, event = validate_event(raw, now=now)
            except InvalidEventError as exc:
                intake.reject(exc, raw, file, number)
                continue
            assert event is not None
            if event.household_id and event.household_id in intake.records:
                intake.directory.observe(event)
            if isinstance(event.payload, HouseholdRecord) and event.household_id not in intake.records:
                intake.records[event.household_id] = (file, offset, len(raw))
                intake.directory.register(event.payload, event.t)
            intake._add_row(seq, file, offset, len(raw), number, event.event_id, event.digest,
                            event.household_id or None, event.person_id, event.t)
            seq += 1
        if progress:
            progress(intake.events_read)
    intake._flush_rows()
    intake.index = pl.concat(intake._chunks) if intake._chunks else pl.DataFrame(schema=_INDEX_SCHEMA)
    intake._chunks = []
    return intake


def triage(intake: Intake, lines: LineReader) -> pl.DataFrame:
    """Route, dead-letter and deduplicate the index; returns the rows to apply, sorted by (household, seq).

    A person-only event goes to the household its person belonged to at the event's time (the directory
    now knows every membership change).  An event whose household is not registered is dead-lettered; of
    the events sharing an id, the first in input order is applied, a later copy with the same digest is
    counted as a duplicate and one with different content is dead-lettered.  Returns the columns
    household, file, offset, length, t, routed (whether the event named no household itself), seq, line.
    The index is consumed: at a million households it is the largest thing in memory.
    """
    index, intake.index = intake.index, pl.DataFrame(schema=_INDEX_SCHEMA)
    index = index.with_columns(_households(intake, index), pl.col("household_id").is_null().alias("routed"))
    intake.directory = Directory()  # routing is done: give its memory back before the next steps

    registered = pl.Series(list(intake.records), dtype=pl.String).implode()
    known = pl.col("household").is_in(registered).fill_null(value=False)  # unroutable: no household at all
    for row in index.filter(~known).iter_rows(named=True):
        detail = "the household is not in the registry" if row["household"] else \
            "no registered household has this person"
        intake.reject(RejectReason.UNKNOWN_HOUSEHOLD, lines.line(row["file"], row["offset"], row["length"]),
                      row["file"], row["line"], event_id=row["event_id"], detail=detail)
    # The index is in input order (seq), so the first row of each event id is the one to keep.
    index = index.filter(known).with_columns(pl.col("event_id").is_first_distinct().alias("first"))
    later = index.filter(~pl.col("first"))
    if later.height:
        firsts = index.filter(pl.col("first") & pl.col("event_id").is_in(later["event_id"].implode()))
        later = later.join(firsts.select("event_id", pl.col("digest").alias("first_digest")), on="event_id")
        conflicts = later.filter(pl.col("digest") != pl.col("first_digest")).sort("seq")
        intake.duplicates = later.height - conflicts.height
        for row in conflicts.iter_rows(named=True):
            intake.reject(RejectReason.DUPLICATE_ID_CONFLICT,
                          lines.line(row["file"], row["offset"], row["length"]), row["file"], row["line"],
                          event_id=row["event_id"],
                          detail="event_id was already applied with different content; the first is kept")
    return (index.filter(pl.col("first"))
            .select("household", "file", "offset", "length", "t", "routed", "seq", "line")
            .sort("household", "seq"))


def _households(intake: Intake, index: pl.DataFrame) -> pl.Series:
    """The household of every row: its own, or its person's at its time (resolved a slice at a time)."""
    parts = []
    for start in range(0, index.height, _CHUNK_ROWS):
        part = index.slice(start, _CHUNK_ROWS)
        named, persons, times = (part[c].to_list() for c in ("household_id", "person_id", "t"))
        parts.append(pl.Series("household", [
            household or intake.directory.resolve(person, t)
            for household, person, t in zip(named, persons, times, strict=True)], dtype=pl.String))
    return pl.concat(parts) if parts else pl.Series("household", [], dtype=pl.String)


class LineReader:
    """The input files, read back by (file, byte offset, length).

    With `os.pread`, not `mmap`: a mapped page that has been read counts in the process's resident
    memory until the map is closed, which made the 3.7 GB input of a million households look like 3 GB
    of the run's own memory; read into bytes, the pages stay the kernel's page cache.
    """

    def __init__(self, stack: ExitStack, files: Sequence[Path]) -> None:
        self._fds = [stack.enter_context(path.open("rb")).fileno() for path in files]

    def line(self, file: int, offset: int, length: int) -> bytes:
        """The raw bytes of one indexed line."""
        return os.pread(self._fds[file], length, offset)
