"""`monitor snapshot --out F`: the DuckDB snapshot (contract §4.3) from the Kafka-side state.

Reads, with kafka-python and no consumer group (nothing is committed, so it never disturbs the
workers and works while they run):

- the `profiles` table's changelog `{app_id}-profiles-changelog` from the beginning to the end offsets
  taken at the start (compacted, full-state values: the last value per key wins, a tombstone deletes);
- the `alerts` topic, de-duplicated by alert_id (at-least-once delivery may repeat a record);
- the `deadletter` topic, one record per (input message, reason);

then evaluates each household's portrait at the as-of time (the latest event time of all households,
as the embedded runtime does) and writes the snapshot through the same `write_snapshot`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from monitor.pipeline.alerts import Alert
from monitor.pipeline.portrait import portrait
from monitor.pipeline.profile import HouseholdState, decode_state
from monitor.runtime.topics import bootstrap_servers, topics_for

if TYPE_CHECKING:
    from monitor.config import Settings
    from monitor.pipeline.rules import RuleSet

__all__ = ["read_alerts_topic", "read_dead_letters", "read_states", "read_topic", "snapshot_from_stream"]

_json_dec = msgspec.json.Decoder()


def read_topic(settings: Settings, topic: str, *, timeout_s: float = 60.0) -> Iterator[tuple[bytes | None, bytes | None,
                                                                                           int, int]]:
    """(key, value, partition, offset) of every record of `topic` up to the end offsets taken at the start.

    A topic that does not exist yields nothing.  Raises TimeoutError when `timeout_s` pass without a
    record before the end is reached (an idle limit, not a total one: a big changelog takes as long as
    it takes, a broker that stopped answering does not hang the reader).
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers(settings), group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest",
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
    """household_id → state, from the profiles changelog (last value per key wins)."""
    latest: dict[bytes, bytes | None] = {}
    for key, value, _partition, _offset in read_topic(settings, topics_for(settings).profiles_changelog):
        if key is not None:
            latest[key] = value
    return {key.decode(): decode_state(value) for key, value in sorted(latest.items()) if value is not None}


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


def _unique_dead_letters(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (input message, reason): a replay after a crash can dead-letter a message again."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in records:
        source = record.get("source") or {}
        key = (source.get("topic"), source.get("partition"), source.get("offset"), record.get("reason"))
        seen.setdefault(key, record)
    return list(seen.values())


def snapshot_from_stream(settings: Settings, out_path: Path, rules: RuleSet) -> int:
    """Write the snapshot from the changelog, the alert feed and the dead letters; returns the exit status."""
    from monitor.runtime.snapshot import write_snapshot

    started = time.perf_counter()
    states = read_states(settings)
    records, raw_alerts = read_alerts_topic(settings)
    dead_letters = _unique_dead_letters(read_dead_letters(settings))
    as_of = max((state.events[-1].t for state in states.values() if state.events), default=0)
    portraits = [portrait(state, as_of, rules) for _hid, state in sorted(states.items())]
    alert_fields = set(Alert.__struct_fields__)
    alerts = [msgspec.convert({k: v for k, v in r.items() if k in alert_fields}, Alert) for r in records]
    alerts.sort(key=lambda a: (dt.datetime.fromisoformat(a.event_time).timestamp(), a.household_id, a.alert_id))
    events = [(e.event_id, hid, e.category, e.occurred_at) for hid, state in sorted(states.items())
              for e in state.events]
    weights = {i: s.weight for i, s in rules.indicators.items()}
    # Anomalies come from the states, not the topic: a state holds exactly those of its applied events.
    anomalies = [anomaly for _hid, state in sorted(states.items()) for anomaly in state.anomalies]
    write_snapshot(out_path, portraits, alerts, events, settings.pseudonymiser(), rules_version=rules.version,
                   weights=weights, dead_letters=dead_letters, as_of=as_of, events_applied=len(events),
                   anomalies=anomalies)
    print(f"wrote {out_path}: {len(portraits):,} households, {len(events):,} events applied, "
          f"{len(alerts):,} alerts ({raw_alerts - len(alerts):,} duplicate records skipped), "
          f"{len(dead_letters):,} dead letters, in {time.perf_counter() - started:.1f}s")
    return 0
