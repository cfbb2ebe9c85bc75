"""The figures a `Context` memoises (incomes, ages, earners, household income) and the ones `advance` hands
over are exactly what `MemberState` and `HouseholdFacts` compute directly, at every event time."""

from __future__ import annotations

from pathlib import Path

from indicators.base import Context
from monitor.errors import InvalidEventError
from monitor.household import INCOME_TYPES, advance, facts_from_record
from monitor.model import DAY, Event
from monitor.payloads import HouseholdRecord
from monitor.pipeline.route import Directory
from monitor.pipeline.rules import load_rules
from monitor.pipeline.validate import decode_household, validate_event

ROOT = Path(__file__).resolve().parents[2]


def _households() -> list[tuple[HouseholdRecord, list[Event]]]:
    records = [decode_household(line) for line in (ROOT / "fixtures/households.jsonl").read_bytes().splitlines()]
    directory = Directory()
    for record in records:
        directory.register(record)
    events: dict[str, list[Event]] = {}
    for line in (ROOT / "fixtures/events.jsonl").read_bytes().splitlines():
        try:
            _, event = validate_event(line)
        except InvalidEventError:  # the fixtures include lines meant for the dead letters
            continue
        if event is None:
            continue
        household = event.household_id or (directory.resolve(event.person_id, event.t) if event.person_id else None)
        if household:
            events.setdefault(household, []).append(event)
    return [(r, sorted(events.get(r.household_id, []), key=lambda e: e.key)) for r in records]


def test_context_figures_equal_the_direct_ones() -> None:
    rules = load_rules(ROOT / "rules.yaml")
    checked = 0
    for record, events in _households():
        facts = facts_from_record(record)
        region = rules.region(facts.region)
        for event in events:
            rows = advance(facts, event)
            for t in (event.t, event.t + 400 * DAY):  # the event's time, and one the timelines never saw
                known = rows if t == event.t else None
                ctx = Context(facts=facts, events_by_category={}, t=t, region=region, known_incomes=known)
                assert ctx.income == facts.household_income(t)
                assert [m.person_id for m in ctx.earners] == [m.person_id for m in facts.earners(t)]
                for m in facts.members.values():
                    assert ctx.age(m) == m.age(t)
                    for kind in INCOME_TYPES:
                        assert ctx.income_of(m, kind) == m.income_of(kind, t)
                    assert ctx.monthly_income(m) == m.monthly_income(t)
                checked += 1
    assert checked > 500
