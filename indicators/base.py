"""What an indicator is: a declaration (id, dimension, names, inputs, summary) plus a small pure function.

The function reads a `Context` (the household as of one moment of event time) and returns a
`Finding` (a number, and optionally the member and event it is about) or None.  It never decides
the level: the L/M/H thresholds, the weight and any extra parameters live in rules.yaml, so an
operator changes them without touching code.  `Registry.add` checks every declaration at import time.
"""

from __future__ import annotations

import inspect
import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, Generic, TypeVar, overload

from msgspec import Struct

from monitor.categories import CATEGORIES, Family
from monitor.household import INCOME_TYPES, HouseholdFacts, IncomeRows, MemberState
from monitor.model import DAY, Event

__all__ = [
    "AWAY", "Context", "Dimension", "Finding", "Indicator", "IndicatorFn", "Level", "Region", "Registry", "declarer",
]


class Dimension(StrEnum):
    """The six dimensions of catalogue §3.1."""

    INCOME = "income"
    ASSETS = "assets"
    EXPENDITURE = "expenditure"
    HEALTH_DISABILITY = "health_disability"
    EMPLOYMENT = "employment"
    FAMILY_EVENTS = "family_events"


class Level(IntEnum):
    """Indicator level; anything below L is NONE."""

    NONE = 0
    L = 1
    M = 2
    H = 3


class Finding(Struct, frozen=True):
    """What an indicator saw: its value, and the member and event behind it when there is one.

    A frozen msgspec Struct rather than a frozen dataclass: every scoring creates a dozen of these, and a
    frozen dataclass sets each field through object.__setattr__ (0.67 us a Finding against 0.06 us).
    """

    value: float
    subject: str | None = None
    evidence: str | None = None


@dataclass(frozen=True, slots=True)
class Region:
    """Region parameters (catalogue §3.1), resolved from rules.yaml for one household."""

    code: str
    dibao: float
    edge_mult: float
    pcdi_prev: float
    oop_t_low: float
    oop_t_gen: float
    funeral_cost: float
    education_cost: float
    working_age_min: int
    working_age_max: int
    severe_includes_grade3_mental: bool


_T = TypeVar("_T")


class memoised(Generic[_T]):  # noqa: N801 - used as a decorator, like the property it stands for
    """`functools.cached_property` without its lock: the value is worked out once and kept on the instance.

    Python 3.11's cached_property takes an RLock on every first access, which costs more than most of the
    values memoised here; a context is built and read by one thread, so the lock protects nothing.
    """

    def __init__(self, fn: Callable[[Any], _T]) -> None:
        self._fn = fn
        self._name = fn.__name__
        self.__doc__ = fn.__doc__

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> memoised[_T]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> _T: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> memoised[_T] | _T:
        if obj is None:
            return self
        # Stored under the same name, so later reads find it in the instance dict and never come back here.
        value = obj.__dict__[self._name] = self._fn(obj)
        return value


