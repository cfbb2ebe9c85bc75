"""reliability.md F17 / R12 on the real broker: a fat household stops growing at the state bound.

Before the bound, one household of 6,000 such events stopped the worker: once its state outgrew the
producer's 1,000,000-byte request limit, faust's producer crashed with MessageSizeTooLargeError, and every
household of the partition stopped with it (RELIABILITY.md, B8). Now the events past the bound are
dead-lettered `too_large`, the same ones as in the embedded run, and the worker goes on.
"""

from __future__ import annotations

from typing import Any

import pytest

from monitor.pipeline.profile import MAX_STATE_BYTES
from monitor.runtime.stream_snapshot import read_topic
from monitor.runtime.topics import topics_for
from tests.files import fat_household
from tests.kafka.harness import observe, oracle, produce, wait_quiescent

pytestmark = pytest.mark.kafka

EVENTS = 4_200  # about 3,700 fit under the bound


def _too_large(dead_letters: list[dict[str, Any]]) -> list[str]:
    return sorted(d["event_id"] for d in dead_letters if d["reason"] == "too_large")


def test_a_fat_household_is_bounded_alike_embedded_and_on_kafka(kafka_case: Any) -> None:
    households, events = fat_household(kafka_case.tmp / "input", EVENTS)
    expected = oracle(kafka_case.settings, households, [events])
    refused = _too_large(expected.result.dead_letters)
    assert len(expected.result.dead_letters) == len(refused)  # nothing else is wrong with the input
    assert 0 < len(refused) < EVENTS
    (household_id, applied), = expected.applied.items()
    assert applied + len(refused) == EVENTS

    kafka_case.pool.start("w1")
    kafka_case.pool.wait_ready("w1")
    produce(kafka_case.env, households, [events])
    wait_quiescent(kafka_case.settings, kafka_case.pool, timeout_s=300)
    kafka_case.pool.assert_alive()

    seen = observe(kafka_case.settings)
    assert _too_large(seen.dead_letters) == refused
    assert seen.applied == expected.applied
    assert seen.scores(expected.rules, expected.result.as_of) == expected.scores
    changelog = list(read_topic(kafka_case.settings, topics_for(kafka_case.settings).profiles_changelog))
    assert {key.decode() for key, _, _, _ in changelog} == {household_id}
    assert max(len(value) for _, value, _, _ in changelog) <= MAX_STATE_BYTES
