"""`monitor alerts [--follow] [--level L] [--json]`: read the alert feed (contract §4.1, §5).

A kafka-python consumer without a consumer group (nothing committed, `auto_offset_reset='earliest'`
set explicitly, since a default of 'latest' would silently skip the feed) reads the `alerts` topic
from its beginning.  Records are de-duplicated by alert_id, as every consumer of the feed should:
at-least-once delivery may repeat a record, always under the same id.  Without --follow it stops after
`timeout_s` seconds without a new record; with --follow it runs until interrupted.

One line per alert: event time, level, household, rule, trigger family, score, and the top reasons.
With --json, the alert records themselves, one JSON object per line.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import msgspec

from monitor.runtime.topics import kafka_consumer, topics_for

if TYPE_CHECKING:
    from monitor.config import Settings

__all__ = ["format_alert", "read_alerts"]

LEVEL_RANK = {"red": 3, "orange": 2, "yellow": 1}
_dec = msgspec.json.Decoder()


def format_alert(record: dict[str, Any]) -> str:
    """One readable line (no markup) for an alert record."""
    reasons = ", ".join(r.get("indicator_id", "?") for r in (record.get("reasons") or [])[:3])
    more = len(record.get("reasons") or []) - 3
    if more > 0:
        reasons += f" (+{more})"
    supersedes = "  ↑escalates" if record.get("supersedes") else ""
    return (f"{record.get('event_time', '?'):<25}  {str(record.get('level', '?')).upper():<6}  "
            f"{record.get('household_id', '?'):<16}  {record.get('rule_id', '?'):<26}  "
            f"{record.get('trigger_family', '?'):<11}  {float(record.get('score', 0.0)):5.1f}  {reasons}{supersedes}")


def read_alerts(settings: Settings, *, follow: bool = False, level: str | None = None, as_json: bool = False,
                timeout_s: float = 5.0) -> int:
    """Print the feed; returns the exit status."""
    from kafka import TopicPartition

    topic = topics_for(settings).alerts
    consumer = kafka_consumer(settings, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                              client_id="monitor-alerts")
    minimum = LEVEL_RANK.get(level or "", 0)
    seen: set[str] = set()
    shown = duplicates = 0
    try:
        partitions = None
        deadline = time.monotonic() + max(timeout_s, 1.0)
        while not partitions:
            partitions = consumer.partitions_for_topic(topic)
            if partitions:
                break
            if not follow and time.monotonic() > deadline:
                print(f"monitor alerts: topic {topic} does not exist (yet)", file=sys.stderr)
                return 0
            time.sleep(0.5)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        idle_since = time.monotonic()
        while True:
            batches = consumer.poll(timeout_ms=500)
            if batches:
                idle_since = time.monotonic()
            for records in batches.values():
                for message in records:
                    if message.value is None:
                        continue
                    try:
                        record = _dec.decode(message.value)
                        alert_id = record["alert_id"]
                    except (msgspec.DecodeError, KeyError, TypeError):
                        print(f"monitor alerts: skipping an unreadable record at {topic}/{message.partition}"
                              f"@{message.offset}", file=sys.stderr)
                        continue
                    if alert_id in seen:
                        duplicates += 1
                        continue
                    seen.add(alert_id)
                    if LEVEL_RANK.get(record.get("level", ""), 0) < minimum:
                        continue
                    shown += 1
                    if as_json:
                        sys.stdout.write(msgspec.json.encode(record).decode() + "\n")
                    else:
                        sys.stdout.write(format_alert(record) + "\n")
            sys.stdout.flush()
            if not follow and time.monotonic() - idle_since >= timeout_s:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    if not as_json:
        print(f"{shown:,} alerts shown ({len(seen):,} distinct, {duplicates:,} duplicate records skipped)",
              file=sys.stderr)
    return 0
