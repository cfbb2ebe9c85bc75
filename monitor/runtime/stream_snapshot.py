"""`monitor snapshot --out F`: the DuckDB snapshot (contract §4.3) from the Kafka-side state.

Reads, with kafka-python and no consumer group (nothing is committed, so it never disturbs the
workers and works while they run):

- the `profiles` table's changelog `{app_id}-profiles-changelog` from the beginning to the end offsets
  taken at the start (compacted, full-state values: the last value per key wins, a tombstone deletes);
- the `alerts` topic, de-duplicated by alert_id (at-least-once delivery may repeat a record);
- the `deadletter` topic, one record per (input message, reason);

then evaluates each household's portrait at the as-of time (the latest event time of all households,
as the embedded runtime does) and writes the snapshot with the same `SnapshotBuilder` as `monitor run`.
The latest states and the alerts wait in temporary files (`monitor.runtime.spool`), so memory holds one
chunk of households at a time, not the whole province.

Evaluating the portraits is most of the time (all 67 indicators again, at the as-of time), and each
household's is independent of the others', so with `jobs` > 1 a pool of forked processes evaluates
them, a few pieces of a chunk ahead, while this process builds the columns of each piece that comes
back: the snapshot is the same, row for row.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from monitor.pipeline.alerts import Alert
from monitor.pipeline.anomalies import Anomaly
from monitor.pipeline.portrait import Portrait, portrait
from monitor.pipeline.profile import HouseholdState, decode_state
from monitor.runtime.long_lived import frozen_from_collector
from monitor.runtime.pieces import PiecePool
from monitor.runtime.snapshot import CHUNK, SnapshotBuilder
from monitor.runtime.spool import AlertSpool, StateSpool
from monitor.runtime.topics import kafka_consumer, topics_for

if TYPE_CHECKING:
    from monitor.config import Settings
    from monitor.pipeline.rules import RuleSet
    from monitor.privacy import Pseudonymiser

__all__ = ["StreamSnapshot", "read_alerts_topic", "read_dead_letters", "read_states", "read_topic",
           "snapshot_from_records", "snapshot_from_stream", "write_stream_snapshot"]

_json_dec = msgspec.json.Decoder()
_alert_decoder = msgspec.json.Decoder(Alert)


def read_topic(settings: Settings, topic: str, *, timeout_s: float = 60.0) -> Iterator[tuple[bytes | None, bytes | None,
                                                                                           int, int]]:
    """(key, value, partition, offset) of every record of `topic` up to the end offsets taken at the start.

    A topic that does not exist yields nothing.  Raises TimeoutError when `timeout_s` pass without a
    record before the end is reached (an idle limit, not a total one: a big changelog takes as long as
    it takes, a broker that stopped answering does not hang the reader).
    """
    from kafka import TopicPartition

    consumer = kafka_consumer(settings, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                              client_id="monitor-reader", consumer_timeout_ms=1000,
                              max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > consumer.position(tp)}
        deadline = time.monotonic() + timeout_s
        while remaining:
            if time.monotonic() > deadline:
                msg = f"could not read {topic} to its end: nothing arrived for {timeout_s:.0f}s"
                raise TimeoutError(msg)
            batches = consumer.poll(timeout_ms=500, max_records=10_000)
            if batches:
                deadline = time.monotonic() + timeout_s
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield record.key, record.value, record.partition, record.offset
            for tp in list(remaining):
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        consumer.close()


def read_states(settings: Settings) -> dict[str, HouseholdState]:
    """household_id → state, from the profiles changelog (last value per key wins); for small deployments."""
    with StateSpool() as spool:
        _spool_states(_records(settings, topics_for(settings).profiles_changelog), spool)
        return {key: decode_state(encoded) for key, encoded in itertools.chain.from_iterable(spool.in_order(CHUNK))}


def read_alerts_topic(settings: Settings) -> tuple[list[dict[str, Any]], int]:
    """The alert records of the feed, de-duplicated by alert_id (first copy kept), and the raw count."""
    seen: dict[str, dict[str, Any]] = {}
    raw = 0
    for _key, value, _partition, _offset in read_topic(settings, topics_for(settings).alerts):
        if value is None:
            continue
        raw += 1
        record = _json_dec.decode(value)
        seen.setdefault(record["alert_id"], record)
    return list(seen.values()), raw


def read_dead_letters(settings: Settings) -> list[dict[str, Any]]:
    """Every record of the dead-letter topic."""
    return [_json_dec.decode(value) for _k, value, _p, _o in read_topic(settings, topics_for(settings).deadletter)
            if value is not None]


@dataclass
class StreamSnapshot:
    """What a snapshot from the stream wrote, and where its time went (seconds)."""

    households: int = 0
    events_applied: int = 0
    alerts: int = 0
    duplicate_alert_records: int = 0
    dead_letters: int = 0
    read_s: float = 0.0  # the changelog, the feed and the dead letters read and spooled
    build_s: float = 0.0  # states decoded, portraits evaluated, frames built (the DuckDB appends overlap it)
    write_s: float = 0.0  # the last tables, the writer's queue drained, the file renamed into place


Records = Iterable[tuple[bytes | None, bytes | None]]  # (key, value) of a topic, in offset order
STATES_PER_CHUNK = 20_000  # households read back, and their portraits built, between two hand-overs


def write_stream_snapshot(settings: Settings, out_path: Path, rules: RuleSet, *, jobs: int = 1) -> StreamSnapshot:
    """Write the snapshot from the changelog, the alert feed and the dead letters of the deployment."""
    topics = topics_for(settings)
    return snapshot_from_records(out_path, rules, settings.pseudonymiser(),
                                 changelog=_records(settings, topics.profiles_changelog),
                                 alerts=_records(settings, topics.alerts),
                                 dead_letters=_records(settings, topics.deadletter), jobs=jobs)


def snapshot_from_records(out_path: Path, rules: RuleSet, pseudonymiser: Pseudonymiser, *, changelog: Records,
                          alerts: Records, dead_letters: Records, jobs: int = 1) -> StreamSnapshot:
    """Write the snapshot from the records of the three topics (read in this order).

    Memory holds about one chunk of households at a time: the latest state of each household and the
    de-duplicated alerts wait, encoded, in temporary files, and the snapshot builder turns each chunk
    (or, with a pool, each piece of one) into columns as it comes.  `jobs` processes evaluate the
    portraits (1: this one).
    """
    stats = StreamSnapshot()
    started = time.perf_counter()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with StateSpool() as state_spool, AlertSpool() as alert_spool, ExitStack() as stack:
        _spool_states(changelog, state_spool)
        raw_alerts = _spool_alerts(alerts, alert_spool)
        unique_dead = _unique_dead_letters([_json_dec.decode(v) for _k, v in dead_letters if v is not None])
        as_of = state_spool.last_event_time  # as the embedded runtime does: the latest event time of all households
        read = time.perf_counter()
        stack.enter_context(frozen_from_collector())  # the spools' indexes live until the snapshot is written
        # The pool first: its processes are forked before the builder starts its writer thread.
        pool = stack.enter_context(PiecePool(partial(_evaluate, rules=rules, as_of=as_of), _Evaluated, jobs))
        builder = stack.enter_context(SnapshotBuilder(pseudonymiser, workdir=out_path.parent))
        anomalies: list[Anomaly] = []
        # In pieces even in one process: what a piece makes dies young, where a chunk's made every full
        # collection of the garbage collector walk it.
        pieces = (chunk[start:start + _PIECE] for chunk in state_spool.in_order(STATES_PER_CHUNK)
                  for start in range(0, len(chunk), _PIECE))
        for evaluated in pool.in_order(pieces):
            builder.add_households(evaluated.portraits)
            builder.add_events(evaluated.rows)
            stats.events_applied += len(evaluated.rows)
            anomalies += evaluated.anomalies
        for chunk_of_alerts in alert_spool.in_order(CHUNK):
            builder.add_alerts(chunk_of_alerts)
        built = time.perf_counter()
        builder.write(out_path, rules_version=rules.version, weights={i: s.weight for i, s in rules.indicators.items()},
                      dead_letters=unique_dead, as_of=as_of, events_applied=stats.events_applied,
                      anomalies=anomalies)
        stats.households, stats.alerts, stats.dead_letters = len(state_spool), len(alert_spool), len(unique_dead)
        stats.duplicate_alert_records = raw_alerts - len(alert_spool)
    stats.read_s, stats.build_s = read - started, built - read
    stats.write_s = time.perf_counter() - built
    return stats


class _Evaluated(msgspec.Struct):
    """What the snapshot takes from a piece of households: portraits, event rows, anomalies."""

    portraits: list[Portrait] = msgspec.field(default_factory=list)
    rows: list[tuple[str, str, str, str]] = msgspec.field(default_factory=list)
    anomalies: list[Anomaly] = msgspec.field(default_factory=list)


_PIECE = 1_000  # households per piece (handed to a pool process, or evaluated here)


def _evaluate(piece: Sequence[tuple[str, bytes]], *, rules: RuleSet, as_of: int) -> _Evaluated:
    """Decode each state and evaluate its portrait at `as_of`."""
    done = _Evaluated()
    for household_id, encoded in piece:
        state = decode_state(encoded)
        done.portraits.append(portrait(state, as_of, rules))
        done.rows += [(e.event_id, household_id, e.category, e.occurred_at) for e in state.events]
        # Anomalies come from the states, not the topic: a state holds exactly those of its applied events.
        done.anomalies += state.anomalies
    return done


def snapshot_from_stream(settings: Settings, out_path: Path, rules: RuleSet, *, jobs: int = 1) -> int:
    """`monitor snapshot`: write the snapshot from the stream and print what it holds; returns the exit status."""
    stats = write_stream_snapshot(settings, out_path, rules, jobs=jobs)
    took = stats.read_s + stats.build_s + stats.write_s
    print(f"wrote {out_path}: {stats.households:,} households, {stats.events_applied:,} events applied, "
          f"{stats.alerts:,} alerts ({stats.duplicate_alert_records:,} duplicate records skipped), "
          f"{stats.dead_letters:,} dead letters, in {took:.1f}s")
    if not stats.households:
        # Legitimate for a deployment that has not started, but far more often a wrong topic prefix.
        print(f"monitor snapshot: no household state in {topics_for(settings).profiles_changelog} on "
              f"{settings.broker}: is MONITOR_TOPIC_PREFIX ({settings.topic_prefix!r}) the workers' one?",
              file=sys.stderr)
    return 0


def _records(settings: Settings, topic: str) -> Iterator[tuple[bytes | None, bytes | None]]:
    return ((key, value) for key, value, _partition, _offset in read_topic(settings, topic))


def _spool_states(changelog: Records, spool: StateSpool) -> None:
    for key, value in changelog:
        if key is not None:
            spool.put(key.decode(), value)


def _spool_alerts(records: Records, spool: AlertSpool) -> int:
    """The feed's alerts into `spool`, de-duplicated by alert_id (first copy kept); returns the raw count."""
    seen: set[str] = set()
    raw = 0
    for _key, value in records:
        if value is None:
            continue
        raw += 1
        alert = _alert_decoder.decode(value)  # the record's other fields (emitted_at, ...) are not kept
        if alert.alert_id not in seen:
            seen.add(alert.alert_id)
            spool.add(alert)
    return raw


def _unique_dead_letters(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (input message, reason): a replay after a crash can dead-letter a message again."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in records:
        source = record.get("source") or {}
        key = (source.get("topic"), source.get("partition"), source.get("offset"), record.get("reason"))
        seen.setdefault(key, record)
    return list(seen.values())
