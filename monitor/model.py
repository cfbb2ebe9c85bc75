"""The validated event: the one noun every stage after validation speaks.

Times are integer epoch seconds (`t`) so windows are plain subtraction; civil dates (months, ages)
are taken in China Standard Time, UTC+8, where all of the source departments are.
"""

from __future__ import annotations

import datetime as dt

from msgspec import Struct

from monitor.payloads import Payload

__all__ = ["CST", "DAY", "Event", "day_of", "month_of", "t_of_date"]

DAY = 86_400
CST = dt.timezone(dt.timedelta(hours=8), "CST")
_CST_SHIFT = 8 * 3600


class Event(Struct, frozen=True, array_like=True):
    """A validated event, routed to its household.  `digest` fingerprints the content (not the id)."""

    event_id: str
    category: str
    t: int
    occurred_at: str
    person_id: str | None
    household_id: str
    source_dept: str | None
    payload: Payload
    digest: str

    @property
    def key(self) -> tuple[int, str]:
        """Event-time order, ties broken by id: the one order every runtime applies events in."""
        return (self.t, self.event_id)


def day_of(t: int) -> int:
    """Day number (proleptic ordinal) of an epoch time, in CST."""
    return (t + _CST_SHIFT) // DAY + 719_163


def month_of(t: int) -> int:
    """Calendar month index (year * 12 + month - 1) of an epoch time, in CST."""
    d = dt.date.fromordinal(day_of(t))
    return d.year * 12 + d.month - 1


def t_of_date(d: dt.date) -> int:
    """Epoch seconds of CST midnight starting this date."""
    return (d.toordinal() - 719_163) * DAY - _CST_SHIFT
