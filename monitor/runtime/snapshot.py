"""The analyst snapshot (contract §4.3): one DuckDB file, built in bulk from polars frames.

`SnapshotBuilder` turns chunks of portraits, alerts and event rows into columnar frames as they come
(`snapshot_frames`) and appends them to the tables of a file under construction on a background thread,
so a caller can drop each chunk's Python objects and the DuckDB work overlaps the Python work. `write`
adds the small tables and renames the file into place, so a reader never sees half a snapshot. Column
allowlist: household ids, region codes, scores, levels, indicator values, event ids and categories, alert
fields; member references only as analyst-key pseudonyms with an age band.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
import shutil
import sys
import tempfile
import threading
import weakref
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import duckdb
import msgspec
import polars as pl

from indicators import REGISTRY
from monitor.model import CST
from monitor.pipeline.alerts import Alert
from monitor.pipeline.anomalies import Anomaly
from monitor.pipeline.portrait import Portrait
from monitor.privacy import Pseudonymiser, Purpose
from monitor.runtime.snapshot_frames import (
    ALERTS,
    DIMENSIONS,
    EVENTS,
    HOUSEHOLDS,
    INDICATOR_VALUES,
    MEMBERS,
    alerts_frame,
    events_frame,
    households_frame,
    indicator_values_frame,
    members_frame,
)

__all__ = ["DIMENSIONS", "SNAPSHOT_TABLES", "SnapshotBuilder", "open_read_only", "write_snapshot"]

SNAPSHOT_TABLES = ("households", "indicator_values", "alerts", "events", "indicators", "members", "snapshot_meta",
                   "deadletters", "anomalies")
CHUNK = 50_000  # households (or alerts; 4x as many event rows) per frame when `write_snapshot` gets everything at once
_IN_FLIGHT = 4  # frames handed to the writer thread and not yet gathered: bounds the builder's memory
_ROW_GROUP = 122_880  # DuckDB's row group size: appends are whole row groups (see _TableWriter)
_SCHEMAS = {"households": HOUSEHOLDS, "indicator_values": INDICATOR_VALUES, "alerts": ALERTS, "events": EVENTS,
            "members": MEMBERS}


class SnapshotBuilder:
    """Builds the snapshot chunk by chunk, then writes it in one go.

    Each `add_*` call converts its chunk to frames at once and keeps no reference to the Python objects;
    a background thread appends the frames to a DuckDB file in `workdir` (default: the system temp
    directory; on the filesystem of the final path, the last rename is free). Rows keep the order in which
    they were added. A builder writes once; one that is dropped unwritten deletes its file.
    """

    def __init__(self, pseudonymiser: Pseudonymiser, *, workdir: Path | None = None) -> None:
        self._pseudonym = pseudonymiser.pseudonym_function(Purpose.ANALYST)
        self._writer = _TableWriter(Path(tempfile.mkdtemp(prefix=".snapshot-", dir=workdir)))
        self._discard = weakref.finalize(self, self._writer.discard)
        self._households = 0
        self._alerts = 0

    def __enter__(self) -> SnapshotBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def discard(self) -> None:
        """Stop the writer and delete the file under construction (nothing, once written)."""
        self._discard()

    def add_households(self, portraits: Sequence[Portrait]) -> None:
        """Rows of `households`, `indicator_values` and `members`."""
        self._writer.append("households", households_frame(portraits))
        self._writer.append("indicator_values", indicator_values_frame(portraits))
        self._writer.append("members", members_frame(portraits, self._pseudonym))
        self._households += len(portraits)

    def add_events(self, rows: Sequence[tuple[str, str, str, str]]) -> None:
        """Rows of `events`: (event_id, household_id, category, occurred_at ISO text)."""
        self._writer.append("events", events_frame(rows))

    def add_alerts(self, alerts: Sequence[Alert]) -> None:
        """Rows of `alerts`."""
        self._writer.append("alerts", alerts_frame(alerts))
        self._alerts += len(alerts)

    def write(self, path: Path, *, rules_version: str, weights: dict[str, float],
              dead_letters: Sequence[dict[str, object]], as_of: int, events_applied: int,
              anomalies: Sequence[Anomaly] = ()) -> str:
        """Write the snapshot atomically; returns its snapshot_id."""
        created_at = dt.datetime.now(dt.UTC)
        snapshot_id = hashlib.sha256(
            f"{rules_version}|{as_of}|{self._households}|{created_at.isoformat()}".encode()).hexdigest()[:16]
        meta = pl.DataFrame({
            "snapshot_id": [snapshot_id], "created_at": [created_at], "rules_version": [rules_version],
            "as_of": [dt.datetime.fromtimestamp(as_of, CST).astimezone(dt.UTC)],
            "events_applied": [events_applied], "events_dead_lettered": [len(dead_letters)],
            "households": [self._households], "alerts": [self._alerts],
        })
        try:
            for name, schema in _SCHEMAS.items():
                self._writer.append(name, pl.DataFrame(schema=schema))  # creates the tables nothing was added to
            self._writer.append("indicators", _catalogue(weights))
            self._writer.append("anomalies", _anomalies(anomalies))
            self._writer.append("deadletters", _dead_letters(dead_letters))
            self._writer.append("snapshot_meta", meta)
            self._writer.finish()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            shutil.move(self._writer.file, tmp)
            tmp.replace(path)
        finally:
            self._discard()
        return snapshot_id


class _TableWriter:
    """Appends frames to the tables of one DuckDB file on one background thread, in the order given.

    DuckDB releases the GIL while it compresses and writes, so this runs beside the Python work of
    building the next frames (see `_GilHandoff` for what that takes). Frames are gathered per table
    and appended in whole row groups (the rest at the end): DuckDB writes those straight to the file,
    while a smaller append goes to the WAL first and is written again at the next checkpoint, which
    makes 50k-row appends cost nearly twice as much.
    """

    def __init__(self, directory: Path) -> None:
        _GIL_HANDOFF.enter()
        self.directory = directory
        self.file = directory / "snapshot.duckdb"
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot-writer")
        self._pending: deque[Future[None]] = deque()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._tables: set[str] = set()
        self._gathered: dict[str, pl.DataFrame] = {}

    def append(self, name: str, frame: pl.DataFrame) -> None:
        """Queue `frame` for table `name`; raises what an earlier append raised."""
        while len(self._pending) >= _IN_FLIGHT:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._gather, name, frame))

    def finish(self) -> None:
        """Wait for every append, write what is gathered, checkpoint and close the file."""
        self._pending.append(self._pool.submit(self._close))
        while self._pending:
            self._pending.popleft().result()

    def discard(self) -> None:
        """Stop, close, and delete the directory (with the file unless `finish` moved it away)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._con is not None:
            self._con.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        _GIL_HANDOFF.leave()

    def _gather(self, name: str, frame: pl.DataFrame) -> None:
        gathered = self._gathered.get(name)
        gathered = frame if gathered is None else pl.concat([gathered, frame], rechunk=False)
        whole = gathered.height - gathered.height % _ROW_GROUP
        if whole:
            self._write(name, gathered.slice(0, whole))
        self._gathered[name] = gathered.slice(whole)

    def _write(self, name: str, frame: pl.DataFrame) -> None:
        if name in self._tables and frame.is_empty():
            return
        if self._con is None:
            self._con = _connect(self.file)
        self._con.register("chunk", frame.to_arrow(compat_level=pl.CompatLevel.newest()))
        try:
            if name in self._tables:
                self._con.execute(f'INSERT INTO "{name}" SELECT * FROM chunk')  # noqa: S608 - our own table names
            else:
                self._con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM chunk')  # noqa: S608
                self._tables.add(name)
        finally:
            self._con.unregister("chunk")

    def _close(self) -> None:
        for name, rest in self._gathered.items():
            self._write(name, rest)
        if self._con is None:
            self._con = _connect(self.file)
        self._con.execute("CHECKPOINT")
        self._con.close()
        self._con = None


