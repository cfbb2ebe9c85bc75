"""Embedded runtime: files in, files out, no broker (contract §5 `monitor run`).

Reads the registry and the event files, validates and routes every line (bad lines become dead
letters with their file and line; the first pass is `monitor.runtime.intake`), applies each
household's events in event-time order through the same `apply_event` the Kafka worker calls (an
event refused because the state would outgrow its bound is dead-lettered too), and writes
alerts.jsonl, deadletter.jsonl and anomalies.jsonl; the DuckDB snapshot is its sink's job.
Nothing here decides a score or an alert: that is all in the core.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol, cast

import msgspec
import polars as pl

from monitor.errors import RejectReason
from monitor.model import Event
from monitor.payloads import HouseholdRecord
from monitor.pipeline.alerts import Alert
from monitor.pipeline.anomalies import Anomaly
from monitor.pipeline.portrait import Portrait, portrait
from monitor.pipeline.profile import (
    TOO_LARGE_DETAIL,
    HouseholdState,
    Status,
    apply_event,
    decode_state,
    encode_state,
    new_state,
)
from monitor.pipeline.rules import RuleSet
from monitor.pipeline.validate import decode_household, validate_event
from monitor.privacy import Pseudonymiser
from monitor.records import alert_record, encode_line, utc_now_text
from monitor.runtime.intake import REGISTRY_FILE, Intake, LineReader, read_inputs, triage
from monitor.runtime.long_lived import frozen_from_collector
from monitor.runtime.parquet_input import ParquetSpool
from monitor.runtime.pieces import PiecePool
from monitor.runtime.snapshot import SnapshotBuilder
from monitor.runtime.spool import AlertSpool, output_order

__all__ = ["HouseholdSink", "RunResult", "run_embedded", "run_to_files", "write_outputs"]

Progress = Callable[[str, int, int], None]


class HouseholdSink(Protocol):
    """Where the applied households go: the analyst snapshot's builder, or the result itself."""

    def add_households(self, portraits: Sequence[Portrait]) -> None:
        """Take the profiles of some households."""

    def add_events(self, rows: Sequence[tuple[str, str, str, str]]) -> None:
        """Take (event_id, household_id, category, occurred_at) of the events applied to those households."""


@dataclass
class RunResult:
    """What a run did, for the summary and the snapshot."""

    portraits: list[Portrait] = field(default_factory=list)
    states: dict[str, HouseholdState] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)  # in output order; empty when a sink took the run
    spool: AlertSpool | None = None  # ... the alerts of a run with a sink instead, encoded
    alert_levels: Counter[str] = field(default_factory=Counter)
    alert_families: Counter[str] = field(default_factory=Counter)
    anomalies: list[Anomaly] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    events_read: int = 0
    events_applied: int = 0
    duplicates: int = 0
    as_of: int = 0
    event_index: list[tuple[str, str, str, str]] = field(default_factory=list)
    indicators_fired: set[str] = field(default_factory=set)
    households: int = 0
    levels: Counter[str] = field(default_factory=Counter)

    def alerts_in_order(self, chunk: int = 50_000) -> Iterator[list[Alert]]:
        """Every alert of the run, in output order (event time, household, id), a chunk at a time."""
        if self.spool is not None:
            yield from self.spool.in_order(chunk)
            return
        for start in range(0, len(self.alerts), chunk):
            yield self.alerts[start:start + chunk]

    @property
    def dead_by_reason(self) -> Counter[str]:
        """Dead letters counted by reason."""
        return Counter(d["reason"] for d in self.dead_letters)


