"""The worker's offset ledger: a commit never passes a message that was not handled."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.runtime.offsets import OffsetLedger, Take

pytestmark = pytest.mark.unit

TP = ("routed", 0)


def test_takes_only_the_next_offset() -> None:
    ledger = OffsetLedger()
    assert ledger.take(TP, 5) is Take.NOT_OURS  # not seeded yet
    generation = ledger.close()
    assert ledger.seed(generation, {TP: 5})
    assert ledger.take(TP, 6) is Take.AHEAD
    assert ledger.take(TP, 5) is Take.TAKE
    assert ledger.take(TP, 5) is Take.SEEN
    assert ledger.take(TP, 6) is Take.TAKE
    assert ledger.committable() == {}  # taken is not handled
    assert ledger.done(TP, 5)
    assert ledger.committable() == {TP: 6}
    ledger.mark_committed(generation, {TP: 6})
    assert ledger.committable() == {}


def test_a_partition_delivering_past_the_expected_offset_is_sought_back_until_it_is_taken() -> None:
    ledger = OffsetLedger()
    ledger.seed(ledger.close(), {TP: 10})
    assert ledger.reseek() == {}
    assert ledger.take(TP, 12) is Take.AHEAD  # the consumer sits past 10 and 11
    assert ledger.reseek() == {TP: 10}
    assert ledger.reseek() == {}  # once per call
    assert ledger.take(TP, 13) is Take.AHEAD  # a stale message after the seek: seek again
    assert ledger.reseek() == {TP: 10}
    assert ledger.take(TP, 13) is Take.AHEAD
    assert ledger.take(TP, 10) is Take.TAKE  # the expected one arrived: no seek needed
    assert ledger.reseek() == {}


def test_a_seed_for_an_older_assignment_is_ignored() -> None:
    ledger = OffsetLedger()
    old = ledger.close()
    new = ledger.close()
    assert not ledger.seed(old, {TP: 3})
    assert ledger.take(TP, 3) is Take.NOT_OURS
    assert ledger.seed(new, {TP: 3})


def test_a_handle_finishing_after_the_revocation_is_not_recorded() -> None:
    ledger = OffsetLedger()
    generation = ledger.close()
    ledger.seed(generation, {TP: 0})
    assert ledger.take(TP, 0) is Take.TAKE
    generation = ledger.close()  # revoked while message 0 was being handled
    ledger.seed(generation, {TP: 0})
    assert not ledger.done(TP, 0)  # not taken in this assignment: it is delivered again
    assert ledger.committable() == {}


def test_dropped_messages_are_expected_again() -> None:
    ledger = OffsetLedger()
    generation = ledger.close()
    ledger.seed(generation, {TP: 0})
    for offset in range(3):
        ledger.take(TP, offset)
    ledger.done(TP, 0)
    ledger.forget_taken([TP])
    assert ledger.take(TP, 1) is Take.TAKE  # 1 and 2 were dropped unhandled: taken again
    assert ledger.committable() == {TP: 1}


# A consumer that redelivers, seeks back and forth and is revoked, against a log of LOG messages.
LOG = 30
step = st.one_of(
    st.tuples(st.just("deliver"), st.integers(0, LOG - 1)),
    st.tuples(st.just("handle"), st.just(0)),
    st.tuples(st.just("drop"), st.just(0)),
    st.tuples(st.just("commit"), st.just(0)),
    st.tuples(st.just("rebalance"), st.just(0)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(step, max_size=120))
def test_commits_never_pass_an_unhandled_message(steps: list[tuple[str, int]]) -> None:
    ledger = OffsetLedger()
    broker_committed = 0
    ledger.seed(ledger.close(), {TP: broker_committed})
    handled: set[int] = set()
    buffer: list[int] = []  # taken, not yet handled, in order
    for action, offset in steps:
        if action == "deliver" and ledger.take(TP, offset) is Take.TAKE:
            buffer.append(offset)
        elif action == "handle" and buffer:
            first = buffer.pop(0)
            handled.add(first)
            ledger.done(TP, first)
        elif action == "drop":
            ledger.forget_taken([TP])
            buffer.clear()
        elif action == "commit":
            generation = ledger.generation
            offsets = ledger.committable()
            if TP in offsets:
                assert offsets[TP] > broker_committed  # commits only move forward
                broker_committed = offsets[TP]
            ledger.mark_committed(generation, offsets)
        elif action == "rebalance":
            buffer.clear()
            ledger.seed(ledger.close(), {TP: broker_committed})
        assert set(range(broker_committed)) <= handled, "committed past a message never handled"
