"""Small helpers that indicators of several dimensions share (one copy each, used everywhere)."""

from __future__ import annotations

import math

from indicators.base import Context
from monitor.model import Event

__all__ = ["RATIO_CAP", "better", "event_id_of", "last_of", "ratio"]

# A ratio against zero income is reported at this cap: large enough to be H everywhere, still a number.
RATIO_CAP = 10.0


def last_of(ctx: Context, category: str, person_id: str | None = None, days: float = math.inf) -> Event | None:
    """The latest event of one category (about one member, when given) within `days` before t."""
    for event in reversed(ctx.within(category, days)):
        if person_id is None or event.person_id == person_id:
            return event
    return None


def better(best: tuple[int, int] | None, grade: int, t: int) -> bool:
    """Whether (grade, t) beats the best so far: higher grade first, then the later event."""
    return grade > 0 and (best is None or (grade, t) >= best)


def ratio(amount: float, income: float, cap: float = RATIO_CAP) -> float:
    """Amount / income, at the cap when there is no income to set a positive amount against."""
    if income <= 0:
        return cap if amount > 0 else 0.0
    return min(cap, amount / income)


def event_id_of(event: Event | None) -> str | None:
    """The event id behind a finding, if there is an event."""
    return event.event_id if event is not None else None
