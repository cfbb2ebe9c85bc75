"""Indicators of the expenditure dimension (catalogue §3.4): rigid spending set against household income.

Most values are ratios of a 12-month spending figure to the household's annual income under the 就高原则
(`ctx.annual_income`).  A household with spending but no income has an unbounded burden; it is reported at
`_RATIO_CAP`, far above any threshold yet still a finite number that alerts and tables can store.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from indicators.base import Context, Dimension, Finding, Indicator, declarer
from indicators.common import last_of, ratio
from monitor import payloads as p
from monitor.model import Event

__all__ = ["DECLARED"]

DECLARED: list[Indicator] = []
declare = declarer(DECLARED, Dimension.EXPENDITURE)

_RATIO_CAP = 100.0
_DAYS_PER_MONTH = 365 / 12
_SCHOOL_YEAR_DAYS = 365  # student aid of the last year offsets the (annual) standard education cost
# Stages outside compulsory education (primary and junior school are free).
_NON_COMPULSORY = ("senior", "vocational", "college")
_DEATHS = ("ps_death_registration", "hlth_death_medical_cert")




def _sum_finding(value: float, events: Sequence[Event]) -> Finding:
    """A finding over a sum of events: the latest event is the evidence, the member only if there is one."""
    people = sorted({e.person_id for e in events if e.person_id})
    return Finding(value, people[0] if len(people) == 1 else None, events[-1].event_id if events else None)


def _settlement_oop(events: Iterable[Event]) -> tuple[float, list[Event]]:
    """Total out-of-pocket of settlements (after the triple protection) and the settlements that had any."""
    total, paying = 0.0, []
    for event in events:
        assert isinstance(event.payload, p.MedSettlement)
        if event.payload.oop > 0:
            total += event.payload.oop
            paying.append(event)
    return total, paying


def _medical_oop(ctx: Context, window_days: float) -> tuple[float, list[Event]]:
    """12-month OOP per member, the higher of the summed settlements and the 医保 high-cost list.

    The high-cost list is 医保's own 12-month total of the same settlements, so the two are never added:
    taking the higher one covers settlements that never reached us without counting any twice.
    """
    by_person: dict[str, float] = {}
    evidence: list[Event] = []
    for event in ctx.within("med_settlement", window_days):
        assert isinstance(event.payload, p.MedSettlement)
        if event.payload.oop > 0:
            key = event.person_id or ""
            by_person[key] = by_person.get(key, 0.0) + event.payload.oop
            evidence.append(event)
    listed: dict[str, Event] = {}
    for event in ctx.within("med_high_cost_list", window_days):
        listed[event.person_id or ""] = event  # the latest list entry per member
    for person, event in listed.items():
        assert isinstance(event.payload, p.MedHighCostList)
        if event.payload.oop_12m > by_person.get(person, 0.0):
            by_person[person] = event.payload.oop_12m
            evidence = [e for e in evidence if (e.person_id or "") != person] + [event]
    evidence.sort(key=lambda e: e.key)
    return sum(by_person.values()), evidence


def _students(ctx: Context, cost: float) -> list[tuple[str, float]]:
    """Members in non-compulsory education and the standard cost left after this school year's aid."""
    aid: dict[str, float] = {}
    for event in ctx.within("edu_student_aid", _SCHOOL_YEAR_DAYS):
        assert isinstance(event.payload, p.EduStudentAid)
        if event.person_id:
            aid[event.person_id] = aid.get(event.person_id, 0.0) + event.payload.aid_amount
    return [(m.person_id, max(0.0, cost - aid.get(m.person_id, 0.0))) for m in ctx.members
            if m.student_stage in _NON_COMPULSORY and not m.dropout]




