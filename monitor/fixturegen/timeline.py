"""The story board of one household: the events written for it so far, and the draws stories share.

Stories append raw events (time, category, person, payload); `writer.encode_household` turns them into
JSON lines once the whole household is written.  A person event whose person is not in the registry
file (a newborn, a spouse who joined) always carries household_id, since nothing else could route it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from monitor.fixturegen.clock import DAY, END, HOUR
from monitor.fixturegen.households import Household
from monitor.fixturegen.people import FOREVER, IdAllocator, Person

__all__ = ["RawEvent", "Timeline"]

# (t, order of emission, category, person or None for household-level, payload, force household_id)
RawEvent = tuple[int, int, str, Person | None, dict[str, Any], bool]


class Timeline:
    """Events of one household plus the helpers every story uses."""

    __slots__ = ("events", "h", "ids", "rng", "showcase")

    def __init__(self, h: Household, rng: random.Random, ids: IdAllocator, *, showcase: bool = False) -> None:
        self.h, self.rng, self.ids, self.showcase = h, rng, ids, showcase
        self.events: list[RawEvent] = []

    # -- writing -------------------------------------------------------------------------------------------
    def emit(self, t: int, category: str, person: Person | None, payload: dict[str, Any], *,
             with_household: bool = False, after_gone: bool = False) -> bool:
        """Add an event (False when dropped: after the window end, or after the person died or left).

        `after_gone` lets a story write about someone who is gone: a deliberate data anomaly (a pension
        paid after death) or the paperwork of a departure (the hukou transfer after a marriage).
        """
        if t > END or t < 0 or (person is not None and t > person.gone and not after_gone):
            return False
        self.events.append((t, len(self.events), category, person, payload,
                            with_household or (person is not None and not person.in_registry)))
        if person is not None and t > person.last_t:
            person.last_t = t
        return True

    # -- draws ---------------------------------------------------------------------------------------------
    def chance(self, p: float) -> bool:
        """A random branch; a showcase household takes every optional branch so its categories appear."""
        return self.showcase or self.rng.random() < p

    def start(self, earliest: int = 20 * DAY, follow: int = 120 * DAY) -> int:
        """A story start time; a showcase leaves room for `follow` of follow-up events before the end."""
        latest = END - (follow if self.showcase else 5 * DAY)
        latest = max(latest, earliest + DAY)
        return self.rng.randrange(earliest, latest)

    def office(self, t: int) -> int:
        """The same day at a random office-hours time (08:30-17:30)."""
        return t - t % DAY + 8 * HOUR + 1800 + self.rng.randrange(9 * HOUR)

    def later(self, t: int, lo_days: float, hi_days: float) -> int:
        """An office-hours time between lo and hi days after t."""
        return self.office(t + int(self.rng.uniform(lo_days, hi_days) * DAY))

    def money(self, lo: float, hi: float) -> float:
        """An amount in yuan, rounded to whole yuan."""
        return float(round(self.rng.uniform(lo, hi)))

    # -- members -------------------------------------------------------------------------------------------
    def present(self, t: int = 0, until: int = 0) -> list[Person]:
        """Registry members present from t until `until` (alive, not moved out)."""
        end = max(t, until)
        return [m for m in self.h.members if m.gone > end]

    def pick(self, test: Callable[[Person], bool], t: int = 0, until: int = END,
             weight: Callable[[Person], float] | None = None) -> Person | None:
        """A random member present from t until `until` (default: to the end) passing `test`, or None.

        By default only members who stay to the end qualify, so a story never writes about someone
        whose departure (death, marriage out, a move) another story has already written.
        """
        found = [m for m in self.present(t, until) if test(m)]
        if not found:
            return None
        if weight is None:
            return found[self.rng.randrange(len(found))]
        return self.rng.choices(found, [weight(m) for m in found])[0]

    def earner(self, t: int = 0) -> Person | None:
        """The member with the highest wage who has the job at t and stays to the end, or None."""
        found = [m for m in self.present(t, END) if m.employed and m.job_end > t]
        return max(found, key=lambda m: (m.income, m.pid)) if found else None

    def departure(self, person: Person, t: int) -> int | None:
        """The time a departure story can use: t, or later than anything already written about the person."""
        if person.last_t >= t:
            t = self.office(person.last_t + DAY)
        return t if t <= END - DAY else None

    def leave(self, person: Person, t: int, *, died: bool = False) -> None:
        """The person dies or moves out at t: no ordinary event is written about them afterwards."""
        person.gone = min(person.gone, t)
        person.job_end = min(person.job_end, t)
        if died:
            self.h.deaths += 1

    def free(self, person: Person) -> bool:
        """Never had a story that ended their membership or their job."""
        return person.gone == FOREVER and person.job_end == FOREVER
