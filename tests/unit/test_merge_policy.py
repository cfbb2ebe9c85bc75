"""The worker's event-time merge (`merger.pick`): smallest key first, and no message held for long.

The policy is a pure function of the buffered heads, so it is tested here without a broker; the Kafka
tests run it inside real workers.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.runtime.merger import (
    MERGE_MAX_HOLD_S,
    NO_TIME,
    NOT_HELD,
    AssignedPartitions,
    may_have_unread,
    pick,
)

pytestmark = pytest.mark.unit

CAUGHT_UP = (False, False)  # no empty partition has unread messages; not every partition has a head
BEHIND = (True, False)


def choose(heads: list[tuple[int, float, str]], now: float, *, hold_s: float = 0.25,
           scan: tuple[bool, bool] = CAUGHT_UP, ordered: bool = True, overfull: bool = False) -> str | None:
    return pick(heads, now, ordered=ordered, hold_s=hold_s, overfull=overfull, scan=lambda: scan)


def test_nothing_buffered_nothing_released() -> None:
    assert choose([], 10.0) is None


def test_the_smallest_event_time_goes_first_once_the_hold_is_over() -> None:
    heads = [(300, 9.0, "p0"), (100, 9.5, "p1"), (200, 9.9, "p2")]
    assert choose(heads, 10.0) == "p1"


def test_the_hold_is_timed_from_the_longest_waiting_message() -> None:
    # The smallest key arrived just now; p0 has waited 1 s.  Timed from the newcomer (the old rule), every
    # newcomer with a smaller key restarted the wait and a steady trickle held messages for seconds.
    heads = [(300, 9.0, "p0"), (100, 9.99, "p1")]
    assert choose(heads, 10.0) == "p1"
    assert choose(heads, 9.1) is None  # nothing has waited 0.25 s yet


def test_equal_event_times_go_in_arrival_order() -> None:
    heads = [(100, 9.8, "p0"), (100, 9.2, "p1"), (100, 9.5, "p2")]
    assert choose(heads, 10.0) == "p1"


def test_a_partition_with_unread_messages_is_waited_for_up_to_the_bound() -> None:
    heads = [(100, 9.0, "p0")]
    assert choose(heads, 10.0, scan=BEHIND) is None
    assert choose(heads, 9.0 + MERGE_MAX_HOLD_S, scan=BEHIND) == "p0"


def test_a_partition_is_waited_for_while_it_has_unread_messages_or_its_end_is_not_known_yet() -> None:
    assert may_have_unread(highwater=12, expected=10)
    assert not may_have_unread(highwater=10, expected=10)
    # aiokafka knows a partition's end only after a fetch response for it: until then it may have messages.
    assert may_have_unread(highwater=None, expected=10)
    # A partition the ledger has not been seeded for yet delivers nothing the merge may take.
    assert not may_have_unread(highwater=12, expected=None)


def test_registry_records_and_overflow_go_at_once() -> None:
    assert choose([(200, 9.99, "p0"), (NO_TIME, 9.99, "p1")], 10.0, scan=BEHIND) == "p1"
    assert choose([(200, 9.99, "p0"), (100, 9.99, "p1")], 10.0, scan=BEHIND, overfull=True) == "p1"


def test_without_a_hold_a_caught_up_merge_releases_at_once() -> None:
    assert choose([(100, 10.0, "p0")], 10.0, hold_s=0.0) == "p0"
    assert choose([(100, 10.0, "p0")], 10.0, hold_s=0.0, scan=BEHIND) is None


def test_every_partition_with_a_head_needs_no_hold() -> None:
    assert choose([(100, 10.0, "p0"), (50, 10.0, "p1")], 10.0, scan=(False, True)) == "p1"


def test_unordered_takes_the_longest_waiting() -> None:
    assert choose([(0, 9.5, "p0"), (0, 9.1, "p1")], 10.0, ordered=False, scan=BEHIND) == "p1"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.floats(0, 10)), min_size=1, max_size=8),
       st.floats(0, 1), st.floats(0, 10))
def test_whatever_goes_has_the_smallest_key_and_nothing_waits_past_the_hold(
        raw: list[tuple[int, float]], hold_s: float, now_after: float) -> None:
    heads = [(key, arrived, f"p{i}") for i, (key, arrived) in enumerate(raw)]
    now = max(arrived for _, arrived, _ in heads) + now_after
    chosen = choose(heads, now, hold_s=hold_s)
    waited = now - min(arrived for _, arrived, _ in heads)
    if waited >= hold_s:
        assert chosen is not None
    if chosen is not None:
        assert dict((tp, key) for key, _, tp in heads)[chosen] == min(key for key, _, _ in heads)


def test_merge_hold_setting() -> None:
    assert Settings.from_env({}).merge_hold_s == 0.0
    assert Settings.from_env({"MONITOR_MERGE_HOLD_MS": "250"}).merge_hold_s == 0.25
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"MONITOR_MERGE_HOLD_MS": "-5"})
    assert "MONITOR_MERGE_HOLD_MS" in str(caught.value) and "\n" not in str(caught.value)


class _RebalancingConsumer:
    """Like aiokafka's consumer: `highwater` of a partition it does not hold fails an assertion."""

    def __init__(self, held: set[int]) -> None:
        self.held = held
        self.asked = 0

    def assignment(self) -> set[int]:
        self.asked += 1
        return set(self.held)

    def highwater(self, tp: int) -> int:
        assert tp in self.held, "Partition is not assigned"
        return 10 * tp


def test_a_partition_gone_in_a_rebalance_is_not_waited_for() -> None:
    consumer = _RebalancingConsumer({0, 1})
    assigned = AssignedPartitions(SimpleNamespace(consumer=consumer), [0, 1, 2])
    assert assigned.now() == [0, 1]
    consumer.held = {1, 2}  # the consumer's thread moved on; `now()` still answers from a moment ago
    assert assigned.now() == [0, 1] and consumer.asked == 1
    assert assigned.highwater(1) == 10
    assert assigned.highwater(0) == NOT_HELD
    assert not may_have_unread(assigned.highwater(0), expected=0)  # the merger does not wait for it
    assert assigned.now() == [1, 2] and consumer.asked == 2  # ... and asks for the assignment again
    assert assigned.highwater(2) == 20
    consumer.held = {2}
    assigned.forget()  # the worker's on-assigned handler
    assert assigned.now() == [2] and consumer.asked == 3