@declare(
    id="exp_medical_oop_ratio", name_zh="医疗自付占收入比", name_en="Medical OOP share of income",
    inputs=("med_settlement", "med_high_cost_list"),
    summary="Medical costs the household paid itself over the past year are large against its income",
)
def exp_medical_oop_ratio(ctx: Context, *, window_days: float) -> Finding | None:
    """12-month OOP / annual income: H at a year's income or more, M from half, L from 30 %."""
    oop, evidence = _medical_oop(ctx, window_days)
    if oop <= 0:
        return None
    return _sum_finding(ratio(oop, ctx.annual_income, _RATIO_CAP), evidence)


@declare(
    id="exp_medical_oop_amount", name_zh="医疗自付金额", name_en="Medical OOP amount",
    inputs=("med_settlement",),
    summary="Medical costs the household paid itself over the past year reached the local warning line",
)
def exp_medical_oop_amount(ctx: Context, *, window_days: float) -> Finding | None:
    """12-month settlement OOP / T, T the low-income line for registered households, else the general one.

    Registered means any assistance category (特困, 低保, 低边, 刚性, 防返贫) or open 防返贫 monitoring.

    H at T or more, M from half of T, L from a quarter.
    """
    oop, evidence = _settlement_oop(ctx.within("med_settlement", window_days))
    if oop <= 0:
        return None
    facts = ctx.facts
    registered = facts.category != "none" or (facts.rrm_type is not None and not facts.rrm_eliminated)
    line = ctx.region.oop_t_low if registered else ctx.region.oop_t_gen
    return _sum_finding(oop / line, evidence)


@declare(
    id="exp_rigid_ratio", name_zh="刚性支出占比", name_en="Rigid-expenditure ratio",
    inputs=("med_settlement", "edu_student_status", "dis_rehab_service", "hs_public_housing",
            "ca_home_visit"),
    summary="Basic living, medical, schooling, rehabilitation and rent costs take most of the income",
)
def exp_rigid_ratio(ctx: Context, *, window_days: float, living_dibao_multiple: float) -> Finding | None:
    """Rigid spending over 12 months / annual income: H from 80 %, M from 60 %, L from 50 %.

    Rigid spending is basic living (the dibao standard for every member), medical OOP, schooling beyond
    compulsory education, rehab OOP and rent.  Only for households under last year's local per-capita
    disposable income and outside 低保, 特困 and 低边, as in the 刚性支出困难 rules (民发〔2024〕57号):
    for a household already covered, basic living alone would read as "rigid spending over 80 %".
    """
    if 12 * ctx.pci >= ctx.region.pcdi_prev or ctx.facts.category in ("dibao", "tekun", "dibian"):
        return None
    living = ctx.size * ctx.region.dibao * 12 * living_dibao_multiple
    medical, _ = _settlement_oop(ctx.within("med_settlement", window_days))
    schooling = sum(cost for _, cost in _students(ctx, ctx.region.education_cost))
    rehab = 0.0
    for event in ctx.within("dis_rehab_service", window_days):
        assert isinstance(event.payload, p.DisRehabService)
        rehab += event.payload.oop
    # The catalogue feeds rent (34, 32) into this ratio, as 刚性支出 rules count housing among living costs.
    rent = 12 * ctx.facts.monthly_rent
    return Finding(ratio(living + medical + schooling + rehab + rent, ctx.annual_income, _RATIO_CAP))


@declare(
    id="exp_medical_surge", name_zh="医疗支出骤增", name_en="Medical spending surge",
    inputs=("med_settlement", "hlth_inpatient_admission"),
    summary="Medical costs the household paid itself lately jumped far above its usual level",
)
def exp_medical_surge(ctx: Context, *, recent_days: float, baseline_days: float) -> Finding | None:
    """Recent OOP / the same span's share of the prior year's OOP: H at 5x or more, M from 3x, L from 2x.

    Applies only once the recent OOP reaches one month of the dibao standard for the whole household, so
    small bills after a quiet year do not read as a surge; a surge from no prior spending is at the cap.
    """
    recent_events = ctx.within("med_settlement", recent_days)
    recent, evidence = _settlement_oop(recent_events)
    if recent < ctx.size * ctx.region.dibao:
        return None
    wider = ctx.within("med_settlement", recent_days + baseline_days)
    prior, _ = _settlement_oop(wider[: len(wider) - len(recent_events)])
    return _sum_finding(ratio(recent, prior * recent_days / baseline_days, _RATIO_CAP), evidence)


