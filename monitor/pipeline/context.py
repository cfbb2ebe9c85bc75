"""Build the `Context` indicators read: the household's facts and events as of one event time."""

from __future__ import annotations

from collections.abc import Iterable

from indicators.base import Context, Region
from monitor.household import advance, facts_from_record
from monitor.model import Event
from monitor.payloads import HouseholdRecord

__all__ = ["context_at"]


def context_at(record: HouseholdRecord, events: Iterable[Event], t: int, region: Region,
               trigger: Event | None = None) -> Context:
    """Replay the events at or before t, in event-time order, over the registry baseline."""
    facts = facts_from_record(record)
    by_category: dict[str, list[Event]] = {}
    for event in sorted(events, key=lambda e: e.key):
        if event.t > t:
            break
        advance(facts, event)
        by_category.setdefault(event.category, []).append(event)
    facts.last_t = max(facts.last_t, t)
    return Context(facts=facts, events_by_category=by_category, t=t, region=region, trigger=trigger)
