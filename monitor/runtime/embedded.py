"""Embedded runtime: files in, files out, no broker (contract §5 `monitor run`).

Reads the registry and the event files, validates and routes every line (bad lines become dead
letters with their file and line; the first pass is `monitor.runtime.intake`), applies each
household's events in event-time order through the same `apply_event` the Kafka worker calls, and
writes alerts.jsonl, deadletter.jsonl and anomalies.jsonl; the DuckDB snapshot is its sink's job.
Nothing here decides a score or an alert: that is all in the core.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import polars as pl

from monitor.model import Event
from monitor.payloads import HouseholdRecord
from monitor.pipeline.alerts import Alert
from monitor.pipeline.anomalies import Anomaly
from monitor.pipeline.portrait import Portrait, portrait
from monitor.pipeline.profile import HouseholdState, Status, apply_event, new_state
from monitor.pipeline.rules import RuleSet
from monitor.pipeline.validate import decode_household, validate_event
from monitor.privacy import Pseudonymiser
from monitor.records import alert_record, encode_line, utc_now_text
from monitor.runtime.intake import REGISTRY_FILE, Intake, LineReader, read_inputs, triage
from monitor.runtime.snapshot import SnapshotBuilder
from monitor.runtime.spool import AlertSpool, output_order

__all__ = ["HouseholdSink", "RunResult", "run_embedded", "run_to_files", "write_outputs"]

Progress = Callable[[str, int, int], None]
_BATCH_HOUSEHOLDS = 20_000  # households applied between two hand-overs to the sink


class HouseholdSink(Protocol):
    """Where the applied households go: the analyst snapshot's builder, or the result itself."""

    def add_households(self, portraits: Sequence[Portrait]) -> None:
        """Take the profiles of a batch of households."""

    def add_events(self, rows: Sequence[tuple[str, str, str, str]]) -> None:
        """Take (event_id, household_id, category, occurred_at) for the events applied in the batch."""


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
                 sink: HouseholdSink | None = None) -> RunResult:
    """Run the whole pipeline on files.  `now` bounds future timestamps (default: the wall clock).

    Two passes: `read_inputs` validates and indexes every line; then each household's events are
    decoded again from their byte locations and applied, household by household in id order.  With a
    `sink`, each batch of portraits and event-index rows is handed to it and not kept in the result, so
    memory holds the index and the encoded alerts, not a million profiles.
    """
    result = RunResult(spool=AlertSpool() if sink else None)
    now = now or dt.datetime.now(dt.UTC)
    intake = read_inputs(households, event_files, pseudonymiser, now=now, received_at=utc_now_text(),
                         progress=(lambda read: progress("read", read, 0)) if progress else None)
    result.events_read, result.anomalies = intake.events_read, intake.anomalies
    with ExitStack() as stack:
        lines = LineReader(stack, intake.files)
        to_apply = triage(intake, lines)
        result.duplicates = intake.duplicates
        latest = to_apply["t"].max() if to_apply.height else 0
        result.as_of = int(as_of.timestamp()) if as_of else int(cast(int, latest))
        keep = sink or _KeepAll(result)
        order = sorted(intake.records)
        counts = dict(to_apply.group_by("household").len().iter_rows())
        start = 0
        for first in range(0, len(order), _BATCH_HOUSEHOLDS):
            batch = order[first:first + _BATCH_HOUSEHOLDS]
            rows = sum(counts.get(hid, 0) for hid in batch)
            window = to_apply.slice(start, rows)
            start += rows
            portraits, event_rows = _apply_batch(batch, window, counts, intake, lines, rules, pseudonymiser, now,
                                                 result, keep_states)
            keep.add_households(portraits)
            keep.add_events(event_rows)
            if progress:
                progress("apply", first + len(batch), len(order))
    result.dead_letters = intake.dead_letters
    result.alerts.sort(key=output_order)
    result.dead_letters.sort(key=lambda d: (d["source"]["file"] != households.name, d["source"]["file"],
                                            d["source"]["line"]))
    return result


def _apply_batch(batch: Sequence[str], window: pl.DataFrame, counts: dict[str, int], intake: Intake,
                 lines: LineReader, rules: RuleSet, pseudonymiser: Pseudonymiser,
                 now: dt.datetime, result: RunResult, keep_states: bool,
                 ) -> tuple[list[Portrait], list[tuple[str, str, str, str]]]:
    """Decode and apply the events of a batch of households (`window` holds their index rows, in order)."""
    files, offsets, lengths, routed = (window[c].to_list() for c in ("file", "offset", "length", "routed"))
    portraits: list[Portrait] = []
    event_rows: list[tuple[str, str, str, str]] = []
    row = 0
    for household_id in batch:
        state = new_state(_record(intake, lines, household_id, now))
        events = []
        count = counts.get(household_id, 0)
        for i in range(row, row + count):
            _, event = validate_event(lines.line(files[i], offsets[i], lengths[i]), now=now)
            assert event is not None  # it was valid in the first pass, with the same `now`
            events.append(_routed(event, household_id) if routed[i] else event)
        row += count
        for event in sorted(events, key=lambda e: e.key):
            applied = apply_event(state, event, rules, pseudonymiser)
            state = applied.state
            if applied.status is Status.APPLIED:
                result.events_applied += 1
                for alert in applied.new_alerts:
                    result.alert_levels[alert.level] += 1
                    result.alert_families[alert.trigger_family] += 1
                    if result.spool is not None:
                        result.spool.add(alert)
                    else:
                        result.alerts.append(alert)
                result.anomalies.extend(applied.new_anomalies)
                result.indicators_fired.update(state.scores.readings)
                event_rows.append((event.event_id, household_id, event.category, event.occurred_at))
        made = portrait(state, result.as_of, rules)
        portraits.append(made)
        result.households += 1
        result.levels[made.level] += 1
        if keep_states:
            result.states[household_id] = state
    return portraits, event_rows


def _record(intake: Intake, lines: LineReader, household_id: str,
            now: dt.datetime) -> HouseholdRecord:
    """A household's registry record, decoded again from its line (the registry or an event)."""
    file, offset, length = intake.records[household_id]
    raw = lines.line(file, offset, length)
    if file == REGISTRY_FILE:
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
                 progress: Progress | None = None) -> RunResult:
    """`monitor run`: the run, its JSONL outputs and the analyst snapshot, in `out`.

    The profiles go into the snapshot's columnar builder batch by batch as they are made, so the run
    never holds every household's profile as Python objects.
    """
    out.mkdir(parents=True, exist_ok=True)
    # Built next to its final place, so the rename is free; a run that fails leaves no half-built file.
    with SnapshotBuilder(pseudonymiser, workdir=out) as builder:
        result = run_embedded(households, event_files, rules, pseudonymiser, as_of=as_of, now=now,
                              progress=progress, sink=builder)
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
