"""Indicators of the income dimension (catalogue §3.2): what the household lives on, and how it changes.

Levels come from rules.yaml; the ordinal indicators grade the case themselves (3 = H, 2 = M, 1 = L).
Past income is read from the facts' timelines (recorded as each event was applied) rather than recomputed,
because a later reset (job loss, business closure, custody) hides the figures that were valid before it.
"""

from __future__ import annotations

import datetime as dt
import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from functools import lru_cache

from indicators.base import Context, Dimension, Finding, Indicator, declarer
from monitor import payloads as p
from monitor.household import INCOME_TYPES, WINDOW_12M, MemberState
from monitor.model import DAY, Event, month_of, t_of_date

__all__ = ["DECLARED"]

DECLARED: list[Indicator] = []
declare = declarer(DECLARED, Dimension.INCOME)

_INCOME_FEEDS = ("tax_individual_income", "hr_social_insurance_contrib", "hr_pension_payment",
                 "hr_unemployment_benefit", "hs_provident_fund", "mkt_business_registration",
                 "ca_economic_verification", "ca_home_visit", "ca_self_declaration")
_LEFT_CATEGORIES = ("dibao", "dibian", "tekun", "rrm")
_OBLIGOR_RELATIONS = ("spouse", "child", "grandchild", "parent", "grandparent", "sibling")
# Business-failure grades (catalogue §3.2): the household-income share that makes a closure H, and the
# drop in reported business income that makes M and L.
_CLOSURE_SHARE = 0.5
_DROP_MID, _DROP_LOW = 0.5, 0.3


# --- helpers over the facts' timelines and the event windows ---------------------------------------------

def _events_at(ctx: Context, t: int) -> list[Event]:
    """All applied events at exactly time t, in event-key order."""
    found: list[Event] = []
    for events in ctx.events_by_category.values():
        if not events or events[0].t > t or events[-1].t < t:  # most categories: no need to bisect
            continue
        lo = bisect_left(events, t, key=_time)
        hi = bisect_right(events, t, lo, key=_time)
        found.extend(events[lo:hi])
    return sorted(found, key=_key)


def _time(event: Event) -> int:
    return event.t


def _key(event: Event) -> tuple[int, str]:
    return event.key


def _member_event_at(ctx: Context, t: int, exclude: Sequence[str] = ()) -> Event | None:
    """The first event at time t that is about a member of the household (and not one of `exclude`)."""
    for event in _events_at(ctx, t):
        if event.person_id in ctx.facts.members and event.person_id not in exclude:
            return event
    return None


def _timeline_income(ctx: Context, t: int, *, strictly_before: bool = False) -> float:
    """Household income in force at t (or just before t) according to the income timeline."""
    timeline = ctx.facts.income_timeline
    cut = bisect_left if strictly_before else bisect_right
    i = cut(timeline, t, key=lambda row: row[0])
    return timeline[i - 1][1] if i else 0.0


def _monthly_incomes(ctx: Context, count: int) -> list[float | None]:
    """Household income of the `count` calendar months ending with the month of t, oldest first.

    A month's figure is the income in force at its last event, carried forward over months without events;
    the current month's is the income at t.  None marks months before the household's first record.
    """
    by_month = ctx.facts.monthly_income_by_month
    now = month_of(ctx.t)
    first = now - count + 1
    earlier = max((m for m in by_month if m < first), default=None)
    carry: float | None = by_month[earlier] if earlier is not None else None
    series: list[float | None] = []
    get, append = by_month.get, series.append
    for month in range(first, now + 1):
        carry = get(month, carry)
        append(carry)
    series[-1] = ctx.income
    return series


