"""The state bound (reliability.md F17): an event that would make its household's encoded state larger than
the bound is refused, and the household goes on from its last stored form as if that event never came."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.model import Event
from monitor.payloads import HouseholdRecord
from monitor.pipeline.profile import HouseholdState, Status, apply_event, decode_state, encode_state, new_state
from monitor.pipeline.rules import RuleSet
from monitor.pipeline.validate import decode_household, validate_event
from monitor.privacy import Pseudonymiser
from tests.files import fat_household

PSEUDO = Pseudonymiser(b"test-key")
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> tuple[HouseholdRecord, list[Event]]:
    """A fixture household with 60 routine events, in event-time order."""
    households, events = fat_household(tmp_path_factory.mktemp("story"), 60)
    record = decode_household(households.read_bytes().strip())
    decoded = []
    for line in events.read_bytes().splitlines():
        _, event = validate_event(line, now=NOW)
        assert event is not None
        decoded.append(event)
    return record, sorted(decoded, key=lambda e: e.key)


def _sizes(rules: RuleSet, record: HouseholdRecord, events: list[Event]) -> list[int]:
    """The encoded size of the state after each event, with no bound that matters."""
    state, sizes = new_state(record), []
    for event in events:
        applied = apply_event(state, event, rules, PSEUDO)
        state = applied.state
        sizes.append(len(applied.encoded))
    return sizes


def test_the_event_that_would_cross_the_bound_is_refused_and_the_stored_state_stands(
        rules: RuleSet, story: tuple[HouseholdRecord, list[Event]]) -> None:
    record, events = story
    sizes = _sizes(rules, record, events)
    fits = len(events) - 5
    assert sizes[fits] > sizes[fits - 1]  # the next event does not fit (else the test proves nothing)
    bound = sizes[fits - 1]

    state, stored = new_state(record), b""
    for event in events[:fits]:
        applied = apply_event(state, event, rules, PSEUDO, max_bytes=bound)
        assert applied.status is Status.APPLIED
        assert applied.encoded == encode_state(applied.state)
        assert len(applied.encoded) <= bound
        state, stored = applied.state, applied.encoded
    for event in events[fits:]:
        refused = apply_event(state, event, rules, PSEUDO, max_bytes=bound)
        assert refused.status is Status.TOO_LARGE
        assert not refused.encoded and not refused.new_alerts
        state = decode_state(stored)  # what a runtime does: back to the last stored form
        assert [e.event_id for e in state.events] == [e.event_id for e in events[:fits]]

    # The household goes on from there: an applied event is still known (a redelivery is a duplicate).
    again = apply_event(state, events[0], rules, PSEUDO, max_bytes=bound)
    assert again.status is Status.DUPLICATE


def test_a_late_event_whose_replay_would_cross_the_bound_is_refused(
        rules: RuleSet, story: tuple[HouseholdRecord, list[Event]]) -> None:
    record, events = story
    late, in_order = events[3], events[:3] + events[4:]
    state: HouseholdState = new_state(record)
    for event in in_order:
        state = apply_event(state, event, rules, PSEUDO).state
    stored = encode_state(state)
    refused = apply_event(state, late, rules, PSEUDO, max_bytes=len(stored))
    assert refused.status is Status.TOO_LARGE
    restored = decode_state(stored)
    assert late.event_id not in restored.digests
    # With room for it, the same late event replays the household into the in-order state.
    applied = apply_event(restored, late, rules, PSEUDO)
    assert applied.status is Status.APPLIED
    in_order_state = new_state(record)
    for event in events:
        in_order_state = apply_event(in_order_state, event, rules, PSEUDO).state
    assert [e.event_id for e in applied.state.events] == [e.event_id for e in events]
    assert applied.state.scores == in_order_state.scores