@declare(
    id="exp_catastrophic_episode", name_zh="单次灾难性医疗支出", name_en="Catastrophic single episode",
    inputs=("med_settlement",),
    summary="A single medical bill the household paid itself was large against its yearly income",
)
def exp_catastrophic_episode(ctx: Context, *, window_days: float) -> Finding | None:
    """Largest single settlement OOP in the window / annual income: H from 40 %, M from 20 %, L from 10 %."""
    top, largest = None, 0.0
    for event in ctx.within("med_settlement", window_days):
        assert isinstance(event.payload, p.MedSettlement)
        # >= keeps the latest of equal bills: events come in time order.
        if event.payload.oop > 0 and event.payload.oop >= largest:
            top, largest = event, event.payload.oop
    if top is None:
        return None
    return Finding(ratio(largest, ctx.annual_income, _RATIO_CAP), top.person_id, top.event_id)


@declare(
    id="exp_chronic_outpatient_cost", name_zh="门诊慢特病持续支出", name_en="Ongoing chronic outpatient cost",
    inputs=("med_special_outpatient", "med_settlement"),
    summary="Ongoing outpatient costs of chronically ill members take a steady share of monthly income",
)
def exp_chronic_outpatient_cost(ctx: Context, *, months: int) -> Finding | None:
    """Mean monthly outpatient OOP of chronically ill members / monthly income.

    H from 30 %, M from 15 %, L from 8 %.
    """
    chronic = [m.person_id for m in ctx.facts.members.values() if m.chronic or m.outpatient_kind]
    outpatient = []
    for event in ctx.within("med_settlement", months * _DAYS_PER_MONTH):
        assert isinstance(event.payload, p.MedSettlement)
        if not event.payload.inpatient and event.person_id in chronic:
            outpatient.append(event)
    total, evidence = _settlement_oop(outpatient)
    if total <= 0:
        return None
    return _sum_finding(ratio(total / months, ctx.income, _RATIO_CAP), evidence)


@declare(
    id="exp_education_burden", name_zh="教育支出负担", name_en="Education burden",
    inputs=("edu_student_status", "edu_student_aid"),
    summary="Members in school beyond compulsory education bring costs the income strains to meet",
)
def exp_education_burden(ctx: Context, *, ratio_high: float, ratio_mid: float) -> Finding | None:
    """Grades students beyond compulsory school and their standard cost after aid, against income.

    3: two or more students, or a cost of ratio_high of income or more; 2: one student costing ratio_mid
    or more; 1: one student.
    """
    students = _students(ctx, ctx.region.education_cost)
    if not students:
        return None
    share = ratio(sum(cost for _, cost in students), ctx.annual_income, _RATIO_CAP)
    grade = 3 if len(students) >= 2 or share >= ratio_high else 2 if share >= ratio_mid else 1
    records = [e for e in (last_of(ctx, "edu_student_status", s) for s, _ in students) if e is not None]
    latest = max(records, key=lambda e: e.key, default=None)
    return Finding(grade, students[0][0] if len(students) == 1 else None, latest.event_id if latest else None)


@declare(
    id="exp_rehab_care_cost", name_zh="康复护理支出", name_en="Rehab and care cost",
    inputs=("dis_rehab_service", "ca_elderly_capacity", "med_settlement"),
    summary="Rehabilitation, assistive-device and care costs the household paid itself are large",
)
def exp_rehab_care_cost(ctx: Context, *, window_days: float) -> Finding | None:
    """12-month rehab and care OOP / annual income: H from 30 %, M from 15 %, L from 5 %."""
    total, paying = 0.0, []
    for event in ctx.within("dis_rehab_service", window_days):
        assert isinstance(event.payload, p.DisRehabService)
        if event.payload.oop > 0:
            total += event.payload.oop
            paying.append(event)
    if total <= 0:
        return None
    return _sum_finding(ratio(total, ctx.annual_income, _RATIO_CAP), paying)