def _month_start(month: int) -> int:
    return t_of_date(dt.date(month // 12, month % 12 + 1, 1))


@lru_cache(maxsize=1024)
def _month_key(text: str) -> int:
    year, month = (int(x) for x in text.split("-"))
    return year * 12 + month - 1


def _income_by_type(ctx: Context, members: Sequence[MemberState], *kinds: str) -> float:
    return sum(ctx.income_of(m, kind) for m in members for kind in kinds)


# --- the indicators ---------------------------------------------------------------------------------------

@declare(
    id="inc_pc_income_vs_dibao", name_zh="人均收入与低保标准比", name_en="Per-capita income vs dibao",
    inputs=_INCOME_FEEDS,
    summary="The household's per-capita income measured against the local dibao standard",
)
def inc_pc_income_vs_dibao(ctx: Context) -> Finding | None:
    """Value r = per-capita monthly income / dibao (就高原则); the lower r, the higher the level."""
    if not ctx.members:
        return None
    return Finding(ctx.r)


@declare(
    id="inc_pc_income_vs_pcdi", name_zh="人均收入与上年人均可支配收入比",
    name_en="Per-capita income vs last year's disposable income",
    inputs=_INCOME_FEEDS,
    summary="The household's per-capita income against last year's local per-capita disposable income",
)
def inc_pc_income_vs_pcdi(ctx: Context) -> Finding | None:
    """Value 12 x per-capita monthly income / PCDI_prev; the lower, the higher the level."""
    if not ctx.members:
        return None
    return Finding(12.0 * ctx.pci / ctx.region.pcdi_prev)


@declare(
    id="inc_income_drop", name_zh="收入骤减", name_en="Sudden income drop",
    inputs=("tax_individual_income", "hr_social_insurance_contrib", "hr_pension_payment",
            "hr_unemployment_benefit", "mkt_business_registration"),
    summary="The household's income of the last few months fell sharply against the year before",
)
def inc_income_drop(ctx: Context, *, recent_months: int, baseline_months: int) -> Finding | None:
    """Value 1 - mean(recent months) / mean(the baseline months before them); the larger the drop, the higher.

    The evidence is the event at the largest single fall of household income over the whole period.
    """
    series = _monthly_incomes(ctx, recent_months + baseline_months)
    base = [x for x in series[:baseline_months] if x is not None]
    recent = [x for x in series[baseline_months:] if x is not None]
    # A household registered only weeks ago has no baseline to fall from.
    if len(base) < recent_months or not recent:
        return None
    base_mean = statistics.fmean(base)
    if base_mean <= 0:
        return None
    drop = max(0.0, 1.0 - statistics.fmean(recent) / base_mean)
    if drop == 0.0:
        return Finding(drop)
    start = _month_start(month_of(ctx.t) - recent_months - baseline_months + 1)
    timeline = ctx.facts.income_timeline
    steps = [(prev[1] - row[1], row[0]) for prev, row in zip(timeline, timeline[1:], strict=False)
             if start <= row[0] <= ctx.t and row[1] < prev[1]]
    event = _member_event_at(ctx, max(steps)[1]) if steps else None
    return Finding(drop, event.person_id if event else None, event.event_id if event else None)


@declare(
    id="inc_earner_loss", name_zh="有收入成员减少", name_en="Loss of earners",
    inputs=("ps_death_registration", "hlth_death_medical_cert", "hr_unemployment_registration",
            "dis_certificate", "jus_inmate", "ps_hukou_migration", "ca_divorce_registration"),
    summary="The household lost a member who earned a wage or business income",
)
def inc_earner_loss(ctx: Context, *, window_days: float) -> Finding | None:
    """3: no earner is left; 2: the main earner was lost, someone still earns; 1: a secondary earner was lost.

    A loss is a fall in the earner count within the window, attributed to the event at that moment about
    a member who does not earn today (an earner who found work again is no loss).
    """
    start = ctx.t - window_days * DAY
    current = [m.person_id for m in ctx.earners]
    timeline = ctx.facts.earner_timeline
    best: tuple[bool, int, Event] | None = None
    for (_, count_before, top_before), (t, count, _) in zip(timeline, timeline[1:], strict=False):
        if not start < t <= ctx.t or count >= count_before:
            continue
        event = _member_event_at(ctx, t, exclude=current)
        if event is None:
            continue
        candidate = (event.person_id == top_before, t, event)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        return None
    main, _, event = best
    grade = 3 if not current else 2 if main else 1
    return Finding(grade, event.person_id, event.event_id)


@declare(
    id="inc_unstable_wage", name_zh="务工收入占比高且不稳定", name_en="High and unstable wage share",
    inputs=("hr_social_insurance_contrib", "tax_individual_income"),
    summary="The household lives mostly on wages while a wage earner's social insurance keeps lapsing",
)
def inc_unstable_wage(ctx: Context, *, window_days: float) -> Finding | None:
    """Grades the wage share s of income with g, a wage earner's months of lapsed contributions in the window.

    3: s at least 0.8 and g at least 6; 2: s at least 0.7 and g at least 3; 1: s at least 0.5, g at least 2.
    """
    if ctx.income <= 0:
        return None
    unpaid: dict[str, dict[str, Event]] = {}
    paid: dict[str, set[str]] = {}
    for event in ctx.within("hr_social_insurance_contrib", window_days):
        assert isinstance(event.payload, p.HrSocialInsuranceContrib)
        if event.person_id is None:
            continue
        if event.payload.paid:
            paid.setdefault(event.person_id, set()).add(event.payload.month)
        else:
            unpaid.setdefault(event.person_id, {})[event.payload.month] = event
    if not unpaid:  # no lapsed month, so no member can be graded (the loop below would find nothing)
        return None
    share = _income_by_type(ctx, ctx.members, "wage") / ctx.income
    best: Finding | None = None
    for member in ctx.members:
        if ctx.income_of(member, "wage") <= 0 or member.person_id not in unpaid:
            continue
        # A month paid late (a back-payment record) is not a gap.
        settled = paid.get(member.person_id, set())
        gaps = [e for month, e in unpaid[member.person_id].items() if month not in settled]
        g = len(gaps)
        grade = 3 if share >= 0.8 and g >= 6 else 2 if share >= 0.7 and g >= 3 else \
            1 if share >= 0.5 and g >= 2 else 0
        if grade and (best is None or grade > best.value):
            latest = max(gaps, key=lambda e: e.key)
            best = Finding(grade, member.person_id, latest.event_id)
    return best


@declare(
    id="inc_transfer_dependency", name_zh="转移性收入依赖", name_en="Dependence on transfers",
    inputs=("hr_pension_payment", "ca_assistance_status", "dis_two_subsidies", "tax_individual_income"),
    summary="Most of the household's income comes from pensions, benefits and other transfers",
)
def inc_transfer_dependency(ctx: Context) -> Finding | None:
    """Value (transfers + pensions) / household income; the larger, the higher the level.

    Pensions count as transfers, as in the statistical definition of 转移净收入.
    """
    if ctx.income <= 0:
        return None
    return Finding(_income_by_type(ctx, ctx.members, "transfer", "pension") / ctx.income)


@declare(
    id="inc_elderly_basic_pension_only", name_zh="老年户仅靠基础养老金",
    name_en="Elderly household on basic pension only",
    inputs=("ps_household_register", "hr_pension_payment"),
    summary="An all-elderly household without earned income lives on its pensions",
)
def inc_elderly_basic_pension_only(ctx: Context, *, elderly_age: float) -> Finding | None:
    """Value per-capita pension / dibao; the lower, the higher the level.

    Only for a household whose members are all elderly, that receives a pension and has no wage, business
    or property income.
    """
    members = ctx.members
    if not members or any(ctx.age(m) < elderly_age for m in members):
        return None
    pension = _income_by_type(ctx, members, "pension")
    if pension <= 0 or _income_by_type(ctx, members, "wage", "business", "property") > 0:
        return None
    subject = members[0].person_id if len(members) == 1 else None
    return Finding(pension / ctx.size / ctx.region.dibao, subject)


@declare(
    id="inc_volatility", name_zh="收入波动", name_en="Income volatility",
    inputs=("tax_individual_income", "hr_social_insurance_contrib"),
    summary="The household's monthly reported income swings widely from month to month",
)
def inc_volatility(ctx: Context, *, months: float) -> Finding | None:
    """Value: coefficient of variation of the household's monthly reported income; the larger, the higher.

    The 就高原则 figure keeps a year's highest amount, so it cannot show swings: the series is built from the
    monthly tax and contribution records received in the window (per member and month, the larger of the
    taxed income and the paid contribution base; a lapsed month with no tax record counts as zero).
    At least three months are needed.
    """
    days = months * 365.25 / 12
    by_month: dict[str, dict[str, float]] = {}
    for event in ctx.within("tax_individual_income", days):
        assert isinstance(event.payload, p.TaxIndividualIncome)
        if event.person_id is None:
            continue
        amount = sum(getattr(event.payload.incomes, kind) for kind in INCOME_TYPES)
        cell = by_month.setdefault(event.payload.month, {})
        cell[event.person_id] = max(cell.get(event.person_id, 0.0), amount)
    for event in ctx.within("hr_social_insurance_contrib", days):
        assert isinstance(event.payload, p.HrSocialInsuranceContrib)
        if event.person_id is None:
            continue
        base = event.payload.wage_base if event.payload.paid else 0.0
        cell = by_month.setdefault(event.payload.month, {})
        cell[event.person_id] = max(cell.get(event.person_id, 0.0), base)
    series = tuple(sum(by_month[month].values()) for month in sorted(by_month, key=_month_key))
    if len(series) < 3:
        return None
    variation = _variation(series)
    return None if variation is None else Finding(variation)


@lru_cache(maxsize=4096)
def _variation(series: tuple[float, ...]) -> float | None:
    """Coefficient of variation, None unless the mean is positive.

    Memoised on the figures alone (pstdev works in exact fractions and is slow): a household's series is
    the same from one event to the next until a new record or the window's edge changes it.
    """
    mean = statistics.fmean(series)
    if mean <= 0:
        return None
    return statistics.pstdev(series) / mean


@declare(
    id="inc_business_failure", name_zh="经营收入中断", name_en="Business income interruption",
    inputs=("mkt_business_registration", "tax_individual_income"),
    summary="A member's business closed, was flagged abnormal, or reports much less income",
)
def inc_business_failure(ctx: Context, *, window_days: float) -> Finding | None:
    """3: a closure that cut half the income; 2: another closure, abnormal, or a halved income; 1: a fall.

    3: a business carrying at least half the household income was deregistered in the window.  2: a business
    was deregistered or flagged abnormal in the window (and still is), or its reported income fell by at least
    half.  1: its reported income fell by 30-50 %.  A fall compares the latest business-income report in the
    window with the latest one before the window.
    """
    best: Finding | None = None

    def consider(grade: int, event: Event) -> None:
        nonlocal best
        if grade and (best is None or grade > best.value):
            best = Finding(grade, event.person_id, event.event_id)

    for event in ctx.within("mkt_business_registration", window_days):
        assert isinstance(event.payload, p.MktBusinessRegistration)
        member = ctx.member(event.person_id)
        status = event.payload.status
        if member is None or status == "active" or member.business_status != status:
            continue
        if status == "deregistered":
            before = _timeline_income(ctx, event.t, strictly_before=True)
            lost = before - _timeline_income(ctx, event.t)
            consider(3 if before > 0 and lost >= _CLOSURE_SHARE * before else 2, event)
        else:
            consider(2, event)
    start = ctx.t - window_days * DAY
    # Reports up to a year before the window give the reference figure a fall is measured against.
    reports: dict[str, list[tuple[float, Event]]] = {}
    for event in ctx.within("mkt_business_registration", window_days + 365):
        assert isinstance(event.payload, p.MktBusinessRegistration)
        if event.person_id and event.payload.monthly_business_income is not None:
            reports.setdefault(event.person_id, []).append((event.payload.monthly_business_income, event))
    for event in ctx.within("tax_individual_income", window_days + 365):
        assert isinstance(event.payload, p.TaxIndividualIncome)
        if event.person_id and event.payload.incomes.business > 0:
            reports.setdefault(event.person_id, []).append((event.payload.incomes.business, event))
    for rows in reports.values():
        rows.sort(key=lambda row: row[1].key)
        earlier = [amount for amount, e in rows if e.t <= start]
        amount, latest = rows[-1]
        if not earlier or earlier[-1] <= 0 or latest.t <= start:
            continue
        drop = 1.0 - amount / earlier[-1]
        consider(2 if drop >= _DROP_MID else 1 if drop >= _DROP_LOW else 0, latest)
    return best


@declare(
    id="inc_post_exit_relapse", name_zh="退出救助后收入回落", name_en="Relapse after leaving assistance",
    inputs=("ca_assistance_status", *_INCOME_FEEDS),
    summary="The household left an assistance category within the past year and its income is low again",
)
def inc_post_exit_relapse(ctx: Context, *, window_days: float, r_high: float, r_mid: float) -> Finding | None:
    """3: r under r_high after an exit in the window; 2: r under r_mid; 1: the exit alone.

    An exit is the end of 低保, 低边, 特困 or 防返贫 monitoring; a household back in 低保 or 特困 is covered.
    """
    if ctx.facts.category in ("dibao", "tekun"):
        return None
    for event in reversed(ctx.within("ca_assistance_status", window_days)):
        assert isinstance(event.payload, p.CaAssistanceStatus)
        category = event.payload.category
        # Only an end that actually closed the household's category counts as an exit.
        if event.payload.status == "end" and category in _LEFT_CATEGORIES \
                and ctx.facts.category_left.get(category) == event.t:
            grade = 3 if ctx.r < r_high else 2 if ctx.r < r_mid else 1
            return Finding(grade, None, event.event_id)
    return None


@declare(
    id="inc_support_obligor_gap", name_zh="赡养/抚养义务人支持不足",
    name_en="Weak support from legal supporters",
    inputs=("ps_household_register", "ca_economic_verification", "tax_individual_income"),
    summary="A household with nobody able to work has no legal supporter, or only one with a low income",
)
def inc_support_obligor_gap(ctx: Context, *, supporter_r: float) -> Finding | None:
    """3: no legal supporter known; 2: supporters earn under supporter_r x dibao; 1: their income unknown.

    Only for a household (not 特困) under the 低边 line (r below edge_mult) in which no present member is of
    working age and able to work.  Supporters are living working-age relatives who moved out of the
    household; 2 takes the best-off one.
    """
    if ctx.facts.category == "tekun" or not ctx.members or ctx.r >= ctx.region.edge_mult:
        return None
    if any(m.work_capable and ctx.working_age(m) for m in ctx.members):
        return None
    supporters = [m for m in ctx.facts.members.values()
                  if not m.present(ctx.t) and m.died_at is None and m.left_at is not None
                  and m.relation in _OBLIGOR_RELATIONS and ctx.working_age(m)]
    if not supporters:
        return Finding(3, ctx.members[0].person_id if len(ctx.members) == 1 else None)
    known: list[tuple[float, str]] = []
    for m in supporters:
        # Registry baselines never go stale; any other figure counts for twelve months (就高原则 window).
        fresh = [src for kind in INCOME_TYPES for src in m.incomes.get(kind, ())
                 if src.t <= ctx.t and (src.kind == "baseline" or src.t > ctx.t - WINDOW_12M)]
        if fresh:
            income = sum(ctx.income_of(m, kind) for kind in INCOME_TYPES)
            known.append((income / ctx.region.dibao, m.person_id))
    if not known:
        return Finding(1, min(m.person_id for m in supporters))
    best_r, person_id = max(known)
    return None if best_r >= supporter_r else Finding(2, person_id)
