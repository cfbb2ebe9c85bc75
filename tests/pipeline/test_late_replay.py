"""A late event rescoring only from just before it gives exactly the state a full replay of the household gives.

`apply_event` takes a late event (one older than the household's latest) by replaying the household; it
follows the events before the late one without scoring them and takes their alerts from the state. These
tests hold that shortcut to the full replay, byte for byte, on the bundled fixtures' households with the
most alerts, for a late event at every position, and check that the shortcut is taken.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

import monitor.pipeline.profile as profile
from bench.late import household_stories
from indicators.base import Context
from monitor.model import Event
from monitor.payloads import HouseholdRecord
from monitor.pipeline.profile import HouseholdState, Status, apply_event, encode_state, new_state, replay
from monitor.pipeline.rules import RuleSet
from monitor.pipeline.score import Scores
from monitor.privacy import Pseudonymiser

ROOT = Path(__file__).resolve().parents[2]
PSEUDO = Pseudonymiser(b"test-key")
Story = tuple[HouseholdRecord, list[Event]]


@pytest.fixture(scope="module")
def stories(rules: RuleSet) -> list[Story]:
    """The eight fixture households with the most alerts, each with its events in event-time order.

    Events are routed by the registry's members (`bench.late.household_stories`; a fixture move or birth is
    left out: routing is not what is tested here, the order of a household's events is).
    """
    every = household_stories(ROOT / "fixtures/households.jsonl", ROOT / "fixtures/events.jsonl")
    by_alerts = sorted(((len(replay(record, story, rules, PSEUDO).alerts), record.household_id, record, story)
                        for record, story in every), key=lambda x: (-x[0], x[1]))[:8]
    assert sum(alerts for alerts, *_ in by_alerts) >= 16  # (else the test proves little)
    chosen = [(record, story) for _, _, record, story in by_alerts]
    return chosen


def _comparable(state: HouseholdState) -> bytes:
    """The encoded state less what a replay cannot know: the arrival order of the digests, `created_by`."""
    return encode_state(msgspec.structs.replace(state, digests=dict(sorted(state.digests.items())), created_by={}))


def _in_order_but(record: HouseholdRecord, events: list[Event], late: int, rules: RuleSet) -> HouseholdState:
    state = new_state(record)
    for i, event in enumerate(events):
        if i != late:
            state = apply_event(state, event, rules, PSEUDO).state
    return state


def test_a_late_event_at_any_position_gives_the_full_replays_state_and_alerts(rules: RuleSet,
                                                                                stories: list[Story]) -> None:
    for record, events in stories:
        full = replay(record, events, rules, PSEUDO)
        expected = _comparable(full)
        for late in range(len(events) - 1):  # (the last one is not late)
            state = _in_order_but(record, events, late, rules)
            before = {a.alert_id for a in state.alerts}
            applied = apply_event(state, events[late], rules, PSEUDO)
            assert applied.status is Status.APPLIED
            assert _comparable(applied.state) == expected, (record.household_id, late)
            assert applied.new_alerts == [a for a in full.alerts if a.alert_id not in before]


def test_a_late_event_near_the_end_rescores_only_from_just_before_it(
        rules: RuleSet, stories: list[Story], monkeypatch: pytest.MonkeyPatch) -> None:
    record, events = max(stories, key=lambda story: len(story[1]))
    assert len(events) >= 12
    late = len(events) - 2
    state = _in_order_but(record, events, late, rules)
    calls: list[int] = []
    scored = profile.score_household

    def counted(ctx: Context, rules: RuleSet) -> Scores:
        calls.append(ctx.t)
        return scored(ctx, rules)

    monkeypatch.setattr(profile, "score_household", counted)
    apply_event(state, events[late], rules, PSEUDO)
    # The two events before it, the late one and the one after it; a full replay would score every event.
    assert calls == [e.t for e in events[late - 2:]]