@declare(
    id="exp_housing_cost", name_zh="住房支出负担", name_en="Housing cost burden",
    inputs=("hs_public_housing", "ca_home_visit"),
    summary="Rent takes a large share of the household's income",
)
def exp_housing_cost(ctx: Context) -> Finding | None:
    """Monthly rent / monthly income: H from 40 %, M from 30 %, L from 20 %."""
    rent = ctx.facts.monthly_rent
    if rent <= 0:
        return None
    sources = []
    for category in ("hs_public_housing", "ca_home_visit"):
        for event in reversed(ctx.within(category, math.inf)):
            if getattr(event.payload, "monthly_rent", None):
                sources.append(event)
                break
    latest = max(sources, key=lambda e: e.key, default=None)
    return Finding(ratio(rent, ctx.income, _RATIO_CAP), None, latest.event_id if latest else None)


@declare(
    id="exp_disaster_rebuild", name_zh="灾后修缮重建支出", name_en="Post-disaster rebuild cost",
    inputs=("em_disaster_loss", "hs_rural_housing_safety"),
    summary="Repairing or rebuilding the home after a disaster costs a large share of a year's income",
)
def exp_disaster_rebuild(ctx: Context, *, window_days: float) -> Finding | None:
    """Estimated rebuild cost / annual income: H at a year's income or more, M from half, L from 20 %.

    Loss reports of one disaster are often revised, so the largest estimate in the window counts, not a sum.
    """
    top, largest = None, 0.0
    for event in ctx.within("em_disaster_loss", window_days):
        assert isinstance(event.payload, p.EmDisasterLoss)
        if event.payload.rebuild_cost > 0 and event.payload.rebuild_cost >= largest:
            top, largest = event, event.payload.rebuild_cost
    if top is None:
        return None
    return Finding(ratio(largest, ctx.annual_income, _RATIO_CAP), None, top.event_id)


@declare(
    id="exp_utility_arrears", name_zh="水电燃气欠费", name_en="Utility arrears",
    inputs=("ut_utility_arrears",),
    summary="The household has fallen behind on water, power or gas bills for consecutive months",
)
def exp_utility_arrears(ctx: Context) -> Finding | None:
    """Consecutive months in arrears: H from 3, M at 2, L at 1."""
    months = ctx.facts.utility_arrears_months
    if months <= 0:
        return None
    latest = ctx.latest("ut_utility_arrears")
    return Finding(months, None, latest.event_id if latest else None)


@declare(
    id="exp_funeral_cost", name_zh="丧葬支出", name_en="Funeral expense",
    inputs=_DEATHS,
    summary="A member died recently and the household's savings may not cover the funeral",
)
def exp_funeral_cost(ctx: Context, *, window_days: float) -> Finding | None:
    """Grades a recent death by the savings left to pay for the funeral.

    3: liquid assets below the local funeral cost (once per death); 2: below twice that cost; 1: otherwise.
    """
    deaths: list[Event] = []
    for category in _DEATHS:
        for event in ctx.within(category, window_days):
            person = ctx.member(event.person_id)
            # Two sources report one death; only the record that set died_at counts.
            if person is not None and person.died_at == event.t:
                deaths.append(event)
    if not deaths:
        return None
    deaths.sort(key=lambda e: e.key)
    cost = ctx.region.funeral_cost * len({e.person_id for e in deaths})
    liquid = ctx.facts.deposits + ctx.facts.financial
    grade = 3 if liquid < cost else 2 if liquid < 2 * cost else 1
    return Finding(grade, deaths[-1].person_id, deaths[-1].event_id)
