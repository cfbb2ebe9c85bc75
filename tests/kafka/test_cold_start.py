"""A cold start on the real broker: events that name only a person wait for the directory to fill.

A worker that starts on a large registry fills its person → household directory for as long as the
membership facts take to apply (RELIABILITY.md, B9). The router keeps an event about a person it does not
know yet while registry records or membership facts are on their way. It used to keep it for a fixed time
from the event's arrival, then send it the long way round (`{app}-by-person`, parked, retried), where it
reached its household after its successors; had its retries run out first, it would have been
dead-lettered `unknown_household` although the person was in the registry. Now the wait runs while the
directory fills.

The registry here is large and the router's wait short (`MONITOR_PERSON_WAIT_MS`), so that the directory
fills for longer than the wait. With the old rule put back, one run of this test wrote 1,781 records to
`{app}-by-person`; now none goes the long way, and the worker applies what the embedded run applies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.runtime.stream_snapshot import read_topic
from monitor.runtime.topics import topics_for
from tests.kafka.harness import fixture_set, observe, oracle, produce, wait_quiescent

pytestmark = pytest.mark.kafka

HOUSEHOLDS = 5_000
PERSON_EVENTS = 1_500
SHORT_WAIT = {"MONITOR_PERSON_WAIT_MS": "1500"}


def _person_only(events: list[Path], out: Path, limit: int) -> Path:
    """The first `limit` event lines that name no household: each one needs the directory."""
    kept: list[bytes] = []
    for path in events:
        kept += [line for line in path.read_bytes().splitlines() if line and b'"household_id"' not in line]
    out.write_bytes(b"\n".join(kept[:limit]) + b"\n")
    return out


def test_events_about_registry_members_wait_while_the_directory_fills(kafka_case: Any) -> None:
    households, events = fixture_set(kafka_case.tmp / "input", HOUSEHOLDS, seed=11, bad_lines=0)
    person_events = _person_only(events, kafka_case.tmp / "person-events.jsonl", PERSON_EVENTS)
    expected = oracle(kafka_case.settings, households, [person_events])
    assert sum(expected.applied.values()) >= PERSON_EVENTS * 0.95  # nearly all resolve to a registered household

    kafka_case.pool.start("w1", extra_env=SHORT_WAIT)
    kafka_case.pool.wait_ready("w1")
    produce(kafka_case.env, households, [person_events])
    wait_quiescent(kafka_case.settings, kafka_case.pool, timeout_s=300)

    topics = topics_for(kafka_case.settings)
    long_way = {name: sum(1 for _ in read_topic(kafka_case.settings, name))
                for name in (topics.by_person, topics.retry)}
    assert long_way == dict.fromkeys(long_way, 0), "an event went the long way round while the directory filled"
    seen = observe(kafka_case.settings)
    assert seen.dead_reasons == expected.dead_reasons, "events were dead-lettered that the embedded run applied"
    assert seen.applied == expected.applied
    assert seen.scores(expected.rules, expected.result.as_of) == expected.scores
