"""`monitor produce`: send a registry file and event files to their topics (contract §3.3, §5).

kafka-python's producer with acks='all' and idempotence (a retried batch is not written twice),
batched with a short linger.  The registry goes first to `households` (key household_id) and is
flushed before any event is sent, so a running worker knows the households before their events.
Each event line goes to the topic of its category, keyed by household_id, else by person_id; the
line is only parsed cheaply, for routing.  No line is ever dropped: a line that is not JSON, not an
object, or of an unknown category goes to `household-data` with no key, and a registry line without a
usable household_id goes to `households` under a key made from its hash (a compacted topic refuses
records without a key), so the worker dead-letters each of them with its topic, partition and offset.
A line over 512 KiB (far above the 64 KiB event limit, near the broker's message limit) is cut to
64 KiB + 1 byte, which the worker dead-letters as `too_large`.  Blank lines are skipped, as in the
embedded runtime.  Only sends the broker acknowledged are counted; any failure gives exit status 1.
A `.parquet` file is sent row by row as the JSON object each row stands for (`parquet_input.py`).
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from monitor.categories import CATEGORIES, Stream
from monitor.pipeline.validate import MAX_EVENT_BYTES
from monitor.runtime.parquet_input import ParquetSpool
from monitor.runtime.topics import bootstrap_servers, ensure_topics, topics_for

if TYPE_CHECKING:
    from monitor.config import Settings

__all__ = ["event_route", "produce_files", "registry_key"]

MAX_SEND_BYTES = 512 * 1024


class _RouteFields(msgspec.Struct):
    """Only the fields routing needs; everything else in the line is skipped by the decoder."""

    category: Any = None
    household_id: Any = None
    person_id: Any = None


class _RegistryFields(msgspec.Struct):
    household_id: Any = None


_route_dec = msgspec.json.Decoder(_RouteFields)
_registry_dec = msgspec.json.Decoder(_RegistryFields)


def event_route(raw: bytes) -> tuple[Stream, str | None]:
    """(topic stream, key) for one event line: never raises."""
    try:
        fields = _route_dec.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return Stream.HOUSEHOLD_DATA, None
    category = fields.category
    if not isinstance(category, str) or category not in CATEGORIES:
        return Stream.HOUSEHOLD_DATA, None
    for key in (fields.household_id, fields.person_id):
        if isinstance(key, str) and key:
            return CATEGORIES[category].stream, key
    return CATEGORIES[category].stream, None


def registry_key(raw: bytes) -> str:
    """The key of a registry line: its household_id, or `invalid-<sha256>` when it has none."""
    try:
        household_id = _registry_dec.decode(raw).household_id
    except (msgspec.DecodeError, RecursionError):
        household_id = None
    if isinstance(household_id, str) and household_id:
        return household_id
    return "invalid-" + hashlib.sha256(raw).hexdigest()[:32]


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        for line in handle:
            raw = line.rstrip(b"\r\n")
            if raw.strip():
                yield raw if len(raw) <= MAX_SEND_BYTES else raw[:MAX_EVENT_BYTES + 1]


def _count_lines(paths: Sequence[Path]) -> int:
    total = 0
    for path in paths:
        with path.open("rb") as handle:
            total += sum(1 for line in handle if line.strip())
    return total


def produce_files(settings: Settings, households_path: Path | None, event_paths: Sequence[Path], *,
                  quiet: bool = False) -> int:
    """Send the files; print the counts per topic.  Returns the exit status.

    A Parquet file's rows go as the JSON objects they stand for, from the spool of `parquet_input`.
    """
    with ParquetSpool() as spool:
        return _produce(settings, spool.as_lines(households_path) if households_path else None,
                        [spool.as_lines(path) for path in event_paths], quiet=quiet)


def _produce(settings: Settings, households_path: Path | None, event_paths: Sequence[Path], *, quiet: bool) -> int:
    from kafka import KafkaProducer
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    ensure_topics(settings)
    topics = topics_for(settings)
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers(settings), acks="all", enable_idempotence=True,
                             linger_ms=20, batch_size=512 * 1024,
                             max_request_size=1 << 20, retries=2**31 - 1, client_id="monitor-produce")
    acked: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    errors: list[str] = []

    def on_ok(topic: str) -> Any:
        def ok(_metadata: Any) -> None:
            acked[topic] += 1
        return ok

    def on_error(topic: str) -> Any:
        def error(exc: BaseException) -> None:
            failed[topic] += 1
            if len(errors) < 5:
                errors.append(f"{topic}: {type(exc).__name__}: {exc}")
        return error

    def send(topic: str, key: str | None, value: bytes) -> None:
        future = producer.send(topic, key=key.encode() if key is not None else None, value=value)
        future.add_callback(on_ok(topic))
        future.add_errback(on_error(topic))

    console = Console(stderr=True)
    started = time.perf_counter()
    files = ([households_path] if households_path else []) + list(event_paths)
    total = _count_lines(files)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True, disable=quiet) as bar:
            task = bar.add_task("producing", total=total)
            done = 0
            if households_path is not None:
                bar.update(task, description=f"registry {households_path.name}")
                for raw in _lines(households_path):
                    send(topics.households, registry_key(raw), raw)
                    done += 1
                    if done % 1000 == 0:
                        bar.update(task, completed=done)
                producer.flush()  # the registry is on the broker before any event
            for path in event_paths:
                bar.update(task, description=f"events {path.name}")
                for raw in _lines(path):
                    stream, key = event_route(raw)
                    send(topics.stream(stream), key, raw)
                    done += 1
                    if done % 1000 == 0:
                        bar.update(task, completed=done)
            bar.update(task, completed=done, description="flushing")
            producer.flush()
    finally:
        producer.close(timeout=30)
    elapsed = time.perf_counter() - started
    sent = sum(acked.values())
    if not quiet or failed:
        for topic in sorted(set(acked) | set(failed)):
            extra = f"  ({failed[topic]:,} FAILED)" if failed[topic] else ""
            print(f"{topic:<40} {acked[topic]:>10,}{extra}")
        rate = sent / elapsed if elapsed > 0 else 0.0
        print(f"sent {sent:,} records in {elapsed:.1f}s ({rate:,.0f}/s) to {settings.broker}")
    for error in errors:
        print(f"monitor produce: error: {error}", file=sys.stderr)
    return 1 if failed else 0