def run_embedded(households: Path, event_files: Sequence[Path], rules: RuleSet, pseudonymiser: Pseudonymiser,
                 *, as_of: dt.datetime | None = None, now: dt.datetime | None = None,
                 progress: Progress | None = None, keep_states: bool = False,
                 sink: HouseholdSink | None = None, jobs: int = 1) -> RunResult:
    """Run the whole pipeline on files.  `now` bounds future timestamps (default: the wall clock).

    Two passes: `read_inputs` validates and indexes every line; then each household's events are
    decoded again from their byte locations and applied, household by household in id order, in
    pieces of `_PIECE` households: here, or with `jobs` > 1 in a pool of forked processes (the result
    is the same, row for row).  With a `sink`, each piece's portraits and event-index rows are handed
    to it and not kept in the result, so memory holds the index and the encoded alerts, not a million
    profiles.
    """
    result = RunResult(spool=AlertSpool() if sink else None)
    now = now or dt.datetime.now(dt.UTC)
    with ExitStack() as stack:
        # The pool first, while this process is small and has started no thread of its own (polars has not run).
        apply = partial(_apply_households, rules=rules, pseudonymiser=pseudonymiser, now=now, keep_states=keep_states)
        pool = stack.enter_context(PiecePool(apply, _Applied, jobs))
        spool = stack.enter_context(ParquetSpool())
        intake = read_inputs(spool.as_lines(households), [spool.as_lines(path) for path in event_files],
                             pseudonymiser, now=now, received_at=utc_now_text(),
                             progress=(lambda read: progress("read", read, 0)) if progress else None)
        result.events_read, result.anomalies = intake.events_read, intake.anomalies
        lines = LineReader(stack, intake.files)
        to_apply = triage(intake, lines)
        result.duplicates = intake.duplicates
        latest = to_apply["t"].max() if to_apply.height else 0
        result.as_of = int(as_of.timestamp()) if as_of else int(cast(int, latest))
        keep = sink or _KeepAll(result)
        order = sorted(intake.records)
        stack.enter_context(frozen_from_collector())  # what the first pass built lives until the run ends
        if progress:
            progress("apply", 0, len(order))
        for done in pool.in_order(_pieces(order, to_apply, intake, lines, result.as_of)):
            _count(done, result)
            for file, line, event_id, raw in done.refused:
                intake.reject(RejectReason.TOO_LARGE, raw, file, line, event_id=event_id, detail=TOO_LARGE_DETAIL)
            # Handed over at once, so that the piece's objects die young: kept alive in batches of 20,000
            # households, every full collection of the garbage collector walked them (a one-process run of
            # 10,000 households took 47 s that way, 37 s this way).
            keep.add_households(done.portraits)
            keep.add_events(done.rows)
            if progress:
                progress("apply", result.households, len(order))
    result.dead_letters = intake.dead_letters
    result.alerts.sort(key=output_order)
    result.dead_letters.sort(key=lambda d: (d["source"]["file"] != households.name, d["source"]["file"],
                                            d["source"]["line"]))
    return result


# One household as a piece carries it: (household_id, its registry record's line, whether that line is in
# the registry (else a ps_household_register event), [(event line, whether the event was routed to it, its file
# index and line number)]).
_Household = tuple[str, bytes, bool, list[tuple[bytes, bool, int, int]]]
_Piece = tuple[int, list[_Household]]  # (the as-of time of the portraits, the households)
_PIECE = 1_000  # households per piece of work (here or in a pool process)


class _Applied(msgspec.Struct):
    """What applying some households made (a pool process sends it back encoded: see `PiecePool`)."""

    portraits: list[Portrait] = msgspec.field(default_factory=list)
    rows: list[tuple[str, str, str, str]] = msgspec.field(default_factory=list)  # applied events, for the index
    alerts: list[Alert] = msgspec.field(default_factory=list)
    anomalies: list[Anomaly] = msgspec.field(default_factory=list)
    fired: list[str] = msgspec.field(default_factory=list)  # indicators that had a reading after some event
    states: list[tuple[str, bytes]] = msgspec.field(default_factory=list)  # (encoded) only with keep_states
    # Events refused because their household's state would outgrow MAX_STATE_BYTES: (file, line, event_id, raw).
    refused: list[tuple[int, int, str, bytes]] = msgspec.field(default_factory=list)


def _pieces(order: Sequence[str], to_apply: pl.DataFrame, intake: Intake, lines: LineReader,
            as_of: int) -> Iterator[_Piece]:
    """The households in `order`, each with its lines read back, _PIECE at a time (with `as_of`).

    `to_apply` holds the index rows of the events to apply, sorted by household in the same order.
    """
    counts = dict(to_apply.group_by("household").len().iter_rows())
    start = 0
    for first in range(0, len(order), _PIECE):
        households = order[first:first + _PIECE]
        rows = sum(counts.get(household_id, 0) for household_id in households)
        # Python lists of one piece's rows at a time: of all ten million rows, they would take gigabytes.
        window = to_apply.slice(start, rows)
        start += rows
        files, offsets, lengths, routed, numbers = (window[c].to_list()
                                                    for c in ("file", "offset", "length", "routed", "line"))
        piece: list[_Household] = []
        row = 0
        for household_id in households:
            file, offset, length = intake.records[household_id]
            count = counts.get(household_id, 0)
            events = [(lines.line(files[i], offsets[i], lengths[i]), routed[i], files[i], numbers[i])
                      for i in range(row, row + count)]
            row += count
            piece.append((household_id, lines.line(file, offset, length), file == REGISTRY_FILE, events))
        yield as_of, piece


