"""Embedded runtime: files in, files out, no broker (contract §5 `monitor run`).

Reads the registry and the event files, validates and routes every line (bad lines become dead
letters with their file and line), applies each household's events in event-time order through the
same `apply_event` the Kafka worker calls, and writes alerts.jsonl, deadletter.jsonl and the DuckDB
snapshot.  Nothing here decides a score or an alert: that is all in the core.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.errors import InvalidEventError, RejectReason
from monitor.model import Event
from monitor.payloads import HouseholdRecord
from monitor.pipeline.alerts import Alert
from monitor.pipeline.anomalies import Anomaly, person_in_two_households
from monitor.pipeline.portrait import Portrait, portrait
from monitor.pipeline.profile import HouseholdState, Status, apply_event, new_state
from monitor.pipeline.route import Directory
from monitor.pipeline.rules import RuleSet
from monitor.pipeline.validate import decode_household, validate_event
from monitor.privacy import Pseudonymiser, Purpose
from monitor.records import alert_record, dead_letter, encode_line, utc_now_text

__all__ = ["RunResult", "iter_lines", "run_embedded", "write_outputs"]

Progress = Callable[[str, int, int], None]


@dataclass
class RunResult:
    """What a run did, for the summary and the snapshot."""

    portraits: list[Portrait] = field(default_factory=list)
    states: dict[str, HouseholdState] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    events_read: int = 0
    events_applied: int = 0
    duplicates: int = 0
    as_of: int = 0
    event_index: list[tuple[str, str, str, str]] = field(default_factory=list)
    indicators_fired: set[str] = field(default_factory=set)

    @property
    def dead_by_reason(self) -> Counter[str]:
        """Dead letters counted by reason."""
        return Counter(d["reason"] for d in self.dead_letters)


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw bytes without the newline), skipping blank lines."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            raw = line.rstrip(b"\r\n")
            if raw.strip():
                yield number, raw


def run_embedded(households: Path, event_files: Sequence[Path], rules: RuleSet, pseudonymiser: Pseudonymiser,
                 *, as_of: dt.datetime | None = None, now: dt.datetime | None = None,
                 progress: Progress | None = None, keep_states: bool = False) -> RunResult:
    """Run the whole pipeline on files.  `now` bounds future timestamps (default: the wall clock)."""
    result = RunResult()
    received_at = utc_now_text()
    now = now or dt.datetime.now(dt.UTC)
    records: dict[str, HouseholdRecord] = {}
    registered_in: dict[str, str] = {}
    directory = Directory()
    for number, raw in iter_lines(households):
        try:
            record = decode_household(raw)
        except InvalidEventError as exc:
            result.dead_letters.append(dead_letter(exc, raw, {"file": households.name, "line": number},
                                                   received_at))
            continue
        if record.household_id in records:
            result.dead_letters.append(dead_letter(
                RejectReason.DUPLICATE_ID_CONFLICT, raw, {"file": households.name, "line": number}, received_at,
                detail="household_id appears twice in the registry; the first record is kept"))
            continue
        records[record.household_id] = record
        for member in record.members:
            other = registered_in.setdefault(member.person_id, record.household_id)
            if other != record.household_id:
                result.anomalies.append(person_in_two_households(
                    other, record.household_id, pseudonymiser.pseudonym(member.person_id, Purpose.ALERT)))
        directory.register(record)

    # Validate every line first: routing needs every membership change, whatever its position.
    valid: list[tuple[Event, bytes, dict[str, Any]]] = []
    for path in event_files:
        for number, raw in iter_lines(path):
            result.events_read += 1
            source = {"file": path.name, "line": number}
            try:
                _, event = validate_event(raw, now=now)
            except InvalidEventError as exc:
                result.dead_letters.append(dead_letter(exc, raw, source, received_at))
                continue
            assert event is not None
            valid.append((event, raw, source))
            if event.household_id and event.household_id in records:
                directory.observe(event)
            if isinstance(event.payload, HouseholdRecord) and event.household_id not in records:
                records[event.household_id] = event.payload
                directory.register(event.payload, event.t)
        if progress:
            progress("read", result.events_read, 0)

    per_household: dict[str, list[Event]] = {hid: [] for hid in records}
    first_digest: dict[str, str] = {}
    for event, raw, source in valid:
        household_id = event.household_id or (directory.resolve(event.person_id, event.t) if event.person_id
                                              else None)
        if not household_id or household_id not in records:
            result.dead_letters.append(dead_letter(
                RejectReason.UNKNOWN_HOUSEHOLD, raw, source, received_at, event_id=event.event_id,
                detail="the household is not in the registry" if household_id else
                "no registered household has this person"))
            continue
        known = first_digest.get(event.event_id)
        if known is not None:
            if known != event.digest:
                result.dead_letters.append(dead_letter(
                    RejectReason.DUPLICATE_ID_CONFLICT, raw, source, received_at, event_id=event.event_id,
                    detail="event_id was already applied with different content; the first is kept"))
            else:
                result.duplicates += 1
            continue
        first_digest[event.event_id] = event.digest
        if not event.household_id:
            event = _routed(event, household_id)
        per_household[household_id].append(event)

    latest = max((e.t for evs in per_household.values() for e in evs), default=0)
    result.as_of = int(as_of.timestamp()) if as_of else latest
    total, done = len(per_household), 0
    for household_id in sorted(per_household):
        state = new_state(records[household_id])
        for event in sorted(per_household[household_id], key=lambda e: e.key):
            applied = apply_event(state, event, rules, pseudonymiser)
            state = applied.state
            if applied.status is Status.APPLIED:
                result.events_applied += 1
                result.alerts.extend(applied.new_alerts)
                result.anomalies.extend(applied.new_anomalies)
                result.indicators_fired.update(state.scores.readings)
                result.event_index.append((event.event_id, household_id, event.category, event.occurred_at))
        result.portraits.append(portrait(state, result.as_of, rules))
        if keep_states:
            result.states[household_id] = state
        done += 1
        if progress and done % 2000 == 0:
            progress("apply", done, total)
    result.alerts.sort(key=lambda a: (_t(a), a.household_id, a.alert_id))
    result.dead_letters.sort(key=lambda d: (d["source"]["file"] != households.name, d["source"]["file"],
                                            d["source"]["line"]))
    return result


def _t(alert: Alert) -> int:
    return int(dt.datetime.fromisoformat(alert.event_time).timestamp())


def _routed(event: Event, household_id: str) -> Event:
    return Event(event.event_id, event.category, event.t, event.occurred_at, event.person_id, household_id,
                 event.source_dept, event.payload, event.digest)


def write_outputs(result: RunResult, out: Path) -> None:
    """alerts.jsonl, deadletter.jsonl and anomalies.jsonl, each written to a temporary name and renamed."""
    out.mkdir(parents=True, exist_ok=True)
    emitted_at = utc_now_text()
    _write_atomic(out / "alerts.jsonl", (encode_line(alert_record(a, emitted_at)) for a in result.alerts))
    _write_atomic(out / "deadletter.jsonl", (encode_line(d) for d in result.dead_letters))
    _write_atomic(out / "anomalies.jsonl", (encode_line(a) for a in result.anomalies))


def _write_atomic(path: Path, lines: Iterator[bytes]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        for line in lines:
            handle.write(line)
    tmp.replace(path)
