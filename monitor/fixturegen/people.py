"""Household members and their resident ID numbers.

Every person gets a GB 11643 ID whose region, birth date and sex digit agree with the member record.
IDs are unique across the whole generated population: `IdAllocator` hands out the 500 sequence numbers
per (region, birth date, sex) in a fixed scrambled order and moves to the next day in the rare case
that a day is full, so uniqueness never depends on luck and costs a 2.7 MB counter table.
"""

from __future__ import annotations

import datetime as dt
import random
from array import array

from monitor import idnumber
from monitor.fixturegen.clock import AS_OF
from monitor.fixturegen.regions import REGIONS, Region

__all__ = ["FOREVER", "IdAllocator", "Person", "age_at", "born_aged", "draw_disability"]

FOREVER = 1 << 40
_FIRST = dt.date(1900, 1, 1).toordinal()
_NDAYS = dt.date(2026, 1, 1).toordinal() - _FIRST
_SLOTS = 500                      # sequence numbers per (region, day, sex): 000..999 split by parity


class Person:
    """One member while the story of the household is written.  Times are fixture seconds (clock.py)."""

    __slots__ = ("age", "born", "chronic", "disability", "employed", "gone", "in_registry", "income", "job_end",
                 "last_t", "pension_scheme", "pid", "relation", "sex", "work_capable")

    def __init__(self, pid: str, relation: str, born: dt.date, sex: str, *, in_registry: bool = True) -> None:
        self.pid, self.relation, self.born, self.sex = pid, relation, born, sex
        self.age = age_at(born, AS_OF)          # whole years on the registry date
        self.in_registry = in_registry
        self.work_capable = False
        self.employed = False
        self.income = 0.0                       # monthly, yuan
        self.pension_scheme: str | None = None  # "basic_resident" | "employee" for pensioners
        self.disability: tuple[str, int] | None = None
        self.chronic = False
        self.gone = FOREVER                     # died or left the household at this time
        self.job_end = FOREVER                  # lost the job (or died) at this time
        self.last_t = -1                        # latest event about this person so far

    def alive_through(self, t: int) -> bool:
        """Still a member (alive, not moved out) at time t."""
        return t < self.gone

    def to_record(self) -> dict[str, object]:
        """The member object of contract §3.1, keys in contract order."""
        return {
            "person_id": self.pid, "relation": self.relation, "birth_date": self.born.isoformat(),
            "sex": self.sex, "work_capable": self.work_capable, "employed": self.employed,
            "monthly_income": self.income,
            "disability": None if self.disability is None else
            {"category": self.disability[0], "grade": self.disability[1]},
            "chronic": self.chronic,
        }


def age_at(born: dt.date, when: dt.date) -> int:
    """Whole years between two dates."""
    return when.year - born.year - ((when.month, when.day) < (born.month, born.day))


class IdAllocator:
    """Unique, valid ID numbers for the whole run (deterministic in the order of requests)."""

    def __init__(self) -> None:
        self._next = array("H", bytes(2 * len(REGIONS) * _NDAYS * 2))

    def new(self, region: Region, born: dt.date, sex: str) -> tuple[str, dt.date]:
        """An unused ID for someone of this sex born on `born` (or the next day with a free number)."""
        ordinal = born.toordinal()
        while True:
            cell = ((region.index * _NDAYS) + (ordinal - _FIRST)) * 2 + (sex == "M")
            used = self._next[cell]
            if used < _SLOTS:
                self._next[cell] = used + 1
                break
            ordinal += 1
        day = dt.date.fromordinal(ordinal)
        slot = (used * 173 + 37 * region.index + 11) % _SLOTS     # a bijection of 0..499
        return idnumber.make(region.code, day, 2 * slot + (sex == "M"), sex), day

    def person(self, region: Region, born: dt.date, sex: str, relation: str, *,
               in_registry: bool = True) -> Person:
        """A new member with a fresh ID."""
        pid, day = self.new(region, born, sex)
        return Person(pid, relation, day, sex, in_registry=in_registry)


def born_aged(rng: random.Random, age: int) -> dt.date:
    """A birth date giving this age (in whole years) on the registry date."""
    return dt.date.fromordinal(AS_OF.toordinal() - age * 365 - age // 4 - 1 - rng.randrange(364))


_DIS_CATEGORIES = ("physical", "hearing", "visual", "intellectual", "mental", "multiple", "speech")
_DIS_WEIGHTS = (35, 15, 12, 12, 12, 11, 3)
_GRADES = (1, 2, 3, 4)
_GRADE_WEIGHTS = (12, 23, 30, 35)


def draw_disability(rng: random.Random) -> tuple[str, int]:
    """A disability category and grade (1 most severe) in roughly the national mix."""
    return (rng.choices(_DIS_CATEGORIES, _DIS_WEIGHTS)[0], rng.choices(_GRADES, _GRADE_WEIGHTS)[0])