def _apply_households(piece: _Piece, *, rules: RuleSet, pseudonymiser: Pseudonymiser, now: dt.datetime,
                      keep_states: bool) -> _Applied:
    """Decode and apply each household's events in event-time order, and take its portrait at the as-of time."""
    as_of, households = piece
    done = _Applied()
    fired: set[str] = set()
    for household_id, record_line, from_registry, event_lines in households:
        record = _record(record_line, from_registry, now)
        state = new_state(record)
        stored = b""  # the state after its last applied event, as the Kafka runtime would store it
        events = []
        for raw, routed, file, line in event_lines:
            _, event = validate_event(raw, now=now)
            assert event is not None  # it was valid in the first pass, with the same `now`
            events.append((_routed(event, household_id) if routed else event, file, line, raw))
        for event, file, line, raw in sorted(events, key=lambda item: item[0].key):
            applied = apply_event(state, event, rules, pseudonymiser)
            if applied.status is Status.TOO_LARGE:
                state = decode_state(stored) if stored else new_state(record)
                done.refused.append((file, line, event.event_id, raw))
                continue
            state = applied.state
            if applied.status is Status.APPLIED:
                stored = applied.encoded
                done.alerts += applied.new_alerts
                done.anomalies += applied.new_anomalies
                fired.update(state.scores.readings)
                done.rows.append((event.event_id, household_id, event.category, event.occurred_at))
        done.portraits.append(portrait(state, as_of, rules))
        if keep_states:
            done.states.append((household_id, stored or encode_state(state)))
    done.fired = sorted(fired)
    return done


def _count(done: _Applied, result: RunResult) -> None:
    """Take into the result what a piece made, besides the portraits and event rows (the sink's)."""
    result.events_applied += len(done.rows)
    for alert in done.alerts:
        result.alert_levels[alert.level] += 1
        result.alert_families[alert.trigger_family] += 1
        if result.spool is not None:
            result.spool.add(alert)
        else:
            result.alerts.append(alert)
    result.anomalies += done.anomalies
    result.indicators_fired.update(done.fired)
    result.households += len(done.portraits)
    result.levels.update(p.level for p in done.portraits)
    for household_id, encoded in done.states:
        result.states[household_id] = decode_state(encoded)


def _record(raw: bytes, from_registry: bool, now: dt.datetime) -> HouseholdRecord:
    """A household's registry record, decoded again from its line (the registry or an event)."""
    if from_registry:
        return decode_household(raw)
    _, event = validate_event(raw, now=now)
    assert event is not None and isinstance(event.payload, HouseholdRecord)
    return event.payload


@dataclass
class _KeepAll:
    """The default sink: portraits and the event index stay in the result (tests and small runs)."""

    result: RunResult

    def add_households(self, portraits: Sequence[Portrait]) -> None:
        self.result.portraits.extend(portraits)

    def add_events(self, rows: Sequence[tuple[str, str, str, str]]) -> None:
        self.result.event_index.extend(rows)


def _routed(event: Event, household_id: str) -> Event:
    return Event(event.event_id, event.category, event.t, event.occurred_at, event.person_id, household_id,
                 event.source_dept, event.payload, event.digest)


def run_to_files(households: Path, event_files: Sequence[Path], rules: RuleSet, pseudonymiser: Pseudonymiser,
                 out: Path, *, as_of: dt.datetime | None = None, now: dt.datetime | None = None,
                 progress: Progress | None = None, jobs: int = 1) -> RunResult:
    """`monitor run`: the run, its JSONL outputs and the analyst snapshot, in `out` (`jobs`: see run_embedded).

    The profiles go into the snapshot's columnar builder piece by piece as they are made, so the run
    never holds every household's profile as Python objects.
    """
    out.mkdir(parents=True, exist_ok=True)
    # Built next to its final place, so the rename is free; a run that fails leaves no half-built file.
    with SnapshotBuilder(pseudonymiser, workdir=out) as builder:
        result = run_embedded(households, event_files, rules, pseudonymiser, as_of=as_of, now=now,
                              progress=progress, sink=builder, jobs=jobs)
        write_outputs(result, out, on_alerts=builder.add_alerts)
        builder.write(out / "monitor.duckdb", rules_version=rules.version,
                      weights={i: s.weight for i, s in rules.indicators.items()}, dead_letters=result.dead_letters,
                      as_of=result.as_of, events_applied=result.events_applied, anomalies=result.anomalies)
    return result


def write_outputs(result: RunResult, out: Path, on_alerts: Callable[[list[Alert]], None] | None = None) -> None:
    """alerts.jsonl, deadletter.jsonl and anomalies.jsonl, each written to a temporary name and renamed.

    `on_alerts` gets the alerts too, a chunk at a time as they are written (the snapshot's builder).
    """
    out.mkdir(parents=True, exist_ok=True)
    emitted_at = utc_now_text()

    def alert_lines() -> Iterator[bytes]:
        for chunk in result.alerts_in_order():
            if on_alerts is not None:
                on_alerts(chunk)
            for alert in chunk:
                yield encode_line(alert_record(alert, emitted_at))

    _write_atomic(out / "alerts.jsonl", alert_lines())
    _write_atomic(out / "deadletter.jsonl", (encode_line(d) for d in result.dead_letters))
    _write_atomic(out / "anomalies.jsonl", (encode_line(a) for a in result.anomalies))


def _write_atomic(path: Path, lines: Iterator[bytes]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        for line in lines:
            handle.write(line)
    tmp.replace(path)
