"""A household state is freed by reference counting alone: nothing in it refers back to it.

A worker keeps decoded states in a cache and drops the least recently used. A state caught in a reference
cycle (it once held the stepper that applied its events, which held the state) is freed only by Python's
cyclic collector, so a worker's dropped states piled up until a full collection: in a 5,000-household run
with a 500-state cache, a full collection every 1 to 2 s, of 140 to 325 ms (BENCHMARKS.md, twelfth session).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.late import household_stories
from monitor.pipeline.profile import HouseholdState, apply_event, decode_state, encode_state, new_state
from monitor.pipeline.rules import RuleSet
from monitor.privacy import Pseudonymiser

ROOT = Path(__file__).resolve().parents[2]
PSEUDO = Pseudonymiser(b"test-key")
OURS = ("HouseholdState", "HouseholdFacts", "MemberState", "_Stepper", "_EventIndex", "Scores")


@pytest.fixture
def cyclic_garbage() -> Iterator[list[object]]:
    """What the cyclic collector finds, kept for inspection; the collector is off meanwhile."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def _ours(garbage: list[object]) -> list[str]:
    return [type(o).__name__ for o in garbage if type(o).__name__ in OURS]


def test_states_applied_in_order_and_late_leave_no_cyclic_garbage(rules: RuleSet,
                                                                   cyclic_garbage: list[object]) -> None:
    stories = household_stories(ROOT / "fixtures/households.jsonl", ROOT / "fixtures/events.jsonl")[:60]
    states: list[HouseholdState] = []
    applied = late = 0
    for record, events in stories:
        state = new_state(record)
        order = events[1:] + events[:1]  # the first event last: a late event, applied by a replay
        for event in order:
            state = apply_event(state, event, rules, PSEUDO).state
            applied += 1
        late += len(events) > 1
        states.append(state)
        states.append(apply_event(decode_state(encode_state(state)), events[0], rules, PSEUDO).state)  # a redelivery
    assert applied >= 300 and late >= 30  # (else the test proves little)
    del states, state
    gc.collect()
    assert _ours(cyclic_garbage) == []


def test_the_check_sees_a_cycle_when_there_is_one(rules: RuleSet, cyclic_garbage: list[object]) -> None:
    record, events = household_stories(ROOT / "fixtures/households.jsonl", ROOT / "fixtures/events.jsonl")[0]
    state = apply_event(new_state(record), events[0], rules, PSEUDO).state
    state.__dict__["back"] = state  # what the stepper cached on the state used to do
    del state
    gc.collect()
    assert "HouseholdState" in _ours(cyclic_garbage)