def write_snapshot(path: Path, portraits: Sequence[Portrait], alerts: Sequence[Alert],
                   events: Iterable[tuple[str, str, str, str]], pseudonymiser: Pseudonymiser, *,
                   rules_version: str, weights: dict[str, float], dead_letters: Sequence[dict[str, object]],
                   as_of: int, events_applied: int, anomalies: Sequence[Anomaly] = ()) -> str:
    """Write the snapshot atomically from everything at once; returns its snapshot_id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with SnapshotBuilder(pseudonymiser, workdir=path.parent) as builder:
        for start in range(0, len(portraits), CHUNK):
            builder.add_households(portraits[start:start + CHUNK])
        for start in range(0, len(alerts), CHUNK):
            builder.add_alerts(alerts[start:start + CHUNK])
        rows = iter(events)
        while chunk := list(itertools.islice(rows, CHUNK * 4)):
            builder.add_events(chunk)
        return builder.write(path, rules_version=rules_version, weights=weights, dead_letters=dead_letters,
                             as_of=as_of, events_applied=events_applied, anomalies=anomalies)


class _GilHandoff:
    """A short GIL switch interval while any snapshot writer is open.

    DuckDB's Python client takes the GIL back after every task of a query (to check for Ctrl-C). While
    the caller's thread runs Python, each of those waits up to the switch interval (5 ms by default),
    which more than halves the writer's speed; at 0.5 ms it runs almost as fast as alone, and the
    caller's thread, which yields only when another thread asks, loses nothing measurable.
    """

    INTERVAL = 0.0005

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = 0
        self._saved = sys.getswitchinterval()

    def enter(self) -> None:
        with self._lock:
            if self._open == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, self.INTERVAL))
            self._open += 1

    def leave(self) -> None:
        with self._lock:
            self._open -= 1
            if self._open == 0:
                sys.setswitchinterval(self._saved)


_GIL_HANDOFF = _GilHandoff()


def _connect(file: Path) -> duckdb.DuckDBPyConnection:
    # One DuckDB thread: the caller's Python thread is busy building the next frames, and a second
    # thread costs CPU (and compression: members' file part nearly doubles) for no gain on two cores.
    return duckdb.connect(str(file), config={"threads": 1})


def _anomalies(anomalies: Sequence[Anomaly]) -> pl.DataFrame:
    return pl.DataFrame([msgspec.to_builtins(a) for a in anomalies] or None,
                        schema={f: pl.String for f in Anomaly.__struct_fields__}, orient="row")


def _dead_letters(dead_letters: Sequence[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"reason": [str(d["reason"]) for d in dead_letters], "detail": [str(d["detail"]) for d in dead_letters],
         "event_id": [d.get("event_id") for d in dead_letters],
         "source": [msgspec.json.encode(d["source"]).decode() for d in dead_letters]},
        schema={"reason": pl.String, "detail": pl.String, "event_id": pl.String, "source": pl.String})


def _catalogue(weights: dict[str, float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"indicator_id": [i.id for i in REGISTRY], "dimension": [i.dimension.value for i in REGISTRY],
         "name_zh": [i.name_zh for i in REGISTRY], "name_en": [i.name_en for i in REGISTRY],
         "inputs": [sorted(i.inputs) for i in REGISTRY], "headline": [i.headline is not None for i in REGISTRY]},
        schema_overrides={"inputs": pl.List(pl.String)},
    ).with_columns(pl.col("indicator_id").replace_strict(weights, return_dtype=pl.Float64).alias("weight"))


def open_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    """How analysts should open a snapshot: read-only, no file or network access from SQL."""
    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con