@dataclass(frozen=True)
class Context:
    """A household as of time `t`: its facts, its applied events by category, its region.

    A context is built for one scoring and the facts are not changed while it is read, so what it derives
    from them at t (members, incomes, ages, earners) is worked out once and memoised on the context itself:
    nothing outlives it or is shared with another t.
    """

    facts: HouseholdFacts
    events_by_category: Mapping[str, Sequence[Event]]
    t: int
    region: Region
    trigger: Event | None = None
    # What `advance` returned for this very t and these very facts, if the caller has it (see __post_init__).
    known_incomes: IncomeRows | None = field(default=None, repr=False, compare=False)
    # person_id -> the member's figure of each income type at t (INCOME_TYPES order) and their total.
    _incomes: IncomeRows = field(default_factory=dict, init=False, repr=False, compare=False)
    # birth day -> age at t.
    _ages: dict[int, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Rows are computed by the same MemberState.incomes_at, at the same t, over the same facts: taking them
        # saves working them out again.  Copied, so the memo below never writes into the caller's dict.
        if self.known_incomes:
            self._incomes.update(self.known_incomes)

    def within(self, category: str, days: float) -> Sequence[Event]:
        """Events of one category with t - days < event time <= t (the window is in event time)."""
        events = self.events_by_category.get(category, ())
        if not events:
            return ()
        t = self.t
        # Bisect only when needed: usually every event is at or before t, and often all are in the window.
        hi = len(events) if events[-1].t <= t else bisect_right(events, t, key=_time)
        if days == math.inf or not hi:
            return events[:hi]
        start = t - days * DAY
        lo = 0 if events[0].t > start else bisect_right(events, start, 0, hi, key=_time)
        return events[lo:hi]

    def latest(self, category: str) -> Event | None:
        """The most recent event of one category at or before t."""
        events = self.events_by_category.get(category, ())
        if not events:
            return None
        last = events[-1]
        if last.t <= self.t:  # the usual case: nothing after t to skip
            return last
        hi = bisect_right(events, self.t, key=_time)
        return events[hi - 1] if hi else None

    @memoised
    def members(self) -> list[MemberState]:
        """Members alive and in the household at t."""
        return self.facts.present_members(self.t)

    @memoised
    def at_home(self) -> list[MemberState]:
        """Present members not held in custody or prison: only they can earn for or look after the others.

        Several employment and family indicators start from this list, so it is worked out once.
        """
        return [m for m in self.members if m.custody not in AWAY]

    @memoised
    def size(self) -> int:
        """Number of members present (at least 1, so per-capita figures stay finite)."""
        return max(1, len(self.members))

    @memoised
    def income(self) -> float:
        """Household monthly income at t under the 就高原则."""
        at, income = self.facts.income_now
        if at == self.t:  # advance() has just computed it for this very moment
            return income
        # MemberState.monthly_income, member by member and in the same order as HouseholdFacts.household_income.
        t = self.t
        return sum(self._income_row(m)[1] if m.present(t) else 0.0 for m in self.facts.members.values())

    @memoised
    def annual_income(self) -> float:
        """Twelve times the monthly income."""
        return 12.0 * self.income

    @memoised
    def pci(self) -> float:
        """Per-capita monthly income."""
        return self.income / self.size

    @memoised
    def r(self) -> float:
        """Per-capita income as a multiple of the region's dibao standard."""
        return self.pci / self.region.dibao

    def _income_row(self, member: MemberState) -> tuple[tuple[float, ...], float]:
        row = self._incomes.get(member.person_id)
        if row is None:
            by_type = member.incomes_at(self.t)
            row = self._incomes[member.person_id] = (by_type, sum(by_type))
        return row

    def income_of(self, member: MemberState, kind: str) -> float:
        """`member.income_of(kind, t)`: the member's 就高原则 figure of one income type at t."""
        return self._income_row(member)[0][_INCOME_INDEX[kind]]

    def monthly_income(self, member: MemberState) -> float:
        """A present member's total monthly income at t (`MemberState.monthly_income`)."""
        return self._income_row(member)[1] if member.present(self.t) else 0.0

    def age(self, member: MemberState) -> int:
        """Age of a member at t."""
        age = self._ages.get(member.birth_day)
        if age is None:
            age = self._ages[member.birth_day] = member.age(self.t)
        return age

    def working_age(self, member: MemberState) -> bool:
        """16-59 unless the region says otherwise."""
        return self.region.working_age_min <= self.age(member) <= self.region.working_age_max

    @memoised
    def earners(self) -> list[MemberState]:
        """Present members with wage or business income, highest first (`HouseholdFacts.earners` at t)."""
        found = [m for m in self.members if self.earns(m)]
        return sorted(found, key=lambda m: (-self._income_row(m)[1], m.person_id))

    def earns(self, member: MemberState) -> bool:
        """Whether the member has a wage or business income at t."""
        by_type = self._income_row(member)[0]
        return by_type[_WAGE] + by_type[_BUSINESS] > 0

    def is_main_earner(self, member: MemberState) -> bool:
        """The top earner at t (or, for someone who has died or left, just before)."""
        if member.present(self.t):
            return bool(self.earners) and self.earners[0].person_id == member.person_id
        gone_at = min(x for x in (member.died_at, member.left_at) if x is not None)
        before = self.facts.earners(gone_at - 1)
        return bool(before) and before[0].person_id == member.person_id

    def member(self, person_id: str | None) -> MemberState | None:
        """A member by id, present or not."""
        return self.facts.members.get(person_id) if person_id else None


# Custody statuses that take a member away from home: they neither earn for nor look after the others.
AWAY = ("in_custody", "prison")
_INCOME_INDEX = {kind: i for i, kind in enumerate(INCOME_TYPES)}
_WAGE, _BUSINESS = _INCOME_INDEX["wage"], _INCOME_INDEX["business"]


def _time(event: Event) -> int:
    return event.t


IndicatorFn = Callable[..., Finding | None]


@dataclass(frozen=True)
class Indicator:
    """One of the 67 indicators: its declaration and its function."""

    id: str
    dimension: Dimension
    name_zh: str
    name_en: str
    inputs: frozenset[str]
    summary: str
    fn: IndicatorFn
    headline: Family | None = None
    params: tuple[str, ...] = ()

    @property
    def whole_params(self) -> frozenset[str]:
        """The params annotated `int`, counts of months.

        rules.yaml must give whole numbers for them, and they arrive as ints; the others are annotated `float`
        (`Registry.add` checks).
        """
        parameters = inspect.signature(self.fn).parameters
        return frozenset(name for name in self.params if _param_kind(parameters[name]) == "int")

    def evaluate(self, ctx: Context, params: Mapping[str, Any]) -> Finding | None:
        """Run the function with its parameters from rules.yaml (exactly `self.params`, checked on load)."""
        return self.fn(ctx, **params)


@dataclass
class Registry:
    """The one indicator registry: ids unique, dimensions known, inputs real categories."""

    _by_id: dict[str, Indicator] = field(default_factory=dict)

    def add(self, ind: Indicator) -> None:
        """Register one indicator; raises ValueError on any inconsistency, at import time."""
        if ind.id in self._by_id:
            msg = f"duplicate indicator id '{ind.id}'"
            raise ValueError(msg)
        unknown = sorted(ind.inputs - CATEGORIES.keys())
        if unknown:
            msg = f"indicator '{ind.id}': unknown input categories {unknown}"
            raise ValueError(msg)
        signature = inspect.signature(ind.fn)
        kw_only = [n for n, prm in signature.parameters.items() if prm.kind is prm.KEYWORD_ONLY]
        if tuple(kw_only) != ind.params:
            msg = f"indicator '{ind.id}': keyword-only parameters {kw_only} differ from params {ind.params}"
            raise ValueError(msg)
        if any(_param_kind(signature.parameters[n]) is None for n in kw_only):
            msg = f"indicator '{ind.id}': params must be annotated int or float"
            raise ValueError(msg)
        self._by_id[ind.id] = ind

    def __iter__(self) -> Iterator[Indicator]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __getitem__(self, indicator_id: str) -> Indicator:
        return self._by_id[indicator_id]

    def __contains__(self, indicator_id: object) -> bool:
        return indicator_id in self._by_id

    def ids(self) -> list[str]:
        """All ids, in registration order."""
        return list(self._by_id)


def _param_kind(parameter: inspect.Parameter) -> str | None:
    # A string under `from __future__ import annotations` (every indicator module), else the type itself.
    annotation = parameter.annotation
    kind = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return kind if kind in ("int", "float") else None


def declarer(
    target: list[Indicator], dimension: Dimension
) -> Callable[..., Callable[[IndicatorFn], IndicatorFn]]:
    """A decorator factory for one dimension module: `@declare(id=..., ...)` appends to `target`.

    The function's keyword-only parameters are the indicator's params, read from rules.yaml.
    """

    def declare(
        *, id: str, name_zh: str, name_en: str, inputs: Iterable[str], summary: str,  # noqa: A002
        headline: Family | None = None,
    ) -> Callable[[IndicatorFn], IndicatorFn]:
        def register(fn: IndicatorFn) -> IndicatorFn:
            params = tuple(n for n, prm in inspect.signature(fn).parameters.items()
                           if prm.kind is prm.KEYWORD_ONLY)
            target.append(Indicator(id=id, dimension=dimension, name_zh=name_zh, name_en=name_en,
                                    inputs=frozenset(inputs), summary=summary, fn=fn, headline=headline,
                                    params=params))
            return fn

        return register

    return declare
