"""Stage 2: route an event to its household.

Membership changes over time (births, deaths, marriages, moves), so the directory keeps, per person,
the households they joined and when; an event about a person goes to the household the person belonged
to at the event's time.  The directory reads and writes a plain mapping, so a runtime can back it with
a dict (embedded) or a changelogged table (Kafka).
"""

from __future__ import annotations

from bisect import insort
from collections.abc import MutableMapping

from monitor.model import Event
from monitor.payloads import CaMarriageRegistration, HouseholdRecord, PsHukouMigration

__all__ = ["BEFORE_TIME", "Directory", "joins_household"]

BEFORE_TIME = -(1 << 62)


def joins_household(event: Event) -> bool:
    """True when the event makes its person a member of its household from its time on."""
    if not event.person_id or not event.household_id:
        return False
    if event.category == "ps_birth_registration":
        return True
    if isinstance(event.payload, PsHukouMigration):
        return event.payload.direction == "in"
    if isinstance(event.payload, CaMarriageRegistration):
        return event.payload.direction == "joins"
    return False


class Directory:
    """person_id → [(from_time, household_id)], sorted by time."""

    def __init__(self, store: MutableMapping[str, list[tuple[int, str]]] | None = None) -> None:
        self.store: MutableMapping[str, list[tuple[int, str]]] = store if store is not None else {}

    def add(self, person_id: str, household_id: str, since: int = BEFORE_TIME) -> None:
        """Record that the person belongs to the household from `since` on."""
        homes = list(self.store.get(person_id, ()))
        entry = (since, household_id)
        if entry not in homes:
            insort(homes, entry)
            self.store[person_id] = homes  # re-assign: a changelogged table only sees assignments

    def register(self, record: HouseholdRecord, since: int = BEFORE_TIME) -> None:
        """Every member of a registry record belongs to it."""
        for member in record.members:
            self.add(member.person_id, record.household_id, since)

    def observe(self, event: Event) -> None:
        """Learn a membership change from an event (a birth, a move in, a spouse joining)."""
        if joins_household(event):
            assert event.person_id is not None
            self.add(event.person_id, event.household_id, event.t)

    def resolve(self, person_id: str, t: int) -> str | None:
        """The person's household at time t (their first known one if t is before all of them)."""
        homes = self.store.get(person_id)
        if not homes:
            return None
        current = homes[0][1]
        for since, household_id in homes:
            if since > t:
                break
            current = household_id
        return current
